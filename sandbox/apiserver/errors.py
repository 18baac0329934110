"""Kubernetes `Status` objects and the exception that carries them to the HTTP layer."""

from __future__ import annotations

from ..machinery.errors import REASONS, ApiError, status, success  # noqa: F401 - re-exported


def _details(kind_plural: str, group: str, name: str | None) -> dict:
    d = {"kind": kind_plural}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, f'{_qualified(resource, group)} "{name}" not found', "NotFound",
                    _details(resource, group, name))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, f'{_qualified(resource, group)} "{name}" already exists', "AlreadyExists",
                    _details(resource, group, name))


def conflict(resource: str, group: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                    "Conflict", _details(resource, group, name))


def invalid(kind: str, group: str, name: str, causes: list[dict]) -> ApiError:
    summary = ", ".join(
        f"{c.get('field', '')}: {c.get('message', '')}" if c.get("field") else c.get("message", "") for c in causes)
    if len(causes) > 1:
        summary = "[" + summary + "]"
    details = {"name": name, "kind": kind, "causes": causes} if name else {"kind": kind, "causes": causes}
    if group:
        details["group"] = group
    return ApiError(422, f'{kind}.{group} "{name}" is invalid: {summary}' if group
                    else f'{kind} "{name}" is invalid: {summary}', "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def forbidden(message: str, resource: str = "", group: str = "", name: str = "") -> ApiError:
    return ApiError(403, message, "Forbidden", _details(resource, group, name) if resource else None)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource"):
    return ApiError(405, message, "MethodNotAllowed", {})
