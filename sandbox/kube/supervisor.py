"""`python -m sandbox serve --control-plane kube`: the real control plane plus the sandbox's components as ordinary
API clients over HTTPS (sandbox/kube/agent.py: the node and kubelet, the hostpath provisioner, the endpoint
publisher, the gateway, the Seldon operator and the Argo controller) and S3, with the same DIR/kubeconfig,
DIR/env and DIR/sandbox.json as the emulator."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import threading

from ..cli import _alive, write_info
from .controlplane import ControlPlane

log = logging.getLogger("sandbox.kube")

# Components that talk to nothing but the network (no emulator internals), started in this order.
COMPONENTS: list[str] = ["sandbox.kube.agent:component", "sandbox.s3:component"]


class KubeSandbox:
    control_plane = "kube"

    def __init__(self, directory: str, port: int = 0):
        self.dir = os.path.abspath(directory)
        self.cp = ControlPlane(self.dir, port)
        self.env: dict[str, str] = {}
        self.components: list = []

    @property
    def server(self) -> str:
        return self.cp.server

    @property
    def kubeconfig(self) -> str:
        return self.cp.kubeconfig

    @property
    def token(self) -> str:
        return self.cp.token

    def start(self) -> None:
        self.cp.start()
        self.env.update(self.cp.env)
        for spec in COMPONENTS:
            module, _, factory = spec.partition(":")
            comp = getattr(importlib.import_module(module), factory)(self)
            comp.start()
            self.components.append(comp)
        self._write_info()

    def info(self) -> dict:
        return {"dir": self.dir, "kubeconfig": self.kubeconfig, "server": self.server, "token": self.token,
                "ca_file": self.cp.pki["ca.crt"], "env": dict(self.env), "pid": os.getpid(),
                "control_plane": self.control_plane, "processes": self.cp.pids(),
                "audit_log": os.path.join(self.dir, "logs", "audit.jsonl"), "version": self.cp.version()}

    def _write_info(self) -> None:
        write_info(self.dir, self.env, self.info())

    def stop(self) -> None:
        for comp in reversed(self.components):
            try:
                comp.stop()
            except Exception:
                log.exception("stopping component %r failed", comp)
        self.cp.stop()


def serve(directory: str, port: int = 0, parent: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT (or until process `parent` is gone: a test session that was
    killed), then stop every process this started."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sb = KubeSandbox(directory, port)
    try:
        sb.start()
        log.info("sandbox (kube control plane) ready at %s", sb.server)
        while not done.wait(1.0):
            dead = [n for n, p in sb.cp.procs.items() if p.poll() is not None]
            if dead:
                log.error("%s exited; stopping the sandbox", ", ".join(dead))
                break
            if parent and not _alive(parent):
                log.error("process %d that owns this sandbox is gone; stopping", parent)
                break
    finally:
        sb.stop()
        for name in ("sandbox.json", "sandbox.pid"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(sb.dir, name))
