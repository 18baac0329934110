"""The gateway (component "sandbox.gateway:component"): an HTTP reverse proxy on 127.0.0.1 that routes like
Ambassador/Emissary from the Mappings that exist in the cluster (and `getambassador.io/config` annotations on
Services). Its URL goes to the sandbox env as AMBASSADOR_URL and SANDBOX_GATEWAY_URL.

Backends: `service` is `name[.namespace[.svc...]][:port]` (namespace defaults to the Mapping's) or
`http://host:port`. A Service resolves through its Endpoints (ready addresses) to the addresses the pods'
runners registered in `sandbox.endpoints_registry`; an Endpoints address on 127.0.0.0/8 is used as is.
No ready backend -> 503 "no healthy upstream" (as Envoy); no route -> 404.

It also serves the node's NodePorts on 127.0.0.1 (`nodeports.py`, what kube-proxy does on a real node).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import itertools
import logging
import os
import re
import threading
import time
import types
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..controllers.base import PODS, pod_ready
from ..controllers.runtime import endpoints_registry
from .routes import ENDPOINTS, MAPPING_KEYS, SERVICES, Mapping, RouteTable, collect

log = logging.getLogger("sandbox.gateway")
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade", "content-length", "host"}


class NoUpstream(Exception):
    pass


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host == "localhost"


class Gateway:
    def __init__(self, sandbox):
        self.sb = sandbox
        self.store = sandbox.store
        self.registry = endpoints_registry(sandbox)
        self._table: RouteTable | None = None
        self._dirty = True
        self._lock = threading.Lock()
        self._rr = itertools.count()
        self.httpd: ThreadingHTTPServer | None = None
        self._watcher = None
        self._stopping = threading.Event()
        self.stats = {"requests": 0, "shadowed": 0}
        from .nodeports import NodePorts
        self.nodeports = NodePorts(self)   # the Services' nodePorts on 127.0.0.1, as kube-proxy

    # -- component --
    def start(self) -> None:
        gw = self

        class Handler(_Handler):
            gateway = gw
        self.httpd = _Server(("127.0.0.1", int(os.environ.get("SANDBOX_GATEWAY_PORT", "0"))), Handler)
        port = self.httpd.server_address[1]
        url = f"http://127.0.0.1:{port}"
        self.sb.env.update({"AMBASSADOR_URL": url, "SANDBOX_GATEWAY_URL": url})
        self._watcher = self.store.watch(None)
        threading.Thread(target=self._watch, name="gateway-watch", daemon=True).start()
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="gateway",
                         daemon=True).start()
        self.nodeports.start()
        log.info("gateway at %s", url)

    def stop(self) -> None:
        self._stopping.set()
        self.nodeports.stop()
        if self._watcher is not None:
            self._watcher.close()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def _watch(self) -> None:
        keys = {*MAPPING_KEYS, SERVICES}
        while not self._stopping.is_set():
            ev = self._watcher.get(timeout=1.0)
            if ev is not None and ev.key in keys:
                self._dirty = True

    # -- routing --
    def table(self) -> RouteTable:
        with self._lock:
            if self._dirty or self._table is None:
                self._dirty = False
                self._table = RouteTable(collect(self.store))
            return self._table

    def backends(self, mp: Mapping) -> list[tuple[str, str, int]]:  # noqa: PLR0912 - one branch per form of a Mapping's service (scheme, IP, name[.namespace], ExternalName) and per step of its port and endpoint lookup
        """(scheme, host, port) candidates for a Mapping's service; raises NoUpstream."""
        svc = mp.service.strip()
        scheme = "http"
        if "://" in svc:
            scheme, svc = svc.split("://", 1)
        svc = svc.split("/", 1)[0]
        host, _, port_s = svc.rpartition(":") if ":" in svc else (svc, "", "")
        if not host:
            host, port_s = svc, ""
        port = int(port_s) if port_s.isdigit() else None
        if _is_ip(host):
            return [(scheme, host, port or (443 if scheme == "https" else 80))]
        parts = host.split(".")
        name = parts[0]
        ns = parts[1] if len(parts) > 1 else mp.namespace
        obj = self.store.get(SERVICES, ns, name)
        if obj is None:
            raise NoUpstream(f"service {ns}/{name} not found")
        spec = obj.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return [(scheme, spec.get("externalName", ""), port or 80)]
        ports = spec.get("ports") or []
        sp = next((p for p in ports if port is not None and int(p.get("port", -1)) == port), None)
        if sp is None:
            if port is None and len(ports) == 1:
                sp = ports[0]
            elif port is None:
                sp = next((p for p in ports if int(p.get("port", -1)) == 80), None)
        if sp is None:
            raise NoUpstream(f"service {ns}/{name} has no port {port}")
        ep = self.store.get(ENDPOINTS, ns, name)
        out = []
        for sub in (ep or {}).get("subsets") or []:
            eports = sub.get("ports") or []
            epp = next((p for p in eports if p.get("name", "") == sp.get("name", "")), None) or \
                (eports[0] if len(eports) == 1 else None)
            if epp is None:
                continue
            for a in sub.get("addresses") or []:
                ref = a.get("targetRef") or {}
                if ref.get("kind") == "Pod":
                    addr = self.registry.lookup(ref.get("namespace") or ns, ref.get("name", ""), int(epp["port"]))
                    if addr is not None:
                        out.append((scheme, addr[0], addr[1]))
                        continue
                if str(a.get("ip", "")).startswith("127."):
                    out.append((scheme, a["ip"], int(epp["port"])))
        if not out and spec.get("selector"):   # no Endpoints (or none with an address yet): the selected pods
            out = self._pod_backends(scheme, ns, spec["selector"], sp)
        if not out:
            raise NoUpstream(f"no ready endpoints for service {ns}/{name}")
        return out

    def _pod_backends(self, scheme: str, ns: str, selector: dict, sp: dict) -> list[tuple[str, str, int]]:
        """The Service's ready pods, as its endpoints would list them. On a real control plane the Endpoints of
        the sandbox's pods stay empty: kube-apiserver refuses loopback addresses in Endpoints and EndpointSlices,
        and the sandbox's pod IPs are loopback (nothing may dial outside 127.0.0.0/8)."""
        out = []
        target = sp.get("targetPort", sp.get("port"))
        for pod in self.store.list(PODS, ns)[0]:
            labels = pod["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in selector.items()) or not pod_ready(pod):
                continue
            port = target
            if isinstance(target, str) and not target.isdigit():   # a named container port
                port = next((p.get("containerPort") for c in pod["spec"].get("containers") or []
                             for p in c.get("ports") or [] if p.get("name") == target), None)
            if port is None:
                continue
            addr = self.registry.lookup(ns, pod["metadata"]["name"], int(port))
            if addr is not None:
                out.append((scheme, addr[0], addr[1]))
        return out

    def choose(self, mp: Mapping) -> tuple[str, str, int]:
        bs = self.backends(mp)
        return bs[next(self._rr) % len(bs)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "envoy"
    sys_version = ""
    gateway: Gateway

    def log_message(self, fmt, *args):
        log.debug("%s - " + fmt, self.address_string(), *args)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _reply(self, code: int, body: bytes = b"", headers: list | None = None, ctype: str = "text/plain") -> None:
        self.send_response(code)
        sent = set()
        for k, v in headers or []:
            if k.lower() in HOP:
                continue
            sent.add(k.lower())
            self.send_header(k, v)
        if "content-type" not in sent and body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _handle(self) -> None:
        gw = self.gateway
        gw.stats["requests"] += 1
        try:
            body = self._body()
        except ValueError:
            self._reply(400, b"bad request")
            self.close_connection = True
            return
        path = self.path
        if "://" in path:   # absolute-form request target
            path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
        pth, _, qs = path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        mp, shadows = gw.table().match(pth, self.command, headers, headers.get("host", ""))
        if mp is None:
            self._reply(404)
            return
        new_path = mp.rewritten(pth) + (f"?{qs}" if qs else "")
        fwd = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP]
        rid = headers.get("x-request-id") or str(uuid.uuid4())
        fwd += [("Host", self.headers.get("Host", "")), ("X-Forwarded-For", self.client_address[0]),
                ("X-Forwarded-Proto", "http"), ("X-Envoy-Original-Path", pth)]
        if "x-request-id" not in headers:
            fwd.append(("X-Request-Id", rid))
        fwd += [(k, str(v)) for k, v in mp.add_request_headers.items()]
        for sh in shadows:
            threading.Thread(target=self._shadow, args=(sh, pth, qs, fwd, body), daemon=True).start()
        try:
            scheme, host, port = gw.choose(mp)
        except NoUpstream as e:
            log.debug("no upstream for %s: %s", pth, e)
            self._reply(503, b"no healthy upstream")
            return
        timeout = mp.timeout_ms / 1000 if mp.timeout_ms else None
        try:
            status, rheaders, data = _forward(scheme, host, port, self.command, new_path, headers=fwd, body=body,
                                              timeout=timeout)
        except TimeoutError:
            self._reply(504, b"upstream request timeout")
            return
        except OSError as e:
            log.debug("upstream %s:%s failed: %s", host, port, e)
            self._reply(503, b"upstream connect error or disconnect/reset before headers. reset reason: "
                             b"connection failure")
            return
        rheaders = [*rheaders, *[(k, str(v)) for k, v in mp.add_response_headers.items()]]
        self._reply(status, data, rheaders)

    def _shadow(self, mp: Mapping, pth: str, qs: str, fwd: list, body: bytes) -> None:
        gw = self.gateway
        try:
            scheme, host, port = gw.choose(mp)
            shadow_headers = [(k, f"{v}-shadow" if k == "Host" else v) for k, v in fwd]
            _forward(scheme, host, port, self.command, mp.rewritten(pth) + (f"?{qs}" if qs else ""),
                     headers=shadow_headers, body=body, timeout=mp.timeout_ms / 1000 if mp.timeout_ms else None)
            gw.stats["shadowed"] += 1
        except (NoUpstream, OSError) as e:
            log.debug("shadow to %s failed: %s", mp.service, e)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def _forward(scheme, host, port, method, path, *, headers, body, timeout):
    conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    except TimeoutError as e:
        raise TimeoutError(str(e)) from e
    finally:
        with contextlib.suppress(OSError):
            conn.close()


_CLUSTER_HOST = re.compile(r"^(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
                           r"\.svc(\.cluster\.local)?\.?$")


def resolve_service_url(sandbox, url: str) -> str:
    """A URL whose host is a Service's cluster DNS name (``<name>.<namespace>.svc[.cluster.local]``), as a pod would
    dial it, rewritten to the loopback address of one of the Service's ready backends (what cluster DNS and
    kube-proxy do for a pod). Other URLs come back unchanged. A ``.svc`` / ``.cluster.local`` name that is no
    Service with a ready backend raises NoUpstream, so that no DNS query for it ever leaves the machine."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if not (host.endswith(".svc") or host.endswith(".svc.") or host.endswith(".cluster.local")
            or host.endswith(".cluster.local.")):
        return url
    m = _CLUSTER_HOST.match(host)
    gw = getattr(sandbox, "gateway", None)
    if m is None or gw is None:
        raise NoUpstream(f"{host}: not a Service name the sandbox can resolve")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    backends = gw.backends(types.SimpleNamespace(service=f"{m['name']}.{m['ns']}:{port}", namespace=m["ns"]))
    _, bhost, bport = backends[next(gw._rr) % len(backends)]
    return urllib.parse.urlunsplit((parts.scheme, f"{bhost}:{bport}", parts.path, parts.query, parts.fragment))


def component(sandbox) -> Gateway:
    gw = Gateway(sandbox)
    sandbox.gateway = gw
    return gw


__all__ = ["Gateway", "NoUpstream", "component", "resolve_service_url", "time"]
