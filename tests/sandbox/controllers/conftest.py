"""Fixtures for the controller / S3 / gateway / faults tests (the session `sandbox` comes from the plugin).

The helpers live in ctrl_helpers.py, a module name of this directory's own: test modules import them from there,
never from `conftest`, which another test directory also has.
"""

from ctrl_helpers import fresh_ns, kube  # noqa: F401  (fixtures, registered by being imported here)
