"""Deployments, ReplicaSets, pods, StatefulSets, Jobs, CronJobs, Services -> Endpoints, Events, logs."""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import subprocess
import threading
import time

import pytest
import yaml
from ctrl_helpers import deployment
from sbx import wait_for

pytestmark = pytest.mark.sandbox


def test_deployment_rollout_status_and_wait(sandbox, kube):
    mark = sandbox.audit_mark()
    kube.apply(deployment("web", replicas=3))
    out = kube.kubectl("rollout", "status", "deployment/web", "--timeout=30s").stdout
    assert 'deployment "web" successfully rolled out' in out
    kube.kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=10s")
    d = kube.json("deployment", "web")
    st = d["status"]
    assert st["replicas"] == st["readyReplicas"] == st["availableReplicas"] == st["updatedReplicas"] == 3
    assert st["observedGeneration"] == d["metadata"]["generation"]
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    rs = kube.json("rs", "-l", "app=web")["items"]
    assert len(rs) == 1
    h = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs[0]["metadata"]["name"] == f"web-{h}"
    assert rs[0]["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    pods = kube.json("pods", "-l", "app=web")["items"]
    assert len(pods) == 3
    for p in pods:
        assert p["metadata"]["ownerReferences"][0]["name"] == rs[0]["metadata"]["name"]
        assert p["status"]["phase"] == "Running" and p["status"]["podIP"]
        # the network rule: every address the sandbox writes is loopback (a real API server dials these)
        for ip in (p["status"]["podIP"], p["status"]["hostIP"], *(a["ip"] for a in p["status"]["podIPs"])):
            assert ipaddress.ip_address(ip).is_loopback, ip
    # the test client's writes are told apart from the controllers'
    mine = sandbox.writes(mark)
    assert {e["user"] for e in mine} == {"sandbox-admin"}
    everyone = sandbox.writes(mark, user=None)
    users = {e["user"] for e in everyone}
    assert "system:serviceaccount:kube-system:deployment-controller" in users
    assert "system:serviceaccount:kube-system:replicaset-controller" in users
    rs_full = kube.json("rs", rs[0]["metadata"]["name"], "--show-managed-fields")
    managers = {m["manager"] for m in rs_full["metadata"]["managedFields"]}
    assert "kube-controller-manager" in managers
    # Events, readable by kubectl
    reasons = {e["reason"] for e in kube.events("web")}
    assert "ScalingReplicaSet" in reasons
    assert "ScalingReplicaSet" in kube.kubectl("describe", "deployment", "web").stdout


def test_scale_and_rolling_update(kube):
    kube.apply(deployment("app", replicas=2))
    kube.kubectl("rollout", "status", "deployment/app", "--timeout=30s")
    kube.kubectl("scale", "deployment/app", "--replicas=4")
    kube.kubectl("rollout", "status", "deployment/app", "--timeout=30s")
    assert kube.json("deployment", "app")["status"]["availableReplicas"] == 4
    kube.kubectl("set", "image", "deployment/app", "main=nginx:1.27")
    kube.kubectl("rollout", "status", "deployment/app", "--timeout=30s")
    rss = {r["metadata"]["name"]: r for r in kube.json("rs", "-l", "app=app")["items"]}
    assert len(rss) == 2
    new = [r for r in rss.values() if r["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"]
    old = [r for r in rss.values() if r not in new]
    assert new[0]["spec"]["replicas"] == 4 and old[0]["spec"]["replicas"] == 0
    assert new[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = kube.json("pods", "-l", "app=app")["items"]
    assert len(pods) == 4
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.27" for p in pods)
    # rollback reuses the old ReplicaSet
    kube.kubectl("rollout", "undo", "deployment/app")
    kube.kubectl("rollout", "status", "deployment/app", "--timeout=30s")
    rss2 = kube.json("rs", "-l", "app=app")["items"]
    assert {r["metadata"]["name"] for r in rss2} == set(rss)
    back = next(r for r in rss2 if r["metadata"]["name"] == old[0]["metadata"]["name"])
    assert back["spec"]["replicas"] == 4
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_progress_deadline_exceeded(kube):
    manifest = yaml.safe_load(deployment("stuck", replicas=1, annotations={"sandbox.local/ready": "false"}))
    manifest["metadata"]["annotations"] = {}
    manifest["spec"]["progressDeadlineSeconds"] = 1
    kube.apply(yaml.safe_dump(manifest))
    proc = kube.kubectl("rollout", "status", "deployment/stuck", "--timeout=20s", check=False)
    assert proc.returncode != 0
    assert "exceeded its progress deadline" in proc.stderr
    conds = {c["type"]: c for c in kube.json("deployment", "stuck")["status"]["conditions"]}
    assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert conds["Available"]["status"] == "False"
    assert kube.json("deployment", "stuck")["status"]["unavailableReplicas"] == 1


def test_service_endpoints_follow_ready_pods(kube):
    kube.apply(deployment("api", replicas=2) + "---\n" + yaml.safe_dump({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}))
    kube.kubectl("rollout", "status", "deployment/api", "--timeout=30s")

    def addrs():
        ep = kube.get(f"/api/v1/namespaces/{kube.ns}/endpoints/api") or {}
        subs = ep.get("subsets") or []
        return [(a["targetRef"]["name"], s["ports"][0]["port"]) for s in subs for a in s.get("addresses") or []]
    got = wait_for(lambda: len(addrs()) == 2 and addrs(), what="2 endpoints")
    assert {p for _, p in got} == {8080}
    ep = kube.get(f"/api/v1/namespaces/{kube.ns}/endpoints/api")
    assert all(ipaddress.ip_address(a["ip"]).is_loopback for s in ep["subsets"] for a in s["addresses"])
    kube.kubectl("scale", "deployment/api", "--replicas=1")
    wait_for(lambda: len(addrs()) == 1, what="1 endpoint")
    kube.kubectl("delete", "service", "api")
    wait_for(lambda: kube.get(f"/api/v1/namespaces/{kube.ns}/endpoints/api") is None, what="endpoints gone")


def test_statefulset(kube):
    kube.apply(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "updateStrategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}))
    kube.kubectl("rollout", "status", "statefulset/db", "--timeout=30s")
    pods = sorted(p["metadata"]["name"] for p in kube.json("pods", "-l", "app=db")["items"])
    assert pods == ["db-0", "db-1"]
    claims = {c["metadata"]["name"]: c["status"]["phase"] for c in kube.json("pvc")["items"]}
    assert claims == {"data-db-0": "Bound", "data-db-1": "Bound"}
    st = kube.json("statefulset", "db")["status"]
    assert st["readyReplicas"] == 2 and st["currentRevision"] == st["updateRevision"]
    kube.kubectl("set", "image", "statefulset/db", "db=postgres:17")
    kube.kubectl("rollout", "status", "statefulset/db", "--timeout=30s")
    st2 = kube.json("statefulset", "db")["status"]
    assert st2["updateRevision"] != st["updateRevision"] and st2["currentRevision"] == st2["updateRevision"]
    assert st2["updatedReplicas"] == 2
    images = {p["spec"]["containers"][0]["image"] for p in kube.json("pods", "-l", "app=db")["items"]}
    assert images == {"postgres:17"}


def _job(name, **kw):
    tpl = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    if "annotations" in kw:
        tpl["metadata"] = {"annotations": kw.pop("annotations")}
    return yaml.safe_dump({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                           "spec": {"template": tpl, **kw}})


def test_job_complete_and_failed(kube):
    kube.apply(_job("ok", completions=2, parallelism=2) + "---\n" +
               _job("bad", backoffLimit=1, annotations={"sandbox.local/exit-code": "2"}))
    kube.kubectl("wait", "--for=condition=complete", "job/ok", "--timeout=20s")
    kube.kubectl("wait", "--for=condition=failed", "job/bad", "--timeout=20s")
    ok = kube.json("job", "ok")["status"]
    assert ok["succeeded"] == 2 and ok.get("completionTime")
    bad = kube.json("job", "bad")
    assert bad["status"]["failed"] == 2
    failed = next(c for c in bad["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert "BackoffLimitExceeded" in {e["reason"] for e in kube.events("bad")}


def test_cronjob_schedules_jobs(kube):
    kube.apply(yaml.safe_dump({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "@every 1s", "successfulJobsHistoryLimit": 2, "jobTemplate": {"spec": {"template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}))
    wait_for(lambda: len(kube.json("jobs")["items"]) >= 1, timeout=10, what="a scheduled job")
    cj = wait_for(lambda: (kube.json("cronjob", "tick").get("status") or {}).get("lastSuccessfulTime")
                  and kube.json("cronjob", "tick"), timeout=15, what="a successful job")
    assert cj["status"]["lastScheduleTime"]
    job = kube.json("jobs")["items"][0]
    assert job["metadata"]["ownerReferences"][0]["name"] == "tick"
    assert "batch.kubernetes.io/cronjob-scheduled-timestamp" in job["metadata"]["annotations"]
    kube.kubectl("patch", "cronjob", "tick", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    time.sleep(0.3)
    before = {j["metadata"]["name"] for j in kube.json("jobs")["items"]}
    time.sleep(1.5)  # more than one period of the @every 1s schedule
    after = {j["metadata"]["name"] for j in kube.json("jobs")["items"]}
    assert after <= before, after - before  # no new Job (the history limit may prune old ones)


def test_cron_parser():
    import datetime as dt

    from sandbox.controllers.cron import CronError, Schedule
    t0 = dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)   # a Monday
    assert Schedule("*/15 * * * *").next(t0) == t0.replace(minute=15)
    assert Schedule("0 9 * * mon-fri").next(t0) == t0.replace(hour=9)
    assert Schedule("30 2 1 */2 *").next(t0) == t0.replace(day=1, hour=2, minute=30)
    assert Schedule("@monthly").next(t0) == t0.replace(month=2)
    assert Schedule("0 0 13 * 5").next(t0) == dt.datetime(2024, 1, 5, tzinfo=dt.UTC)  # dom OR dow
    for bad in ("* * *", "61 * * * *", "a b c d e"):
        with pytest.raises(CronError):
            Schedule(bad)
    # day-of-week 7 is refused as by robfig/cron (Kubernetes and Argo), and so by mlops.k8s.cron_workflow
    with pytest.raises(CronError, match=r"end of range \(7\) above maximum \(6\)"):
        Schedule("0 0 * * 7")
    with pytest.raises(CronError, match=r"above maximum \(6\)"):
        Schedule("0 0 * * 5-7")
    assert Schedule("0 0 * * 0").next(t0) == dt.datetime(2024, 1, 7, tzinfo=dt.UTC)  # Sunday is 0
    assert Schedule("0 0 * * sun").next(t0) == dt.datetime(2024, 1, 7, tzinfo=dt.UTC)


def test_pod_logs(sandbox, kube):
    kube.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker"},
                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    kube.kubectl("wait", "--for=condition=Ready", "pod/talker", "--timeout=15s")
    logfile = f"{sandbox.dir}/logs/pods/{kube.ns}/talker/c.log"
    with open(logfile, "a", encoding="utf-8") as f:
        f.write("line one\nline two\n")
    out = kube.kubectl("logs", "talker").stdout
    assert out.endswith("line one\nline two\n")
    assert kube.kubectl("logs", "talker", "--tail=1").stdout == "line two\n"
    stamped = kube.kubectl("logs", "talker", "--tail=1", "--timestamps").stdout
    assert stamped.endswith("Z line two\n") and stamped[:4].isdigit()
    code, body = kube.req("GET", f"/api/v1/namespaces/{kube.ns}/pods/talker/log?container=nope")
    assert code == 400 and "not valid" in body["message"]
    # follow streams appended lines, and ends when the pod is deleted. The stream is known to be open once a probe
    # line appended after kubectl started comes out of it (--tail=0: nothing written before it opened does).
    env = dict(os.environ, KUBECONFIG=sandbox.kubeconfig, KUBECACHEDIR=os.path.join(sandbox.dir, "kubectl-cache"))
    proc = subprocess.Popen(["kubectl", "-n", kube.ns, "logs", "-f", "talker", "--tail=0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()

    def next_line():
        try:
            return lines.get(timeout=0.2)
        except queue.Empty:
            return None

    def append(text):
        with open(logfile, "a", encoding="utf-8") as f:
            f.write(text)

    try:
        wait_for(lambda: append("probe\n") or next_line(), 20, interval=0, what="kubectl logs -f to stream")
        append("streamed\n")
        wait_for(lambda: next_line() == "streamed\n", 20, interval=0, what="the appended line")
        kube.kubectl("delete", "pod", "talker", "--wait=false")
        assert proc.wait(timeout=20) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_controller_delay_knob(sandbox, kube):
    sandbox.controller("replicaset", delay=1.0)
    try:
        t0 = time.monotonic()
        kube.apply(deployment("slow", replicas=1))
        kube.kubectl("rollout", "status", "deployment/slow", "--timeout=30s")
        assert time.monotonic() - t0 >= 1.0
        assert sandbox.controller("replicaset")["delay"] == 1.0
    finally:
        sandbox.controller("replicaset", delay=0)
    assert json.loads(json.dumps(sandbox.controller("replicaset")))["delay"] == 0


def test_daemonset(kube):
    kube.apply(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "a", "image": "fluent/fluent-bit:3.0"}]}}}}))
    kube.kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    kube.kubectl("set", "image", "daemonset/agent", "a=fluent/fluent-bit:3.1")
    kube.kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    st = kube.json("daemonset", "agent")["status"]
    nodes = len(kube.json("nodes")["items"])   # one pod per node (MLOPS_SANDBOX_NODES)
    assert st["desiredNumberScheduled"] == st["numberReady"] == st["updatedNumberScheduled"] == nodes
    pods = kube.json("pods", "-l", "app=agent")["items"]
    assert [p["spec"]["containers"][0]["image"] for p in pods] == ["fluent/fluent-bit:3.1"] * nodes
