"""NodePorts of the sandbox's single node, as kube-proxy serves them: for every port of every Service of type
NodePort (or LoadBalancer with a nodePort), a TCP listener on ``127.0.0.1:<nodePort>`` whose connections are
relayed, byte for byte, to one of the Service's ready backends (resolved as the gateway resolves a Mapping's
service: Endpoints -> the address a pod runner registered, see `Gateway.backends`).

The node's address is 127.0.0.1 (a kind node with ``extraPortMappings`` on ``listenAddress: 127.0.0.1`` looks the
same from the host), so nothing is dialled outside 127.0.0.0/8. A nodePort that cannot be bound (another process
holds it) is logged and retried at the next sync. Listeners close when their Service (or its port) goes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from types import SimpleNamespace

from .routes import SERVICES

log = logging.getLogger("sandbox.gateway.nodeports")
SYNC = 0.5
NODE_HOST = "127.0.0.1"


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class _Listener:
    def __init__(self, proxy: NodePorts, ns: str, name: str, port: int, node_port: int):
        self.proxy, self.ns, self.name, self.port, self.node_port = proxy, ns, name, port, node_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((NODE_HOST, node_port))
            self.sock.listen(64)
        except OSError:
            self.sock.close()
            raise
        self.closed = threading.Event()
        threading.Thread(target=self._accept, name=f"nodeport-{node_port}", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), name=f"nodeport-{self.node_port}-conn",
                             daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            backends = self.proxy.gateway.backends(SimpleNamespace(service=f"{self.name}.{self.ns}:{self.port}",
                                                                   namespace=self.ns))
            _, host, port = backends[next(self.proxy.gateway._rr) % len(backends)]
            if not host.startswith("127.") and host != "localhost":   # the network rule
                raise OSError(f"backend {host} is not a loopback address")
            upstream = socket.create_connection((host, port), timeout=5)
        except Exception as e:   # no ready backend: the connection is refused, as kube-proxy's REJECT rule
            log.info("nodePort %d (%s/%s:%d): %s", self.node_port, self.ns, self.name, self.port, e)
            conn.close()
            return
        upstream.settimeout(None)
        t = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        t.start()
        _pipe(conn, upstream)
        t.join()
        conn.close()
        upstream.close()

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.close()


class NodePorts:
    """The node's NodePort listeners, kept in step with the Services every `SYNC` seconds."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.listeners: dict[tuple[str, str, int, int], _Listener] = {}
        self.stopping = threading.Event()
        self._failed: set[int] = set()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="nodeports", daemon=True).start()

    def wanted(self) -> set[tuple[str, str, int, int]]:
        out = set()
        for svc in self.gateway.store.list(SERVICES)[0]:
            spec = svc.get("spec") or {}
            if spec.get("type") not in ("NodePort", "LoadBalancer") or svc["metadata"].get("deletionTimestamp"):
                continue
            for p in spec.get("ports") or []:
                if p.get("nodePort") and p.get("protocol", "TCP") == "TCP":
                    out.add((svc["metadata"].get("namespace", ""), svc["metadata"]["name"], int(p["port"]),
                             int(p["nodePort"])))
        return out

    def sync(self) -> None:
        wanted = self.wanted()
        for key in [k for k in self.listeners if k not in wanted]:
            self.listeners.pop(key).close()
        for key in sorted(wanted - set(self.listeners)):
            try:
                self.listeners[key] = _Listener(self, *key)
                self._failed.discard(key[3])
            except OSError as e:
                if key[3] not in self._failed:
                    log.warning("nodePort %d of service %s/%s cannot listen: %s", key[3], key[0], key[1], e)
                    self._failed.add(key[3])

    def _loop(self) -> None:
        while not self.stopping.wait(SYNC):
            try:
                self.sync()
            except Exception:
                log.exception("nodePort sync")

    def stop(self) -> None:
        self.stopping.set()
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
