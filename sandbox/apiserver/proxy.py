"""The proxy subresources, as kube-apiserver (pkg/registry/core/service and pod ResourceLocation) serves them:
``services/<[scheme:]name[:port]>/proxy/<path>`` to one of the Service's ready pod endpoints,
``pods/<[scheme:]name[:port]>/proxy/<path>`` to the pod's IP; ``nodes/<name>/proxy`` is refused (loopback nodes).

A port number is translated to the Service port's name (503 "no service port N found for service"); the name
(empty without a port) picks the endpoints' port of that name; a random ready address that is a pod of the
namespace -> none: 503 ServiceUnavailable "no endpoints available for service". A backend that cannot be reached
-> 503 "error trying to reach service: ...". The answer (status, headers, body) is relayed as it is. Pods: a pod
IP that is not a global unicast address (the sandbox's loopback pod IPs) is refused with 400 "address not
allowed", as kube-apiserver does.

Addresses go through ``App.dial`` (``(namespace, pod, ip, port) -> (host, port)``), which the sandbox's
controllers point at their endpoints registry (where a pod's container port really listens on this machine).
"""

from __future__ import annotations

import http.client
import ipaddress
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


def split_scheme_name_port(ident: str, what: str) -> tuple[str, str, str]:
    """``[scheme:]name[:port]`` as k8s.io/apimachinery's SplitSchemeNamePort reads it (scheme "", http or https)."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        scheme, name, port = "", "", ""
    if not name or scheme not in ("", "http", "https"):
        raise bad_request(f'invalid {what} request "{ident}"')
    return scheme, name, port


def _unavailable(message: str) -> ApiError:
    return ApiError(503, message, "ServiceUnavailable")  # errors.NewServiceUnavailable: no details


def service_location(app: App, ns: str, ident: str) -> tuple[str, str, int]:
    """kube-apiserver's service ResourceLocation: a port number is looked up in the Service (which must exist) for
    its name; a port name (or none: the unnamed port) is looked up in the Service's endpoints only. A random ready
    address of a pod (in the namespace, with that IP) that has the port."""
    scheme, name, port = split_scheme_name_port(ident, "service")
    if port.isdigit():
        svc = app.store.get(SERVICES, ns, name)
        if svc is None:
            raise not_found("services", "", name)
        sp = next((p for p in (svc.get("spec") or {}).get("ports") or [] if str(p.get("port")) == port), None)
        if sp is None:
            raise _unavailable(f'no service port {int(port)} found for service "{name}"')
        port = sp.get("name", "")
    ep = app.store.get(ENDPOINTS, ns, name)
    candidates = []
    for sub in (ep or {}).get("subsets") or []:
        epp = next((p for p in sub.get("ports") or [] if p.get("name", "") == port), None)
        if epp is None:
            continue
        for addr in sub.get("addresses") or []:
            ref = addr.get("targetRef") or {}
            pod = app.store.get(PODS, ns, ref.get("name", "")) if ref.get("kind") == "Pod" and \
                (ref.get("namespace") or ns) == ns else None
            ips = [i.get("ip") for i in ((pod or {}).get("status") or {}).get("podIPs") or []]
            if pod is not None and addr.get("ip") in ips:  # only addresses that are pods, as kube-apiserver
                candidates.append((ref["name"], str(addr["ip"]), int(epp["port"])))
    if not candidates:
        raise _unavailable(f'no endpoints available for service "{name}"')
    pod, ip, target_port = random.choice(candidates)  # noqa: S311 - load spreading, as kube-apiserver's rand
    host, real_port = app.dial(ns, pod, ip, target_port)
    return scheme or "http", host, real_port


def _global_unicast(ip: str) -> bool:
    """Go's net.IP.IsGlobalUnicast: not loopback, link-local, multicast, unspecified or broadcast."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_unspecified
                or str(addr) == "255.255.255.255")


def pod_location(app: App, ns: str, ident: str) -> tuple[str, str, int]:
    """kube-apiserver's pod ResourceLocation: the pod's IP (which must be a global unicast address: a loopback
    pod IP is refused with "address not allowed") and the port given or the first container port."""
    scheme, name, port = split_scheme_name_port(ident, "pod")
    pod = app.store.get(PODS, ns, name)
    if pod is None:
        raise not_found("pods", "", name)
    if not port:
        for c in (pod.get("spec") or {}).get("containers") or []:
            if c.get("ports"):
                port = str(c["ports"][0].get("containerPort"))
                break
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not _global_unicast(ip):
        raise bad_request("address not allowed")
    if port and not port.isdigit():
        raise _unavailable(f"error trying to reach service: dial tcp: address {ip}:{port}: invalid port")
    host, real_port = app.dial(ns, name, ip, int(port) if port else (443 if scheme == "https" else 80))
    return scheme or "http", host, real_port


def node_location(app: App, _ns: str, ident: str) -> tuple[str, str, int]:
    """nodes/<name>/proxy: the kubelet at the node's address, which kube-apiserver refuses to dial when it is not
    proxyable; every simulated node's address is loopback (and there is no kubelet API behind it)."""
    _scheme, name, _port = split_scheme_name_port(ident, "node")
    if app.store.get(("", "nodes"), "", name) is None:
        raise not_found("nodes", "", name)
    raise bad_request("address not allowed")


def handle(app: App, req: Request, plural: str, ns: str, ident: str, path: str) -> Response:
    locate = {"services": service_location, "nodes": node_location}.get(plural, pod_location)
    scheme, host, port = locate(app, ns, ident)
    conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    kwargs = {"timeout": TIMEOUT}
    if scheme == "https":
        import ssl
        kwargs["context"] = ssl._create_unverified_context()  # noqa: S323 - kube-apiserver does not verify either
    conn = conn_cls(host, port, **kwargs)
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
        # kube-apiserver's proxy transport words it so for pods too
        raise _unavailable(f"error trying to reach service: dial tcp {host}:{port}: {e}") from e
    finally:
        conn.close()
