"""Fixtures for the sandbox Argo Workflows tests; helpers and fixtures live in argo_helpers.py (test modules import
from there, never from `conftest`)."""

from argo_helpers import argo_controller, argo_crds, argo_ns  # noqa: F401
