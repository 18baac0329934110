"""Hooks for components that run real processes for pods (Seldon model servers, Argo steps, ...).

Pod runners
-----------
``sandbox.pod_runners`` is a `RunnerRegistry`. A later component registers a runner::

    sandbox.pod_runners.register(MyRunner(), priority=10)

A runner is any object with

``matches(pod: dict) -> bool``
    whether it runs this pod (checked once, when the kubelet starts the pod; highest priority first);
``start(pod: dict, ctx: RunContext) -> None``
    start the pod's containers (non-blocking). Write each container's output to ``ctx.log_path(container)``
    (``DIR/logs/pods/<namespace>/<pod>/<container>.log``, the contract `kubectl logs` reads) and record
    listening addresses with ``ctx.register(container_port, host, port)``;
``status(pod: dict) -> RunStatus``
    polled by the kubelet about every `poll_interval` seconds and mirrored into the pod's status;
``stop(pod: dict) -> None``
    the pod is being deleted (or the sandbox stops): end its processes, without blocking. Must be idempotent;
``stopped(pod: dict) -> bool`` (optional)
    whether the processes `stop` ended are all gone. When a pod is deleted gracefully (it has a
    deletionTimestamp) the kubelet calls `stop`, polls `stopped` every `poll_interval` and only then marks the
    containers terminated and deletes the pod for good; a runner without `stopped` counts as stopped at once.

Pods that no runner matches are simulated (`sandbox.controllers.simulated`): their image must be in the sandbox's
registry (`sandbox.registry`), their command decides how long they run and their exit code, probes decide Ready;
the table is in sandbox/controllers/README.md ("What simulated containers do").

Endpoints registry
------------------
``sandbox.endpoints_registry`` maps (namespace, pod, containerPort) -> (host, port) where that pod's port
really listens on this machine. The gateway resolves Service -> Endpoints (ready pods) -> this table.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field


@dataclass
class ContainerStatus:
    name: str
    state: str = "running"          # waiting | running | terminated
    ready: bool = False
    exit_code: int | None = None
    reason: str = ""                # e.g. ContainerCreating, CrashLoopBackOff, Completed, Error
    message: str = ""
    restart_count: int = 0
    last_state: dict | None = None  # lastState to write (None: keep what the pod status has)


@dataclass
class RunStatus:
    """What a runner reports. phase: Pending | Running | Succeeded | Failed."""
    phase: str = "Running"
    ready: bool = False
    message: str = ""
    reason: str = ""
    containers: list[ContainerStatus] = field(default_factory=list)   # empty: derived from phase/ready


class EndpointsRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._table: dict[tuple[str, str, int], tuple[str, int]] = {}

    def register(self, namespace: str, pod: str, container_port: int, host: str, port: int) -> None:
        with self._lock:
            self._table[(namespace, pod, int(container_port))] = (host, int(port))

    def unregister_pod(self, namespace: str, pod: str) -> None:
        with self._lock:
            for k in [k for k in self._table if k[0] == namespace and k[1] == pod]:
                del self._table[k]

    def lookup(self, namespace: str, pod: str, container_port: int) -> tuple[str, int] | None:
        with self._lock:
            return self._table.get((namespace, pod, int(container_port)))

    def items(self) -> list[dict]:
        with self._lock:
            return [{"namespace": k[0], "pod": k[1], "containerPort": k[2], "host": v[0], "port": v[1]}
                    for k, v in sorted(self._table.items())]


class RunContext:
    """Given to a runner's start(): where logs go and how to publish addresses."""

    def __init__(self, sandbox_dir: str, registry: EndpointsRegistry, pod: dict):
        self.dir = sandbox_dir
        self.registry = registry
        self.namespace = pod["metadata"].get("namespace", "")
        self.pod = pod["metadata"]["name"]

    def log_dir(self) -> str:
        d = pod_log_dir(self.dir, self.namespace, self.pod)
        os.makedirs(d, exist_ok=True)
        return d

    def log_path(self, container: str) -> str:
        return os.path.join(self.log_dir(), f"{container}.log")

    def register(self, container_port: int, host: str, port: int) -> None:
        self.registry.register(self.namespace, self.pod, container_port, host, port)


class ProcessRunner:
    """What the process-running pod runners share: one worker per pod UID (a worker has ``pod_name``, a
    ``stopping`` Event and a blocking ``stop()``), stops in the background so the kubelet is not held up, and
    `stop_all` when the sandbox stops."""

    join_timeout = 15.0

    def __init__(self, sandbox):
        self.sb = sandbox
        self.workers: dict[str, object] = {}
        self.lock = threading.Lock()
        self.closing = False
        self._stoppers: list[threading.Thread] = []
        self._stopping: dict[str, threading.Thread] = {}   # uid -> the thread ending that pod's worker

    def stop_worker(self, uid: str, then=None) -> None:
        """End the worker of pod `uid` in the background, then call ``then(worker)``. Idempotent."""
        with self.lock:
            w = self.workers.pop(uid, None)
            if w is None:
                return
            w.stopping.set()

            def run():
                w.stop()
                if then is not None:
                    then(w)
            t = threading.Thread(target=run, name=f"stop-{w.pod_name}", daemon=True)
            self._stoppers = [x for x in self._stoppers if x.is_alive()] + [t]
            self._stopping = {u: x for u, x in self._stopping.items() if x.is_alive()}
            self._stopping[uid] = t
            t.start()

    def stopped(self, pod: dict) -> bool:
        """Whether the worker of this pod has ended (after `stop_worker`), or there never was one."""
        uid = pod["metadata"].get("uid", "")
        with self.lock:
            if uid in self.workers:
                return False
            t = self._stopping.get(uid)
            return t is None or not t.is_alive()

    def stop_all(self) -> None:
        """The sandbox stops: end every worker (and wait for them)."""
        with self.lock:
            self.closing = True
            workers = list(self.workers.values())
            self.workers.clear()
            stoppers = list(self._stoppers)
        for w in workers:
            w.stopping.set()
        threads = [threading.Thread(target=w.stop, daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads + stoppers:
            t.join(timeout=self.join_timeout)


def pod_log_dir(sandbox_dir: str, namespace: str, pod: str) -> str:
    return os.path.join(sandbox_dir, "logs", "pods", namespace, pod)


class RunnerRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._runners: list[tuple[int, int, object]] = []
        self._n = 0

    def register(self, runner, priority: int = 0) -> None:
        with self._lock:
            self._n += 1
            self._runners.append((-priority, self._n, runner))
            self._runners.sort(key=lambda t: (t[0], t[1]))

    def unregister(self, runner) -> None:
        with self._lock:
            self._runners = [t for t in self._runners if t[2] is not runner]

    def find(self, pod: dict):
        with self._lock:
            runners = [t[2] for t in self._runners]
        for r in runners:
            try:
                if r.matches(pod):
                    return r
            except Exception:  # noqa: S112 - a broken runner must not stop the kubelet
                continue
        return None


def pod_runners(sandbox) -> RunnerRegistry:
    """The sandbox's runner registry (created on first use, so components may start in any order)."""
    reg = getattr(sandbox, "pod_runners", None)
    if reg is None:
        reg = sandbox.pod_runners = RunnerRegistry()
    return reg


def endpoints_registry(sandbox) -> EndpointsRegistry:
    reg = getattr(sandbox, "endpoints_registry", None)
    if reg is None:
        reg = sandbox.endpoints_registry = EndpointsRegistry()
    return reg
