"""The proxy subresources, as kube-apiserver serves them: ``services/<[scheme:]name[:port]>/proxy/<path>`` to one
of the Service's ready endpoints, ``pods/<[scheme:]name[:port]>/proxy/<path>`` to the pod's IP.

kube-apiserver picks a random ready address whose port has the name of the Service port asked for (by name or
number); none -> 503 ServiceUnavailable "no endpoints available for service". A backend that cannot be reached
-> 503 "error trying to reach service: ...". The answer (status, headers, body) is relayed as it is.

Addresses go through ``App.dial`` (``(namespace, pod, ip, port) -> (host, port)``), which the sandbox's
controllers point at their endpoints registry (where a pod's container port really listens on this machine).
"""

from __future__ import annotations

import http.client
import random
from typing import TYPE_CHECKING

from ..machinery.http import Response
from .errors import ApiError, bad_request, not_found

if TYPE_CHECKING:
    from .app import App
    from .request import Request

SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")
PODS = ("", "pods")
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
       "transfer-encoding", "upgrade", "content-length", "host", "authorization", "impersonate-user",
       "impersonate-group"}
TIMEOUT = 60.0


def split_scheme_name_port(ident: str) -> tuple[str, str, str]:
    """``[scheme:]name[:port]`` as k8s.io/apimachinery's SplitSchemeNamePort reads it."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        raise bad_request(f'invalid request "{ident}"')
    if not name or scheme not in ("", "http", "https"):
        raise bad_request(f'invalid request "{ident}"')
    return scheme, name, port


def _unavailable(message: str) -> ApiError:
    return ApiError(503, message, "ServiceUnavailable", {})


def service_location(app: App, ns: str, ident: str) -> tuple[str, str, int]:
    scheme, name, port = split_scheme_name_port(ident)
    svc = app.store.get(SERVICES, ns, name)
    if svc is None:
        raise not_found("services", "", name)
    ports = (svc.get("spec") or {}).get("ports") or []
    # as kube-apiserver: the first port that has the name or number asked for, the first port when none is
    sp = next((p for p in ports if not port or p.get("name", "") == port or str(p.get("port")) == port), None)
    if sp is None:
        raise ApiError(503, f'no service port "{port}" found for service "{name}"', "ServiceUnavailable", {})
    ep = app.store.get(ENDPOINTS, ns, name)
    candidates = []
    for sub in (ep or {}).get("subsets") or []:
        epp = next((p for p in sub.get("ports") or [] if p.get("name", "") == sp.get("name", "")), None)
        if epp is None:
            continue
        candidates += [(a, int(epp["port"])) for a in sub.get("addresses") or []]
    if not candidates:
        raise _unavailable(f'no endpoints available for service "{name}"')
    addr, target_port = random.choice(candidates)  # noqa: S311 - load spreading, as kube-apiserver's rand
    ref = addr.get("targetRef") or {}
    pod = ref.get("name", "") if ref.get("kind") == "Pod" else ""
    host, real_port = app.dial(ref.get("namespace") or ns, pod, str(addr.get("ip", "")), target_port)
    return scheme or "http", host, real_port


def pod_location(app: App, ns: str, ident: str) -> tuple[str, str, int]:
    scheme, name, port = split_scheme_name_port(ident)
    pod = app.store.get(PODS, ns, name)
    if pod is None:
        raise not_found("pods", "", name)
    if not port:
        for c in (pod.get("spec") or {}).get("containers") or []:
            if c.get("ports"):
                port = str(c["ports"][0].get("containerPort"))
                break
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        raise bad_request("address not allowed")
    if not port.isdigit():
        raise bad_request(f'invalid port "{port}"')
    host, real_port = app.dial(ns, name, ip, int(port))
    return scheme or "http", host, real_port


def handle(app: App, req: Request, plural: str, ns: str, ident: str, path: str) -> Response:
    locate = service_location if plural == "services" else pod_location
    scheme, host, port = locate(app, ns, ident)
    conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    kwargs = {"timeout": TIMEOUT}
    if scheme == "https":
        import ssl
        kwargs["context"] = ssl._create_unverified_context()  # noqa: S323 - kube-apiserver does not verify either
    conn = conn_cls(host, port, **kwargs)
    what = "service" if plural == "services" else "pod"
    target = path or "/"
    if req.raw_query:
        target += "?" + req.raw_query
    try:
        conn.putrequest(req.method, target, skip_accept_encoding=True)
        for k, v in req.headers.items():
            if k.lower() not in HOP:
                conn.putheader(k, v)
        if req.body or req.method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(req.body)))
        conn.endheaders(req.body or None)
        resp = conn.getresponse()
        data = resp.read()
        headers = {k: v for k, v in resp.getheaders() if k.lower() not in HOP and k.lower() != "content-type"}
        return Response(resp.status, data, resp.getheader("Content-Type") or "text/plain", headers=headers)
    except OSError as e:
        raise _unavailable(f"error trying to reach {what}: dial tcp {host}:{port}: {e}") from e
    finally:
        conn.close()
