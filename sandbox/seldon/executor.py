"""A small stand-in for the Seldon Core v1 executor (service orchestrator) of inference graphs with more than one
node: an HTTP server in the sandbox process, one per predictor pod that has the ``seldon-container-engine``
container, behind that container's port 8000.

Seldon protocol (REST, JSON): for each node, from the root: transform the input (MODEL ``/predict``, TRANSFORMER
``/transform-input``), route (ROUTER ``/route``, RANDOM_ABTEST by ``ratioA``, SIMPLE_ROUTER to the first child,
otherwise every child), call the children, combine (COMBINER ``/aggregate``, AVERAGE_COMBINER element-wise mean,
otherwise the single child's answer) and transform the output (OUTPUT_TRANSFORMER ``/transform-output``), merging
``meta.requestPath``. SIMPLE_MODEL answers like upstream's stub. Nodes are reached in this pod (the runner's local
servers) or through their container Service's ready endpoints (other componentSpecs).

V2 protocol: requests go to the node the path names (``/v2/models/<node>/...``), else to the root (no chaining).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("sandbox.seldon.executor")
SIMPLE_MODEL_ANSWER = {"data": {"names": ["proba"], "ndarray": [[0.1, 0.9, 0.5]]}}
ROUTER_METHODS = {"ROUTER"}


class GraphError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _param(node: dict, name: str, default=None):
    for p in node.get("parameters") or []:
        if p.get("name") == name:
            v = p.get("value")
            try:
                return {"FLOAT": float, "DOUBLE": float, "INT": int}.get(str(p.get("type", "")).upper(), str)(v)
            except (TypeError, ValueError):
                return v
    return default


def _ndarray(msg: dict):
    data = (msg or {}).get("data") or {}
    if "ndarray" in data:
        return data["ndarray"]
    if "tensor" in data:
        return data["tensor"].get("values")
    return None


def _mean(arrays: list):
    if not arrays:
        return []
    if isinstance(arrays[0], list):
        return [_mean([a[i] for a in arrays]) for i in range(len(arrays[0]))]
    return sum(float(a) for a in arrays) / len(arrays)


class Executor:
    """Runs a predictor's graph. `resolve(node_name) -> (host, port) | None` finds a node's HTTP server."""

    def __init__(self, predictor: dict, resolve, protocol: str = "seldon", log_fn=None):
        self.predictor = predictor
        self.graph = predictor.get("graph") or {}
        self.resolve = resolve
        self.protocol = protocol
        self.log = log_fn or (lambda _s: None)
        self.httpd: ThreadingHTTPServer | None = None
        self.port = 0

    # -- server --
    def start(self) -> int:
        ex = self

        class Handler(_Handler):
            executor = ex
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name="seldon-executor").start()
        return self.port

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    # -- nodes --
    def nodes(self, node: dict | None = None) -> list[dict]:
        node = node or self.graph
        out = [node]
        for c in node.get("children") or []:
            out.extend(self.nodes(c))
        return out

    def ready(self) -> bool:
        for n in self.nodes():
            if n.get("implementation") in BUILTINS:
                continue
            addr = self.resolve(n.get("name", ""))
            if addr is None or (_call(addr, "GET", "/health/ping", None, 2.0)[0] != 200 and \
                    _call(addr, "GET", "/v2/health/ready", None, 2.0)[0] != 200):
                return False
        return True

    def _post(self, node: dict, path: str, msg: dict) -> dict:
        addr = self.resolve(node.get("name", ""))
        if addr is None:
            raise GraphError(503, f"no ready endpoint for graph node {node.get('name')}")
        code, body = _call(addr, "POST", path, json.dumps(msg).encode(), 60.0)
        try:
            out = json.loads(body or b"null")
        except ValueError:
            out = None
        if code != 200 or not isinstance(out, dict):
            raise GraphError(code if code >= 400 else 500,
                             f"graph node {node.get('name')} {path} answered {code}: {body[:500]!r}")
        return out

    @staticmethod
    def _type(node: dict) -> str:
        t = (node.get("type") or "").upper()
        if t:
            return t
        impl = node.get("implementation") or ""
        return {"RANDOM_ABTEST": "ROUTER", "SIMPLE_ROUTER": "ROUTER", "AVERAGE_COMBINER": "COMBINER"}.get(impl,
                                                                                                         "MODEL")

    def predict(self, node: dict, msg: dict, path: dict) -> dict:
        t = self._type(node)
        impl = node.get("implementation") or ""
        name = node.get("name", "")
        if impl == "SIMPLE_MODEL":
            out = json.loads(json.dumps(SIMPLE_MODEL_ANSWER))
        elif t == "MODEL":
            out = self._post(node, "/predict", msg)
        elif t == "TRANSFORMER":
            out = self._post(node, "/transform-input", msg)
        else:
            out = msg
        self._merge_meta(out, path, name, node)
        children = node.get("children") or []
        if children:
            route = -1
            if impl == "RANDOM_ABTEST":
                route = 0 if random.random() < float(_param(node, "ratioA", 0.5)) else 1  # noqa: S311
            elif impl == "SIMPLE_ROUTER":
                route = 0
            elif t == "ROUTER":
                r = _ndarray(self._post(node, "/route", out))
                with contextlib.suppress(TypeError, ValueError, IndexError):
                    route = int(r[0][0] if isinstance(r[0], list) else r[0])
            if route >= len(children):
                raise GraphError(500, f"router {name} chose branch {route} of {len(children)}")
            picked = children if route < 0 else [children[route]]
            if route >= 0:
                path.setdefault("routing", {})[name] = route
            outs = [self.predict(c, out, path) for c in picked]
            if impl == "AVERAGE_COMBINER":
                arrays = [_ndarray(o) for o in outs]
                out = {"data": {"names": ((outs[0].get("data") or {}).get("names") or []),
                                "ndarray": _mean([a for a in arrays if a is not None])}}
            elif t == "COMBINER":
                out = self._post(node, "/aggregate", {"seldonMessages": outs})
            else:
                out = outs[0]
        if t == "OUTPUT_TRANSFORMER":
            out = self._post(node, "/transform-output", out)
        return out

    def _merge_meta(self, out: dict, path: dict, name: str, node: dict) -> None:
        meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
        path.setdefault("requestPath", {}).update(meta.get("requestPath") or {})
        if node.get("implementation") in BUILTINS:
            path["requestPath"][name] = node["implementation"]

    def run(self, msg: dict) -> dict:
        path: dict = {}
        out = self.predict(self.graph, msg, path)
        meta = dict(out.get("meta") or {}) if isinstance(out.get("meta"), dict) else {}
        meta["requestPath"] = path.get("requestPath", {})
        if path.get("routing"):
            meta["routing"] = path["routing"]
        return dict(out, meta=meta)


BUILTINS = ("SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER")


def _call(addr, method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return 503, str(e).encode()
    finally:
        conn.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    executor: Executor

    def log_message(self, fmt, *args):
        log.debug(fmt, *args)

    def _send(self, code: int, body) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):  # noqa: N802 - http.server naming
        ex = self.executor
        p = self.path.split("?", 1)[0]
        if p in ("/ready", "/live", "/health/ping", "/health/status"):
            ok = p == "/live" or ex.ready()
            self._send(200 if ok else 503, {"status": "ok" if ok else "not ready"})
            return
        self._forward("GET", b"")

    def do_POST(self):  # noqa: N802
        ex = self.executor
        body = self._body()
        p = self.path.split("?", 1)[0]
        if ex.protocol != "v2" and p in ("/api/v1.0/predictions", "/api/v0.1/predictions"):
            try:
                msg = json.loads(body or b"{}")
                if not isinstance(msg, dict):
                    raise ValueError("the request is not a JSON object")
            except ValueError as e:
                self._send(400, {"status": {"code": 400, "info": f"invalid JSON: {e}", "status": "FAILURE"}})
                return
            try:
                self._send(200, ex.run(msg))
            except GraphError as e:
                self._send(e.code, {"status": {"code": e.code, "info": str(e), "status": "FAILURE"}})
            return
        self._forward("POST", body)

    def _forward(self, method: str, body: bytes) -> None:
        ex = self.executor
        p = self.path
        target = ex.graph.get("name", "")
        if p.startswith("/v2/models/"):
            name = p[len("/v2/models/"):].split("/", 1)[0]
            if any(n.get("name") == name for n in ex.nodes()):
                target = name
        addr = ex.resolve(target)
        if addr is None:
            self._send(503, {"error": f"no ready endpoint for graph node {target}"})
            return
        code, data = _call(addr, method, p, body or None, 60.0)
        self._send(code, data)
