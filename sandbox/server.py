"""The sandbox process: API server + lifecycle + pluggable components, files in the sandbox directory."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import secrets
import signal
import threading
import time

from . import components
from .apiserver.app import App
from .apiserver.audit import Audit
from .apiserver.auth import ADMIN, Authenticator
from .apiserver.bootstrap import bootstrap
from .apiserver.httpserver import make_server
from .apiserver.kinds import Registry
from .apiserver.lifecycle import Lifecycle
from .apiserver.objects import Ctx, Objects
from .apiserver.store import Store
from .certs import ensure_certs
from .cli import write_info

log = logging.getLogger("sandbox")


def _load_state(directory: str) -> dict:
    path = os.path.join(directory, "state.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    state = {"admin_token": secrets.token_urlsafe(32), "signing_key": secrets.token_hex(32)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f)
    return state


class Sandbox:
    def __init__(self, directory: str, port: int = 0, host: str = "127.0.0.1", snapshot: bool = True,
                 history: int = 20000, component_specs: list[str] | None = None, nodes: int | None = None):
        self.dir = os.path.abspath(directory)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.host, self.port, self.snapshot_enabled = host, port, snapshot
        # how many simulated nodes (sandbox-node, sandbox-node-2, ...): --nodes, else $MLOPS_SANDBOX_NODES, else 1
        self.nodes = max(1, nodes or int(os.environ.get("MLOPS_SANDBOX_NODES") or 1))
        state = _load_state(self.dir)
        self.token = state["admin_token"]
        self.certs = ensure_certs(self.dir)
        with open(self.certs["ca.crt"], encoding="ascii") as f:
            self.ca_pem = f.read()
        self.registry = Registry()
        self.store = Store(history)
        self.objects = Objects(self.registry, self.store)
        self.auth = Authenticator(self.store, self.token, bytes.fromhex(state["signing_key"]))
        self.audit = Audit(os.path.join(self.dir, "logs", "audit.jsonl"))
        self.app = App(self.registry, self.store, self.objects, self.auth, self.audit)
        # webhooks are dialled at their Service's endpoints (as --enable-aggregator-routing), where App.dial says
        self.objects.admission.dial = lambda ns, pod, ip, port: self.app.dial(ns, pod, ip, port)  # noqa: PLW0108 - app.dial is replaced later
        self.lifecycle = Lifecycle(self.objects, self.registry, self.store, self.auth, self.ca_pem)
        self.env: dict[str, str] = {}
        self.components: list = []
        self.component_specs = list(components.COMPONENTS if component_specs is None else component_specs)
        self.httpd = None
        self.admin_ctx = Ctx(ADMIN, {}, "sandbox")

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.dir, "kubeconfig")

    def _bootstrap(self) -> None:
        snap = os.path.join(self.dir, "snapshot.json")
        if self.snapshot_enabled and os.path.exists(snap):
            with open(snap, encoding="utf-8") as f:
                self.store.load(f.read())
            from .apiserver import crds
            for crd in self.store.list(crds.CRD_KEY)[0]:
                crds.sync(self.registry, crd, crd["metadata"]["name"])
        bootstrap(self.objects, self.admin_ctx)

    def start(self) -> None:
        self._bootstrap()
        self.httpd = make_server(self.app, self.host, self.port, self.certs["server.crt"], self.certs["server.key"],
                                 self.certs["ca.crt"])
        self.port = self.httpd.server_address[1]
        self.app.server_address = f"{self.host}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http",
                         daemon=True).start()
        self.lifecycle.start()
        self._write_kubeconfig()
        self.env["KUBECONFIG"] = self.kubeconfig
        for spec in self.component_specs:
            module, _, factory = spec.partition(":")
            comp = getattr(importlib.import_module(module), factory)(self)
            comp.start()
            self.components.append(comp)
        self._write_info()

    def _write_kubeconfig(self) -> None:
        """DIR/kubeconfig (the admin token) and DIR/kubeconfig-x509 (the admin client certificate), as the real
        control plane's start writes them."""
        self._kubeconfig_file(self.kubeconfig, {"token": self.token})
        self._kubeconfig_file(os.path.join(self.dir, "kubeconfig-x509"),
                              {"client-certificate": self.certs["admin.crt"], "client-key": self.certs["admin.key"]})

    def _kubeconfig_file(self, path: str, user: dict) -> None:
        import base64

        import yaml
        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
               "clusters": [{"name": "sandbox", "cluster": {
                   "server": self.server,
                   "certificate-authority-data": base64.b64encode(self.ca_pem.encode()).decode()}}],
               "users": [{"name": "sandbox-admin", "user": user}],
               "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox-admin",
                                                            "namespace": "default"}}],
               "current-context": "sandbox"}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)

    def info(self) -> dict:
        return {"dir": self.dir, "kubeconfig": self.kubeconfig, "server": self.server, "token": self.token,
                "ca_file": self.certs["ca.crt"], "env": dict(self.env), "pid": os.getpid(), "nodes": self.nodes}

    def _write_info(self) -> None:
        write_info(self.dir, self.env, self.info())

    def stop(self) -> None:
        """Stop serving, snapshot at once (a slow component must not cost the state), then stop the rest."""
        self.app.stopping.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        self._snapshot()
        for comp in reversed(self.components):
            t0 = time.monotonic()
            try:
                comp.stop()
            except Exception:
                log.exception("stopping component %r failed", comp)
            log.info("stopped %s in %.2fs", type(comp).__name__, time.monotonic() - t0)
        self.lifecycle.stop()
        self._snapshot()
        self.audit.close()

    def _snapshot(self) -> None:
        if not self.snapshot_enabled:
            return
        tmp = os.path.join(self.dir, "snapshot.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.store.dump())
        os.replace(tmp, os.path.join(self.dir, "snapshot.json"))


def serve(directory: str, port: int = 0, snapshot: bool = True, nodes: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT."""
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    logging.basicConfig(filename=os.path.join(directory, "logs", "apiserver.log"), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sb = Sandbox(directory, port, snapshot=snapshot, nodes=nodes)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sb.start()
    log.info("sandbox ready at %s", sb.server)
    while not done.wait(1.0):
        pass
    log.info("stopping")
    sb.stop()
    for name in ("sandbox.json", "sandbox.pid"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(sb.dir, name))
