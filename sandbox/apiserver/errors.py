"""Kubernetes `Status` errors: the emulator's handlers use the shared definitions in sandbox/machinery/errors.py."""

from __future__ import annotations

from ..machinery.errors import (  # noqa: F401 - the emulator's modules import them from here
    REASONS,
    ApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    method_not_allowed,
    not_found,
    status,
    success,
)
