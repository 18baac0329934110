"""What the API server and its clients share (like k8s.io/apimachinery): the `Status` body of an error and the
exception that carries it, raised by the server's handlers and by the sandbox's API clients alike."""

from __future__ import annotations

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Gone", 413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
}


def status(code: int, message: str, reason: str | None = None, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason if reason is not None else REASONS.get(code, ""), "code": code}
    if not body["reason"]:  # omitempty
        del body["reason"]
    if details is not None:  # kube-apiserver sends "details": {} for some errors (405, 415, unknown resource)
        body["details"] = details
    return body


def success(details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """Raised anywhere in request handling; rendered as a Status body with `code`."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.body = status(code, message, reason, details)


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
