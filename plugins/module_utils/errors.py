# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's errors and one readable line for every error the Kubernetes client can raise.

``K8sError`` is the root of every error the collection reports to the user (a module turns it into
``fail_json(msg=...)``): the Kubernetes ones, the waits' ``WaitTimeout`` and ``WaitFailed`` (with the kinds'
own ``SeldonError`` and ``ArgoError``), ``S3Error`` (s3.py) and ``PredictError`` (predict.py). Code tells
them apart by class, never by comparing ``reason`` strings; ``reason`` is what the module returns.
"""

from __future__ import annotations

import json
import re

from ansible_collections.mlops.k8s.plugins.module_utils.text import one_line


class K8sError(Exception):
    """A user-facing error: ``msg`` is one line fit for fail_json, ``status`` the HTTP code if any."""

    def __init__(self, msg, status=None, reason=None, details=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.reason = reason
        self.details = details or {}

    def __str__(self):
        return self.msg


class ApiStatusError(Exception):
    """An HTTP error status from the API server (transport.py): ``status``, ``reason`` and the response ``body``
    (usually a Status object). to_k8s_error gives it one readable line."""

    def __init__(self, status, reason=None, body=None):
        super().__init__("%s %s" % (status, reason or ""))
        self.status = status
        self.reason = reason
        self.body = body


class TransportError(OSError):
    """A request that could not be completed once its retries were spent (http_pool.py): the ``url`` and the last
    failure, ``reason`` (an OSError, a timeout, an SSL or HTTP protocol error)."""

    def __init__(self, url, reason):
        super().__init__("%s: %s" % (url, reason))
        self.url = url
        self.reason = reason


class WaitTimeout(K8sError):
    """A wait ran out of time; ``msg`` says what was last seen. Returned to the user as reason Timeout."""

    def __init__(self, msg, status=None, reason="Timeout", details=None):
        super().__init__(msg, status=status, reason=reason, details=details)


class WaitFailed(K8sError):
    """A wait gave up early because the object can no longer get there (a failed state, a lost volume...).
    Returned to the user as reason Failed."""

    def __init__(self, msg, status=None, reason="Failed", details=None):
        super().__init__(msg, status=status, reason=reason, details=details)


def describe_shape(value):
    """What a bad item looks like without its values (which may be secrets): its keys, or its type."""
    if isinstance(value, dict):
        return "a mapping with keys %s" % (", ".join(sorted(str(k) for k in value)) or "none")
    return "a %s" % type(value).__name__


def ref(kind=None, namespace=None, name=None):
    """``Kind ns/name`` (or ``Kind name`` for cluster objects, ``Kind`` alone without a name)."""
    parts = ["%s" % (kind or "object")]
    if name:
        parts.append("%s/%s" % (namespace, name) if namespace else "%s" % name)
    elif namespace:
        parts.append("in namespace %s" % namespace)
    return " ".join(parts)


def obj_ref(obj):
    """ref() of a manifest dict."""
    meta = (obj or {}).get("metadata") or {}
    return ref(obj.get("kind"), meta.get("namespace"), meta.get("name") or meta.get("generateName"))


def _status_body(exc):
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            return None, body.strip()
        if isinstance(parsed, dict):
            return parsed, None
    return None, None


def _causes(status):
    details = status.get("details") or {}
    out = []
    for cause in details.get("causes") or []:
        field = cause.get("field")
        message = cause.get("message") or cause.get("reason") or ""
        out.append("%s: %s" % (field, message) if field else message)
    return out


def describe_api_error(exc, what=None):
    """Format an ApiException / DynamicApiError as ``<what>: <code> <Reason>: <message> (causes: ...)``."""
    status_code = getattr(exc, "status", None)
    status, raw = _status_body(exc)
    reason = None
    message = None
    causes = []
    if status:
        reason = status.get("reason")
        message = status.get("message")
        causes = _causes(status)
    if not reason:
        reason = getattr(exc, "reason", None)
    if not message:
        message = raw
    text = "%s" % status_code if status_code is not None else "API error"
    if reason:
        text += " %s" % reason
    if message:
        text += ": %s" % " ".join(str(message).split())
    causes = [c for c in causes if c and c != message]
    if causes:
        text += " (causes: %s)" % "; ".join(causes)
    text += webhook_hint(message or "")
    return "%s: %s" % (what, text) if what else text


_WEBHOOK_CALL = re.compile(r'failed calling webhook "([^"]+)": failed to call webhook: Post "([^"]+)": (.*)')
_CONVERSION = re.compile(r"conversion webhook for (\S+), Kind=(\S+) failed")
_NO_ENDPOINTS = re.compile(r'no endpoints available for service "([^"]+)"|service "([^"]+)" not found')


def webhook_hint(message):
    """Plain words for the API server's webhook failures (an admission webhook or a CRD conversion webhook that
    could not be called): which webhook, and what usually causes it."""
    called = _WEBHOOK_CALL.search(message)
    conversion = _CONVERSION.search(message)
    if not called and not conversion:
        return ""
    what = ("the admission webhook %s" % called.group(1) if called else
            "the conversion webhook of %s (%s)" % (conversion.group(2), conversion.group(1)))
    if "context deadline exceeded" in message or "Client.Timeout" in message:
        return (" (%s did not answer within its timeout: the pod that serves it is overloaded or hung; the write "
                "was refused, retry once it answers)" % what)
    missing = _NO_ENDPOINTS.search(message)
    if missing:
        return (" (no running pod serves %s: Service %s has no ready endpoints. Is the component that registered it "
                "running? A webhook left behind by an uninstalled component blocks these writes until its "
                "configuration is deleted)" % (what, missing.group(1) or missing.group(2)))
    if "x509" in message or "tls:" in message:
        return (" (%s serves a certificate its caBundle does not trust: the CA is not injected yet, or is stale)"
                % what)
    return " (%s could not be called)" % what


def _is_instance(exc, module, names):
    """isinstance by class name, so this module needs no import of the client libraries."""
    return any(k.__module__.startswith(module) and k.__name__ in names for k in type(exc).__mro__)


def to_k8s_error(exc, what=None):  # noqa: PLR0911 - one return per family of errors
    """Translate any exception raised while talking to the API into a K8sError with one readable line."""
    if isinstance(exc, K8sError):
        return exc
    prefix = "%s: " % what if what else ""
    if _is_instance(exc, "kubernetes", ("ApiException",)) and not getattr(exc, "status", None):
        return K8sError("%scannot reach the Kubernetes API: %s" % (prefix, _one_line(getattr(exc, "reason", exc))))
    if isinstance(exc, ApiStatusError) or _is_instance(exc, "kubernetes", ("ApiException",)):
        status, _raw = _status_body(exc)
        return K8sError(
            describe_api_error(exc, what),
            status=getattr(exc, "status", None),
            reason=(status or {}).get("reason") or getattr(exc, "reason", None),
            details=(status or {}).get("details"),
        )
    if _is_instance(exc, "kubernetes", ("ResourceNotFoundError",)):
        return K8sError("%s%s" % (prefix, exc), status=404, reason="ResourceNotFound")
    if _is_instance(exc, "kubernetes", ("ConfigException",)):
        return K8sError("%sinvalid Kubernetes configuration: %s" % (prefix, exc))
    if isinstance(exc, TransportError) or _is_instance(exc, "urllib3", ("MaxRetryError",)):
        inner = getattr(exc, "reason", None) or exc
        url = getattr(exc, "url", None)
        return K8sError(
            "%scannot reach the Kubernetes API%s: %s%s"
            % (prefix, " (%s)" % url if url else "", _one_line(inner), _timeout_hint(inner))
        )
    if (_is_instance(exc, "urllib3", ("HTTPError",)) or _is_instance(exc, "http.client", ("HTTPException",))
            or isinstance(exc, (OSError, ConnectionError))):
        return K8sError("%scannot reach the Kubernetes API: %s%s" % (prefix, _one_line(exc), _timeout_hint(exc)))
    return K8sError("%s%s: %s" % (prefix, type(exc).__name__, _one_line(exc)))


def _timeout_hint(exc):
    """A hint for a request that timed out (the server accepted the connection, or not, and did not answer)."""
    if _is_instance(exc, "urllib3", ("NewConnectionError",)):  # a refused connection (a subclass, for history)
        return ""
    if _is_instance(exc, "urllib3", ("TimeoutError",)) or isinstance(exc, TimeoutError):
        return (" (no answer within the request timeout; set request_timeout or K8S_AUTH_REQUEST_TIMEOUT if the API "
                "server is just slow)")
    return ""


def _one_line(exc):
    """An exception (or any value) on one line; an exception without a message by its class name."""
    return one_line(str(exc) or type(exc).__name__)
