"""Dynamic admission: Mutating/ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1) and the calls to
the webhooks they register, as kube-apiserver's webhook admission plugins make them.

Order (as kube-apiserver): mutating webhooks (configurations sorted by name, webhooks in order; JSONPatch
responses applied), then the object's defaulting and schema validation, then validating webhooks. Each webhook's
`rules` (operations, apiGroups, apiVersions, resources with `*` and subresources, scope), `namespaceSelector`,
`objectSelector`, `failurePolicy` (Fail / Ignore), `timeoutSeconds` (default 10), `sideEffects` on dry runs and
`warnings` are honoured, and failures carry kube-apiserver's messages.

Resolution of a `service` clientConfig: the Service's port, its Endpoints' ready addresses (what
`--enable-aggregator-routing=true` dials on the real server), each address's pod and port mapped through the
sandbox's endpoints registry to the 127.0.0.1 address the pod really listens on; never a ClusterIP. A `url`
clientConfig must name a loopback host (the sandbox's network rule). TLS is verified against the `caBundle` with
the server name `<service>.<namespace>.svc`.

The HTTP call is made with the store lock released; the caller re-checks the object afterwards (a concurrent
write gives a 409 Conflict).
"""

from __future__ import annotations

import base64
import copy
import http.client
import ipaddress
import json
import logging
import os
import random
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..machinery.selectors import selector_from_dict
from . import patch as jsonpatch
from .errors import ApiError

log = logging.getLogger("sandbox.apiserver.admission")

GROUP = "admissionregistration.k8s.io"
MUTATING = (GROUP, "mutatingwebhookconfigurations")
VALIDATING = (GROUP, "validatingwebhookconfigurations")
NS_KEY = ("", "namespaces")
SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")
DEFAULT_TIMEOUT = 10
CONVERSION_TIMEOUT = 30   # apiextensions-apiserver's webhook client timeout
CALL_PREFIX = "failed to call webhook: "
OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


# -- defaulting and validation of the configurations (registered in defaults.BY_KIND) ---------------------------
def default_configuration(obj: dict, old: dict | None, *, mutating: bool) -> list[dict]:
    """SetDefaults_*Webhook and ValidatingWebhookConfiguration validation (the parts a user meets)."""
    causes: list[dict] = []
    hooks = obj.get("webhooks")
    if hooks is None:
        return causes
    if not isinstance(hooks, list):
        return [{"reason": "FieldValueInvalid", "field": "webhooks", "message": "Invalid value: must be a list"}]
    names = set()
    for i, h in enumerate(hooks):
        where = f"webhooks[{i}]"
        if not isinstance(h, dict):
            causes.append({"reason": "FieldValueInvalid", "field": where, "message": "Invalid value: not an object"})
            continue
        h.setdefault("failurePolicy", "Fail")
        h.setdefault("matchPolicy", "Equivalent")
        h.setdefault("namespaceSelector", {})
        h.setdefault("objectSelector", {})
        h.setdefault("timeoutSeconds", DEFAULT_TIMEOUT)
        if mutating:
            h.setdefault("reinvocationPolicy", "Never")
        for r in h.get("rules") or []:
            if isinstance(r, dict):
                r.setdefault("scope", "*")
        svc = (h.get("clientConfig") or {}).get("service")
        if isinstance(svc, dict):
            svc.setdefault("port", 443)
        name = h.get("name")
        if not name:
            causes.append({"reason": "FieldValueRequired", "field": f"{where}.name", "message": "Required value"})
        elif name in names:
            causes.append({"reason": "FieldValueDuplicate", "field": f"{where}.name",
                           "message": f'Duplicate value: "{name}"'})
        names.add(name)
        if h.get("sideEffects") not in ("None", "NoneOnDryRun"):
            value = h.get("sideEffects")
            causes.append({"reason": "FieldValueRequired" if value is None else "FieldValueNotSupported",
                           "field": f"{where}.sideEffects",
                           "message": 'Required value: must specify one of "None", "NoneOnDryRun"'
                           if value is None else f'Unsupported value: "{value}": supported values: "None", '
                                                 '"NoneOnDryRun"'})
        if not h.get("admissionReviewVersions"):
            causes.append({"reason": "FieldValueRequired", "field": f"{where}.admissionReviewVersions",
                           "message": "Required value: must specify one of v1, v1beta1"})
        cc = h.get("clientConfig") or {}
        if bool(cc.get("url")) == bool(cc.get("service")):
            causes.append({"reason": "FieldValueRequired", "field": f"{where}.clientConfig",
                           "message": "Required value: exactly one of url or service is required"})
        timeout = h.get("timeoutSeconds")
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 30:
            causes.append({"reason": "FieldValueInvalid", "field": f"{where}.timeoutSeconds",
                           "message": f"Invalid value: {timeout}: the timeout value must be between 1 and 30 "
                                      "seconds"})
        if h.get("failurePolicy") not in ("Fail", "Ignore"):
            causes.append({"reason": "FieldValueNotSupported", "field": f"{where}.failurePolicy",
                           "message": f'Unsupported value: "{h.get("failurePolicy")}": supported values: "Fail", '
                                      '"Ignore"'})
    return causes


