"""Fixtures for the sandbox Seldon operator tests; helpers and fixtures live in seldon_helpers.py (a module
name of this directory's own: test modules import from there, never from `conftest`)."""

from seldon_helpers import iris_model, iris_uri, model_ns, s3, seldon_crd, seldon_operator  # noqa: F401
