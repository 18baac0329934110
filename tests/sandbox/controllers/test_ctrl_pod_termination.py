"""Graceful pod deletion: DELETE sets deletionTimestamp (now + grace) and returns the pod, the kubelet stops it,
marks it terminal and deletes it for good with grace 0; what deletes pods (ReplicaSets, namespaces, kubectl) keeps
working."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import yaml
from ctrl_helpers import deployment
from sbx import wait_for

from sandbox.apiserver.meta import parse_time

pytestmark = pytest.mark.sandbox
PODS = ("", "pods")


def _pod(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}], **spec}}


def _ready(p: dict | None) -> bool:
    return bool(p) and any(c["type"] == "Ready" and c["status"] == "True"
                           for c in (p.get("status") or {}).get("conditions") or [])


def _running_pod(kube, name: str, **spec) -> dict:
    code, out = kube.req("POST", f"/api/v1/namespaces/{kube.ns}/pods", _pod(name, **spec))
    assert code == 201, out

    def ready():
        p = kube.get(f"/api/v1/namespaces/{kube.ns}/pods/{name}")
        return p if _ready(p) else None
    return wait_for(ready, what=f"pod {name} ready")


def _events(sandbox, ns: str, name: str, rv: str, until: str = "DELETED", timeout: int = 20) -> list[dict]:
    """Watch events of one pod from resourceVersion `rv` until an event of type `until` (python client)."""
    from kubernetes import client, watch
    api = sandbox.api_client()
    try:
        out = []
        w = watch.Watch()
        for ev in w.stream(client.CoreV1Api(api).list_namespaced_pod, ns, field_selector=f"metadata.name={name}",
                           resource_version=rv, timeout_seconds=timeout, _preload_content=True):
            out.append({"type": ev["type"], "obj": ev["raw_object"]})
            if ev["type"] == until:
                w.stop()
        return out
    finally:
        api.close()


# -- the API server and the kubelet ------------------------------------------------------------------------------------
def test_delete_returns_the_pod_with_deletion_timestamp_then_the_kubelet_removes_it(sandbox, kube):
    pod = _running_pod(kube, "graceful", terminationGracePeriodSeconds=45)
    path = f"/api/v1/namespaces/{kube.ns}/pods/graceful"
    t0 = time.time()
    code, out = kube.req("DELETE", path)
    assert code == 200, out
    assert out["kind"] == "Pod"
    m = out["metadata"]
    assert m["deletionGracePeriodSeconds"] == 45
    deadline = parse_time(m["deletionTimestamp"]).timestamp()
    assert t0 + 43 <= deadline <= t0 + 47
    # gone promptly (a simulated pod stops at once), not after the 45 s grace period
    wait_for(lambda: kube.req("GET", path)[0] == 404, timeout=10, what="the pod to be gone")
    evs = _events(sandbox, kube.ns, "graceful", pod["metadata"]["resourceVersion"])
    types = [e["type"] for e in evs]
    assert types[0] == "MODIFIED" and types[-1] == "DELETED", types
    first = evs[0]["obj"]["metadata"]
    assert first["deletionTimestamp"] == m["deletionTimestamp"] and first["deletionGracePeriodSeconds"] == 45
    final = evs[-1]["obj"]
    assert final["status"]["phase"] in ("Succeeded", "Failed")
    assert all("terminated" in c["state"] for c in final["status"]["containerStatuses"])
    assert not any(c["status"] == "True" for c in final["status"]["conditions"] if c["type"] == "Ready")
    writers = {e["user"] for e in sandbox.audit() if e["method"] == "DELETE" and e["path"] == path}
    assert "system:node:sandbox-node" in writers   # the kubelet's final delete
    assert any(e["reason"] == "Killing" for e in kube.events("graceful"))


def test_grace_period_zero_deletes_at_once(sandbox, kube):
    _running_pod(kube, "forced")
    path = f"/api/v1/namespaces/{kube.ns}/pods/forced"
    code, out = kube.req("DELETE", path + "?gracePeriodSeconds=0")
    assert code == 200 and out["kind"] == "Pod", out
    assert kube.req("GET", path)[0] == 404
    _running_pod(kube, "forced-body")
    code, out = kube.req("DELETE", f"/api/v1/namespaces/{kube.ns}/pods/forced-body",
                         {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert code == 200, out
    assert kube.req("GET", f"/api/v1/namespaces/{kube.ns}/pods/forced-body")[0] == 404


def test_unscheduled_pod_is_deleted_at_once(sandbox, kube):
    body = _pod("unscheduled", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "no-such-claim"}}])
    code, out = kube.req("POST", f"/api/v1/namespaces/{kube.ns}/pods", body)
    assert code == 201, out
    path = f"/api/v1/namespaces/{kube.ns}/pods/unscheduled"
    wait_for(lambda: any(c["type"] == "PodScheduled" and c["status"] == "False"
                         for c in (kube.get(path).get("status") or {}).get("conditions") or []),
             what="the pod to be unschedulable")
    code, out = kube.req("DELETE", path)
    assert code == 200, out
    assert kube.req("GET", path)[0] == 404


def test_kubectl_delete_pod_returns_once_gone_and_wait_for_delete(sandbox, kube):
    _running_pod(kube, "by-kubectl")
    out = kube.kubectl("delete", "pod", "by-kubectl", timeout=60)
    assert 'pod "by-kubectl" deleted' in out.stdout
    assert kube.req("GET", f"/api/v1/namespaces/{kube.ns}/pods/by-kubectl")[0] == 404
    _running_pod(kube, "waited")
    kube.kubectl("delete", "pod", "waited", "--wait=false")
    p = kube.get(f"/api/v1/namespaces/{kube.ns}/pods/waited")
    assert p is None or p["metadata"].get("deletionTimestamp")
    kube.kubectl("wait", "--for=delete", "pod/waited", "--timeout=30s", timeout=60)
    assert kube.req("GET", f"/api/v1/namespaces/{kube.ns}/pods/waited")[0] == 404


def test_deployment_scale_down_terminates_pods(sandbox, kube):
    kube.apply(deployment("shrink", replicas=3))
    dpath = f"/apis/apps/v1/namespaces/{kube.ns}/deployments/shrink"
    wait_for(lambda: (kube.get(dpath).get("status") or {}).get("availableReplicas") == 3, timeout=30,
             what="3 available")
    rv = kube.get(f"/api/v1/namespaces/{kube.ns}/pods")["metadata"]["resourceVersion"]
    kube.kubectl("scale", "deployment/shrink", "--replicas=1")

    def settled():
        d = kube.get(dpath).get("status") or {}
        pods = kube.json("pods", "-l", "app=shrink")["items"]
        return d.get("replicas") == 1 and d.get("availableReplicas") == 1 and len(pods) == 1 and \
            not pods[0]["metadata"].get("deletionTimestamp")
    wait_for(settled, timeout=30, what="one pod left")
    # the two pods went through Terminating: a MODIFIED event with deletionTimestamp before their DELETED
    code, _, raw = sandbox.request("GET", f"/api/v1/namespaces/{kube.ns}/pods?watch=1&resourceVersion={rv}"
                                          "&timeoutSeconds=1&labelSelector=app%3Dshrink")
    assert code == 200
    evs = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    deleted = {e["object"]["metadata"]["name"] for e in evs if e["type"] == "DELETED"}
    assert len(deleted) == 2
    for name in deleted:
        mine = [e for e in evs if e["object"]["metadata"]["name"] == name]
        marked = next(i for i, e in enumerate(mine) if e["object"]["metadata"].get("deletionTimestamp"))
        assert mine[marked]["type"] == "MODIFIED" and mine[-1]["type"] == "DELETED"
        assert mine[marked]["object"]["metadata"]["deletionGracePeriodSeconds"] == 30


def test_namespace_deletion_waits_for_running_pods(sandbox):
    ns = "gone-" + uuid.uuid4().hex[:8]
    sandbox.kubectl("create", "namespace", ns)
    sandbox.kubectl("-n", ns, "apply", "-f", "-", input=deployment("web", replicas=2))
    wait_for(lambda: len([p for p in json.loads(sandbox.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)
                          ["items"] if _ready(p)]) == 2, timeout=30, what="2 ready pods")
    t0 = time.monotonic()
    sandbox.kubectl("delete", "namespace", ns, "--timeout=60s", timeout=90)
    assert time.monotonic() - t0 < 30
    assert sandbox.request("GET", f"/api/v1/namespaces/{ns}")[0] == 404


# -- in-process sandboxes: the API server alone, a process runner, a restart -------------------------------------------
def _bound_pod(name: str, grace: int = 30) -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeName": "sandbox-node", "terminationGracePeriodSeconds": grace,
                                                 "containers": [{"name": "main", "image": "nginx:1.25"}]}}


def test_second_delete_may_only_shorten_the_grace_period(tmp_path):
    from sandbox.server import Sandbox
    sb = Sandbox(str(tmp_path), snapshot=False, component_specs=[])   # no kubelet: the pod stays Terminating
    sb.start()
    try:
        kind = sb.objects.kind_for_key(PODS)
        sb.objects.create(kind, "default", _bound_pod("p", 60), sb.admin_ctx)
        obj, removed = sb.objects.delete(kind, "default", "p", {}, sb.admin_ctx)
        assert not removed and obj["metadata"]["deletionGracePeriodSeconds"] == 60
        ts = parse_time(obj["metadata"]["deletionTimestamp"]).timestamp()
        again, removed = sb.objects.delete(kind, "default", "p", {"gracePeriodSeconds": 120}, sb.admin_ctx)
        assert not removed and again["metadata"] == obj["metadata"]   # longer: nothing changes
        again, removed = sb.objects.delete(kind, "default", "p", {}, sb.admin_ctx)
        assert not removed and again["metadata"] == obj["metadata"]
        shorter, removed = sb.objects.delete(kind, "default", "p", {"gracePeriodSeconds": 10}, sb.admin_ctx)
        assert not removed and shorter["metadata"]["deletionGracePeriodSeconds"] == 10
        assert parse_time(shorter["metadata"]["deletionTimestamp"]).timestamp() == ts - 50
        # an update does not remove a pod whose graceful deletion is under way
        cur = sb.store.get(PODS, "default", "p")
        sb.objects.update(kind, "default", "p", dict(cur, metadata=dict(cur["metadata"], labels={"a": "b"})),
                          sb.admin_ctx)
        assert sb.store.get(PODS, "default", "p") is not None
        _, removed = sb.objects.delete(kind, "default", "p", {"gracePeriodSeconds": 0}, sb.admin_ctx)
        assert removed and sb.store.get(PODS, "default", "p") is None
        # finished pods go at once; finalizers still hold a pod after the grace period
        body = _bound_pod("done")
        sb.objects.create(kind, "default", body, sb.admin_ctx)
        cur = sb.store.get(PODS, "default", "done")
        sb.objects.update(kind, "default", "done", dict(cur, status={"phase": "Succeeded"}), sb.admin_ctx,
                          sub="status")
        _, removed = sb.objects.delete(kind, "default", "done", {}, sb.admin_ctx)
        assert removed
        held = _bound_pod("held")
        held["metadata"]["finalizers"] = ["example.com/hold"]
        sb.objects.create(kind, "default", held, sb.admin_ctx)
        obj, removed = sb.objects.delete(kind, "default", "held", {}, sb.admin_ctx)
        assert not removed and obj["metadata"]["deletionGracePeriodSeconds"] == 30
        obj, removed = sb.objects.delete(kind, "default", "held", {"gracePeriodSeconds": 0}, sb.admin_ctx)
        assert not removed and obj["metadata"]["deletionGracePeriodSeconds"] == 0
        cur = sb.store.get(PODS, "default", "held")
        sb.objects.update(kind, "default", "held", dict(cur, metadata=dict(cur["metadata"], finalizers=[])),
                          sb.admin_ctx)
        assert sb.store.get(PODS, "default", "held") is None
    finally:
        sb.stop()


class _Worker:
    """A real process that takes a moment to exit on SIGTERM."""

    def __init__(self, pod: dict):
        self.pod_name = pod["metadata"]["name"]
        self.stopping = threading.Event()
        self.proc = subprocess.Popen([sys.executable, "-c", (
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1.5), sys.exit(0)))\n"
            "print('up', flush=True)\n"
            "time.sleep(300)\n")], stdout=subprocess.PIPE)
        self.proc.stdout.readline()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _process_runner(sb):
    from sandbox.controllers.runtime import ProcessRunner, RunStatus

    class Runner(ProcessRunner):
        def matches(self, pod):
            return (pod["metadata"].get("labels") or {}).get("runner") == "process"

        def start(self, pod, ctx):
            with self.lock:
                self.workers[pod["metadata"]["uid"]] = _Worker(pod)

        def status(self, pod):
            return RunStatus("Running", True) if pod["metadata"]["uid"] in self.workers else None

        def stop(self, pod):
            self.stop_worker(pod["metadata"]["uid"])

    return Runner(sb)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:   # a zombie counts as gone
        return f.read().split(")")[-1].split()[0] != "Z"


def test_process_runner_pod_is_gone_only_once_its_process_is(tmp_path):
    from sandbox.server import Sandbox
    sb = Sandbox(str(tmp_path), snapshot=False, component_specs=["sandbox.controllers:component"])
    sb.start()
    try:
        runner = _process_runner(sb)
        sb.pod_runners.register(runner, priority=5)
        kind = sb.objects.kind_for_key(PODS)
        body = _bound_pod("proc")
        body["metadata"]["labels"] = {"runner": "process"}
        sb.objects.create(kind, "default", body, sb.admin_ctx)
        wait_for(lambda: _ready(sb.store.get(PODS, "default", "proc")), what="process pod ready")
        pid = next(iter(runner.workers.values())).proc.pid
        watcher = sb.store.watch(PODS)
        t0 = time.monotonic()
        obj, removed = sb.objects.delete(kind, "default", "proc", {}, sb.admin_ctx)
        assert not removed and obj["metadata"]["deletionTimestamp"]
        try:
            wait_for(lambda: sb.store.get(PODS, "default", "proc") is None, timeout=15, what="the pod to be gone")
            assert not _alive(pid)               # the process ended before the pod went away
            assert 1.0 < time.monotonic() - t0 < 10
            seen = []
            ev = watcher.get(timeout=0)
            while ev is not None:
                seen.append(ev)
                ev = watcher.get(timeout=0)
        finally:
            watcher.close()
        last = [e for e in seen if e.obj["metadata"]["name"] == "proc"]
        assert last[0].type == "MODIFIED" and last[0].obj["metadata"]["deletionGracePeriodSeconds"] == 30
        assert last[-1].type == "DELETED"
        cs = last[-1].obj["status"]["containerStatuses"][0]
        assert cs["state"]["terminated"]["exitCode"] == 143 and last[-1].obj["status"]["phase"] == "Failed"
    finally:
        sb.stop()


def test_pods_terminating_at_stop_are_finished_after_a_restart(tmp_path):
    from sandbox.server import Sandbox
    sb = Sandbox(str(tmp_path), snapshot=True, component_specs=[])   # no kubelet: the pod stays Terminating
    sb.start()
    try:
        kind = sb.objects.kind_for_key(PODS)
        sb.objects.create(kind, "default", _bound_pod("left", 300), sb.admin_ctx)
        cur = sb.store.get(PODS, "default", "left")
        sb.objects.update(kind, "default", "left", dict(cur, status={"phase": "Running"}), sb.admin_ctx,
                          sub="status")
        sb.objects.delete(kind, "default", "left", {}, sb.admin_ctx)
        assert sb.store.get(PODS, "default", "left")["metadata"]["deletionTimestamp"]
    finally:
        sb.stop()
    sb = Sandbox(str(tmp_path), snapshot=True, component_specs=["sandbox.controllers:component"])
    sb.start()
    try:
        wait_for(lambda: sb.store.get(PODS, "default", "left") is None, timeout=10, what="the pod to be finished")
    finally:
        sb.stop()


def _watch_pods(sandbox, ns: str, rv: str) -> list[dict]:
    code, _, raw = sandbox.request("GET", f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}"
                                          "&timeoutSeconds=1")
    assert code == 200
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


@pytest.mark.parametrize("cascade", ["foreground", "background"])
def test_deleting_a_deployment_deletes_its_pods_gracefully(sandbox, kube, cascade):
    kube.apply(deployment("owned", replicas=2))
    wait_for(lambda: len([p for p in kube.json("pods", "-l", "app=owned")["items"] if _ready(p)]) == 2, timeout=30,
             what="2 ready pods")
    rv = kube.get(f"/api/v1/namespaces/{kube.ns}/pods")["metadata"]["resourceVersion"]
    kube.kubectl("delete", "deployment", "owned", f"--cascade={cascade}", "--timeout=60s", timeout=90)
    if cascade == "foreground":   # the owner went only after its pods
        assert not kube.json("pods", "-l", "app=owned")["items"]
    wait_for(lambda: not kube.json("pods", "-l", "app=owned")["items"], timeout=30, what="the pods to be gone")
    assert not kube.json("replicasets")["items"]
    evs = _watch_pods(sandbox, kube.ns, rv)
    assert sum(1 for e in evs if e["type"] == "DELETED") == 2
    assert all(e["object"]["metadata"].get("deletionGracePeriodSeconds") == 30 for e in evs
               if e["type"] == "MODIFIED" and e["object"]["metadata"].get("deletionTimestamp")
               and e["object"]["status"]["phase"] == "Running")


def test_recreate_deployment_starts_new_pods_after_the_old_ones_terminated(sandbox, kube):
    body = yaml.safe_load(deployment("recreate", replicas=1))
    body["spec"]["strategy"] = {"type": "Recreate"}
    kube.apply(json.dumps(body))
    dpath = f"/apis/apps/v1/namespaces/{kube.ns}/deployments/recreate"
    wait_for(lambda: (kube.get(dpath).get("status") or {}).get("availableReplicas") == 1, timeout=30,
             what="available")
    old = kube.json("pods", "-l", "app=recreate")["items"][0]["metadata"]["uid"]
    rv = kube.get(f"/api/v1/namespaces/{kube.ns}/pods")["metadata"]["resourceVersion"]
    kube.kubectl("set", "env", "deployment/recreate", "V=2")

    def rolled():
        pods = kube.json("pods", "-l", "app=recreate")["items"]
        return len(pods) == 1 and pods[0]["metadata"]["uid"] != old and _ready(pods[0])
    wait_for(rolled, timeout=30, what="the new pod ready")
    evs = _watch_pods(sandbox, kube.ns, rv)
    terminal = next(int(e["object"]["metadata"]["resourceVersion"]) for e in evs
                    if e["object"]["metadata"]["uid"] == old and e["object"]["status"].get("phase") in
                    ("Succeeded", "Failed"))
    added = next(int(e["object"]["metadata"]["resourceVersion"]) for e in evs
                 if e["type"] == "ADDED" and e["object"]["metadata"]["uid"] != old)
    assert terminal < added


def test_statefulset_recreates_a_deleted_pod_once_it_is_gone(sandbox, kube):
    kube.apply(json.dumps({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "main", "image": "postgres:16"}]}}}}))
    spath = f"/apis/apps/v1/namespaces/{kube.ns}/statefulsets/db"
    wait_for(lambda: (kube.get(spath).get("status") or {}).get("readyReplicas") == 2, timeout=30, what="2 ready")
    old = kube.get(f"/api/v1/namespaces/{kube.ns}/pods/db-0")["metadata"]["uid"]
    code, out = kube.req("DELETE", f"/api/v1/namespaces/{kube.ns}/pods/db-0")
    assert code == 200 and out["metadata"]["deletionTimestamp"]

    def back():
        p = kube.get(f"/api/v1/namespaces/{kube.ns}/pods/db-0")
        return p and p["metadata"]["uid"] != old and _ready(p)
    wait_for(back, timeout=30, what="db-0 re-created and ready")
    creates = [e for e in sandbox.audit() if e["method"] == "POST" and e["path"].endswith(f"/{kube.ns}/pods")]
    assert all(e["status"] == 201 for e in creates)   # never tried to create db-0 while the old one was there
    kube.kubectl("scale", "statefulset/db", "--replicas=0")
    wait_for(lambda: not kube.json("pods", "-l", "app=db")["items"], timeout=30, what="scaled to 0")


def test_suspending_a_job_deletes_its_pods_without_counting_them_failed(sandbox, kube):
    kube.apply(json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "long"},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"annotations": {"sandbox.local/duration": "120"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}}))
    jpath = f"/apis/batch/v1/namespaces/{kube.ns}/jobs/long"
    wait_for(lambda: (kube.get(jpath).get("status") or {}).get("ready") == 1, timeout=30, what="a ready pod")
    kube.kubectl("patch", "job/long", "--type=merge", "-p", '{"spec": {"suspend": true}}')
    wait_for(lambda: not kube.json("pods", "-l", "job-name=long")["items"], timeout=30, what="the pod to be gone")
    st = kube.get(jpath)["status"]
    assert not st.get("failed") and not st.get("active") and st.get("terminating", 0) == 0
    assert not any(c["type"] == "Failed" for c in st.get("conditions") or [])
    kube.kubectl("patch", "job/long", "--type=merge", "-p", '{"spec": {"suspend": false}}')
    wait_for(lambda: (kube.get(jpath).get("status") or {}).get("active") == 1, timeout=30, what="resumed")