def default_mutating(obj: dict, old: dict | None) -> list[dict]:
    return default_configuration(obj, old, mutating=True)


def default_validating(obj: dict, old: dict | None) -> list[dict]:
    return default_configuration(obj, old, mutating=False)


# -- a request's attributes ---------------------------------------------------------------------------------
@dataclass
class Attributes:
    group: str
    version: str
    kind: str
    resource: str
    namespaced: bool
    operation: str          # CREATE | UPDATE | DELETE
    namespace: str
    name: str
    sub: str = ""
    user: object = None     # rbac.UserInfo
    dry_run: bool = False
    options: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    request_version: str = ""   # the request's version when the webhook is called with another (Equivalent)


def _in(values: list | None, value: str) -> bool:
    return bool(values) and ("*" in values or value in values)


def rule_matches(rule: dict, a: Attributes) -> bool:
    if not _in(rule.get("operations"), a.operation) and not _in(rule.get("operations"), "*"):
        return False
    if not _in(rule.get("apiGroups"), a.group) or not _in(rule.get("apiVersions"), a.version):
        return False
    scope = rule.get("scope") or "*"
    cluster_scoped = not a.namespaced
    if (scope == "Cluster" and not cluster_scoped) or (scope == "Namespaced" and cluster_scoped):
        return False
    want = f"{a.resource}/{a.sub}" if a.sub else a.resource
    for r in rule.get("resources") or []:
        if r in ("*/*", want):
            return True
        res, _, sub = r.partition("/")
        if not sub and res == "*" and not a.sub:
            return True
        if sub and (res in ("*", a.resource)) and (sub in ("*", a.sub)) and a.sub:
            return True
    return False


def _labels(obj: dict | None) -> dict:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _selects(selector: dict | None, labels: dict) -> bool:
    try:
        return selector_from_dict(selector if selector is not None else {}).matches(labels)
    except ValueError:
        return False


