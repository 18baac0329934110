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
