"""The pod-runner and endpoints-registry hooks, with an in-process sandbox and a fake runner."""

from __future__ import annotations

import threading

import pytest
from sbx import wait_for

from sandbox.controllers.runtime import ContainerStatus, RunStatus

pytestmark = pytest.mark.sandbox


class FakeRunner:
    def __init__(self):
        self.ready = False
        self.phase = "Running"
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.lock = threading.Lock()

    def matches(self, pod):
        return (pod["metadata"].get("labels") or {}).get("runner") == "fake"

    def start(self, pod, ctx):
        self.started.append(pod["metadata"]["name"])
        with open(ctx.log_path("main"), "a", encoding="utf-8") as f:
            f.write("fake server listening\n")
        ctx.register(8080, "127.0.0.1", 18080)

    def status(self, pod):
        if self.phase != "Running":
            return RunStatus(self.phase, False, containers=[ContainerStatus("main", "terminated", False, 0,
                                                                            "Completed")])
        return RunStatus("Running", self.ready)

    def stop(self, pod):
        self.stopped.append(pod["metadata"]["name"])


def _pod(name, runner=True):
    labels = {"runner": "fake"} if runner else {"runner": "none"}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "model:1" if runner else "nginx:1.25",
                                     "ports": [{"containerPort": 8080}]}]}}


def test_runner_drives_pod_status_logs_and_endpoints(tmp_path):
    from sandbox.server import Sandbox
    sb = Sandbox(str(tmp_path), snapshot=False, component_specs=["sandbox.controllers:component"])
    sb.start()
    try:
        runner = FakeRunner()
        sb.pod_runners.register(runner, priority=5)
        kind = sb.objects.kind_for_key(("", "pods"))
        sb.objects.create(kind, "default", _pod("model-0"), sb.admin_ctx)
        sb.objects.create(kind, "default", _pod("plain", runner=False), sb.admin_ctx)
        wait_for(lambda: runner.started == ["model-0"], what="runner start")

        def pod(name):
            return sb.store.get(("", "pods"), "default", name)

        def ready(name):
            p = pod(name) or {}
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in (p.get("status") or {}).get("conditions") or [])
        wait_for(lambda: ready("plain"), what="simulated pod ready")
        wait_for(lambda: (pod("model-0").get("status") or {}).get("phase") == "Running", what="running")
        assert not ready("model-0")                      # runner says not ready: stays unready
        assert sb.endpoints_registry.lookup("default", "model-0", 8080) == ("127.0.0.1", 18080)
        assert b"fake server listening" in sb.app.pod_logs("default", "model-0", {})
        runner.ready = True
        wait_for(lambda: ready("model-0"), what="ready after the runner says so")
        runner.phase = "Succeeded"
        wait_for(lambda: pod("model-0")["status"]["phase"] == "Succeeded", what="succeeded")
        st = pod("model-0")["status"]["containerStatuses"][0]
        assert st["state"]["terminated"]["reason"] == "Completed"
        assert runner.stopped == ["model-0"]
        sb.objects.delete(kind, "default", "model-0", {}, sb.admin_ctx)
        wait_for(lambda: sb.endpoints_registry.lookup("default", "model-0", 8080) is None, what="unregistered")
    finally:
        sb.stop()