class WebhookFailure(Exception):
    """A webhook could not be called (ErrCallingWebhook): `reason` is the Go error text after the webhook name."""

    def __init__(self, reason: str, status: int = 500):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Admission:
    """Calls the registered webhooks; `dial(namespace, pod, ip, port)` -> (host, port) maps an endpoint to where it
    listens (the sandbox's endpoints registry, as `App.dial` for the proxy subresources)."""

    def __init__(self, store):
        self.store = store
        # (namespace, pod, ip, port) -> where it really listens: the sandbox sets the endpoints registry's lookup
        self.dial: Callable[[str, str, str, int], tuple[str, int]] = lambda ns, pod, ip, port: (ip, port)
        self._contexts: dict[str, ssl.SSLContext] = {}
        # set by Objects: the served versions of (group, resource), and an object converted to an apiVersion
        self.versions: Callable[[str, str], list[str]] = lambda group, resource: []
        self.to_version: Callable[[dict, str], dict] = lambda obj, api_version: dict(obj, apiVersion=api_version)

    # ---------------------------------------------------------------- selection
    def _hooks(self, key: tuple[str, str], a: Attributes, obj: dict | None,
               old: dict | None) -> list[tuple[dict, Attributes]]:
        """The webhooks to call, each with the attributes it is called with (another version of the resource
        under matchPolicy Equivalent)."""
        if a.group == GROUP and a.resource in (MUTATING[1], VALIDATING[1]):
            return []   # kube-apiserver never calls webhooks on webhook configurations
        configs, _ = self.store.list(key)
        out = []
        for cfg in sorted(configs, key=lambda c: c["metadata"]["name"]):
            for h in cfg.get("webhooks") or []:
                called = self._matching_version(h, a)
                if called is None:
                    continue
                if not self._namespace_matches(h, a, obj):
                    continue
                if not (_selects(h.get("objectSelector"), _labels(obj)) or
                        (old is not None and _selects(h.get("objectSelector"), _labels(old)))):
                    continue
                out.append((h, called))
        return out

    def _matching_version(self, h: dict, a: Attributes) -> Attributes | None:
        rules = [r for r in h.get("rules") or [] if isinstance(r, dict)]
        if any(rule_matches(r, a) for r in rules):
            return a
        if h.get("matchPolicy", "Equivalent") != "Equivalent":
            return None
        for version in self.versions(a.group, a.resource):
            other = replace(a, version=version, request_version=a.version)
            if version != a.version and any(rule_matches(r, other) for r in rules):
                return other
        return None

    def _namespace_matches(self, h: dict, a: Attributes, obj: dict | None) -> bool:
        sel = h.get("namespaceSelector")
        if not sel:
            return True
        if (a.group, a.resource) == NS_KEY:
            return _selects(sel, _labels(obj))
        if not a.namespaced:
            return True
        ns = self.store.get(NS_KEY, "", a.namespace)
        return _selects(sel, _labels(ns))

    def active(self) -> bool:
        return bool(self.store.list(MUTATING)[0] or self.store.list(VALIDATING)[0])

    # ---------------------------------------------------------------- phases
    def mutate(self, a: Attributes, obj: dict, old: dict | None) -> dict:
        for h, called in self._hooks(MUTATING, a, obj, old):
            sent, sent_old = self._in_version(called, obj), self._in_version(called, old)
            resp = self._invoke(h, called, sent, sent_old)
            if resp is None:
                continue
            if not resp.get("allowed"):
                raise denied(h["name"], resp.get("status"))
            if resp.get("patch"):
                obj = self._in_version(a, self._patched(h, sent, resp))
        return obj

    def validate(self, a: Attributes, obj: dict | None, old: dict | None) -> None:
        for h, called in self._hooks(VALIDATING, a, obj, old):
            resp = self._invoke(h, called, self._in_version(called, obj), self._in_version(called, old))
            if resp is not None and not resp.get("allowed"):
                raise denied(h["name"], resp.get("status"))

    def _in_version(self, a: Attributes, obj: dict | None) -> dict | None:
        """The object as the webhook's version of the resource (matchPolicy Equivalent)."""
        want = f"{a.group}/{a.version}" if a.group else a.version
        if obj is None or obj.get("apiVersion") == want:
            return obj
        return self.to_version(obj, want)

    @staticmethod
    def _patched(h: dict, obj: dict, resp: dict) -> dict:
        if resp.get("patchType") != "JSONPatch":
            raise internal(f'failed calling webhook "{h["name"]}": unsupported patch type '
                           f'"{resp.get("patchType") or ""}"')
        try:
            ops = json.loads(base64.b64decode(resp["patch"]))
            return jsonpatch.json_patch(obj, ops)
        except (ValueError, TypeError) as e:
            raise internal(f'failed calling webhook "{h["name"]}": received undecodable patch in webhook '
                           f"response: {e}") from e
        except jsonpatch.PatchError as e:
            raise internal(e.message) from e

    # ---------------------------------------------------------------- one call
    def _invoke(self, h: dict, a: Attributes, obj: dict | None, old: dict | None) -> dict | None:
        """The webhook's AdmissionResponse, or None when it failed open (failurePolicy Ignore)."""
        if a.dry_run and h.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise ApiError(400, f'admission webhook "{h["name"]}" does not support dry run', "BadRequest")
        uid = str(uuid.uuid4())
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": self._request(
            uid, a, obj, old)}
        try:
            answer = self._post(h, review)
            resp = answer.get("response") if isinstance(answer, dict) else None
            if not isinstance(resp, dict):
                raise WebhookFailure("received invalid webhook response: expected webhook response of "
                                     "admission.k8s.io/v1, Kind=AdmissionReview, got /, Kind=")
            if resp.get("uid") != uid:
                raise WebhookFailure(f"received invalid webhook response: expected response.uid=\"{uid}\", "
                                     f"got \"{resp.get('uid', '')}\"")
        except WebhookFailure as e:
            if h.get("failurePolicy", "Fail") == "Ignore":
                log.warning("Failed calling webhook, failing open %s: %s", h["name"], e.reason)
                return None
            raise internal(f'failed calling webhook "{h["name"]}": {e.reason}') from e
        a.warnings.extend(str(w) for w in resp.get("warnings") or [])
        return resp

    # ---------------------------------------------------------------- CRD conversion
    def convert(self, conversion: dict, obj: dict, desired: str) -> dict:
        """`obj` in apiVersion `desired` through the CRD's conversion webhook (ConversionReview v1), or the
        apiextensions-apiserver's error (500)."""
        av = str(obj.get("apiVersion", ""))
        group, _, version = av.rpartition("/")
        gvk = f"{group}/{version}, Kind={obj.get('kind', '')}"
        uid = str(uuid.uuid4())
        webhook = (conversion or {}).get("webhook") or {}
        hook = {"clientConfig": webhook.get("clientConfig") or {}, "timeoutSeconds": CONVERSION_TIMEOUT}
        review = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                  "request": {"uid": uid, "desiredAPIVersion": desired, "objects": [obj]}}
        try:
            answer = self._post(hook, review)
            resp = answer.get("response") if isinstance(answer, dict) else None
            if not isinstance(resp, dict):
                raise WebhookFailure("no response provided")
            if resp.get("uid") != uid:
                raise WebhookFailure(f'expected response.uid="{uid}", got "{resp.get("uid", "")}"')
            result = resp.get("result") or {}
            if result.get("status") != "Success":
                raise WebhookFailure(f"response.result.status was '{result.get('status', '')}', not 'Success'")
        except WebhookFailure as e:
            raise ApiError(500, f"conversion webhook for {gvk} failed: {e.reason.removeprefix(CALL_PREFIX)}",
                           "") from e
        converted = resp.get("convertedObjects") or []
        if len(converted) != 1 or not isinstance(converted[0], dict):
            raise ApiError(500, f"conversion webhook for {gvk} returned {len(converted)} objects, expected 1", "")
        out = converted[0]
        if out.get("apiVersion") != desired:
            raise ApiError(500, f"conversion webhook for {gvk} returned invalid object at index 0: invalid "
                           f"groupVersion (expected {desired}, received {out.get('apiVersion')})", "")
        # the server keeps its own metadata (the webhook may change labels and annotations only)
        meta = copy.deepcopy(obj.get("metadata") or {})
        for f in ("labels", "annotations"):
            if f in (out.get("metadata") or {}):
                meta[f] = out["metadata"][f]
        return dict(out, metadata=meta)

    @staticmethod
    def _request(uid: str, a: Attributes, obj: dict | None, old: dict | None) -> dict:
        gvk = {"group": a.group, "version": a.version, "kind": a.kind}
        gvr = {"group": a.group, "version": a.version, "resource": a.resource}
        req: dict = {"uid": uid, "kind": gvk, "resource": gvr}
        if a.sub:
            req["subResource"] = a.sub
        asked = a.request_version or a.version
        req.update({"requestKind": dict(gvk, version=asked), "requestResource": dict(gvr, version=asked)})
        if a.sub:
            req["requestSubResource"] = a.sub
        if a.name:
            req["name"] = a.name
        if a.namespace and a.namespaced:
            req["namespace"] = a.namespace
        user = a.user.user_info() if a.user is not None else {"username": ""}
        req.update({"operation": a.operation, "userInfo": user, "object": obj, "oldObject": old,
                    "dryRun": a.dry_run,
                    "options": {"kind": OPTIONS_KIND[a.operation], "apiVersion": "meta.k8s.io/v1", **a.options}})
        return req

    def _post(self, h: dict, review: dict) -> dict:
        cc = h.get("clientConfig") or {}
        timeout = int(h.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        if cc.get("service"):
            svc = cc["service"]
            ns, name, port = svc.get("namespace", ""), svc.get("name", ""), int(svc.get("port") or 443)
            server_name = f"{name}.{ns}.svc"
            path = svc.get("path") or "/"
            url = f"https://{server_name}:{port}{path}?timeout={timeout}s"
            dial = lambda: self._service_address(ns, name, port)  # noqa: E731
        else:
            parts = urlsplit(str(cc.get("url") or ""))
            server_name = parts.hostname or ""
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            url = f"{parts.scheme}://{parts.netloc}{path}{'&' if parts.query else '?'}timeout={timeout}s"
            target = (server_name, parts.port or 443)
            dial = lambda: _loopback(target)  # noqa: E731
        ctx = self._tls(cc.get("caBundle"))
        body = json.dumps(review, separators=(",", ":")).encode()
        deadline = time.monotonic() + timeout
        lock = self.store.lock
        # the HTTP call is made without the store lock: the webhook may call this API server
        state = lock._release_save() if lock._is_owned() else None  # noqa: SLF001 - RLock's own save/restore
        try:
            host, port = dial_or_fail(dial, url)
            return _https_post(host, port, server_name, path_of(url), body, ctx, deadline, url)
        finally:
            if state is not None:
                lock._acquire_restore(state)  # noqa: SLF001

    def _tls(self, ca_bundle: str | None) -> ssl.SSLContext:
        """A client context trusting the caBundle only (the system roots without one), cached per bundle."""
        key = ca_bundle or ""
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # verifies the chain and the host name
            if ca_bundle:
                try:
                    ctx.load_verify_locations(cadata=base64.b64decode(ca_bundle).decode("ascii", "replace"))
                except (ValueError, ssl.SSLError) as e:
                    log.warning("caBundle not usable: %s", e)
            else:
                ctx.load_default_certs()
            if len(self._contexts) > 64:
                self._contexts.clear()
            self._contexts[key] = ctx
        return ctx

    def _service_address(self, ns: str, name: str, port: int) -> tuple[str, int]:
        svc = self.store.get(SERVICES, ns, name)
        if svc is None:
            raise LookupError(f'service "{name}" not found')
        sport = next((p for p in (svc.get("spec") or {}).get("ports") or [] if int(p.get("port") or 0) == port),
                     None)
        if sport is None:
            raise LookupError(f'no service port {port} found for service "{name}"')
        ep = self.store.get(ENDPOINTS, ns, name) or {}
        for subset in ep.get("subsets") or []:
            ports = [p for p in subset.get("ports") or [] if p.get("name", "") == sport.get("name", "")]
            if ports and subset.get("addresses"):
                addr = random.choice(subset["addresses"])  # noqa: S311 - as the real resolver: any ready endpoint
                return self.dial(ns, (addr.get("targetRef") or {}).get("name", ""), addr.get("ip", ""),
                                 int(ports[0]["port"]))
        raise LookupError(f'no endpoints available for service "{name}"')


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _loopback(target: tuple[str, int]) -> tuple[str, int]:
    host, port = target
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise LookupError(f"dial tcp {host}:{port}: the sandbox dials only 127.0.0.0/8 (network rule)")
    return ("127.0.0.1" if host == "localhost" else host), port


def dial_or_fail(dial: Callable[[], tuple[str, int]], url: str) -> tuple[str, int]:
    try:
        host, port = dial()
    except LookupError as e:
        raise WebhookFailure(f'failed to call webhook: Post "{url}": {e.args[0]}', 503) from e
    if not _is_loopback(host):
        raise WebhookFailure(f'failed to call webhook: Post "{url}": dial tcp {host}:{port}: the sandbox dials '
                             "only 127.0.0.0/8 (network rule)", 503)
    return host, port


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _https_post(host: str, port: int, server_name: str, path: str, body: bytes, ctx: ssl.SSLContext,
                deadline: float, url: str) -> dict:
    def fail(why: str) -> WebhookFailure:
        return WebhookFailure(f'failed to call webhook: Post "{url}": {why}', 503)
    remaining = deadline - time.monotonic()
    try:
        raw = socket.create_connection((host, port), timeout=max(remaining, 0.01))
    except TimeoutError as e:
        raise fail("context deadline exceeded") from e
    except OSError as e:
        raise fail(f"dial tcp {host}:{port}: connect: {os.strerror(e.errno) if e.errno else e}".replace(
            "Connection refused", "connection refused")) from e
    try:
        raw.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            sock = ctx.wrap_socket(raw, server_hostname=server_name)
        except ssl.SSLCertVerificationError as e:
            why = "x509: certificate signed by unknown authority" if "unable to get local issuer" in str(e) \
                or "self-signed" in str(e) or "self signed" in str(e) else f"tls: {e.verify_message}"
            raise fail(why) from e
        except TimeoutError as e:
            raise fail("context deadline exceeded") from e
        except (ssl.SSLError, OSError) as e:
            raise fail(f"tls: {e}") from e
        conn = http.client.HTTPSConnection(host, port, context=ctx)
        conn.sock = sock
        try:
            conn.request("POST", path, body=body, headers={
                "Content-Type": "application/json", "Accept": "application/json, */*",
                "Host": f"{server_name}:{port}", "User-Agent": "kube-apiserver-admission"})
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError as e:
            raise fail("context deadline exceeded") from e
        except (OSError, http.client.HTTPException) as e:
            raise fail(str(e) or type(e).__name__) from e
        finally:
            conn.close()
        if resp.status >= 300:
            shown = data.decode(errors="replace")[:200]
            raise WebhookFailure(f'failed to call webhook: an error on the server ("{shown}") has prevented the '
                                 "request from succeeding", resp.status)
        try:
            return json.loads(data)
        except ValueError as e:
            raise WebhookFailure(f"failed to call webhook: {e}") from e
    finally:
        raw.close()


def internal(message: str) -> ApiError:
    return ApiError(500, f"Internal error occurred: {message}", "InternalError", {"causes": [{"message": message}]})


def denied(name: str, result: dict | None) -> ApiError:
    """webhookerrors.ToStatusErr: the webhook's Status, its message prefixed with who denied it."""
    result = copy.deepcopy(result) if isinstance(result, dict) else {}
    code = result.get("code") if isinstance(result.get("code"), int) else 0
    code = code if code >= 400 else 400
    prefix = f'admission webhook "{name}" denied the request'
    if result.get("message"):
        message = f"{prefix}: {result['message']}"
    elif result.get("reason"):
        message = f"{prefix}: {result['reason']}"
    else:
        message = f"{prefix} without explanation"
    return ApiError(code, message, str(result.get("reason") or ""), result.get("details"))
