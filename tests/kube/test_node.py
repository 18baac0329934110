"""The sandbox's node on the real control plane: the kubelet, node heartbeats and the hostpath provisioner are
ordinary API clients of kube-apiserver (sandbox/kube/agent.py); kube-scheduler binds, kube-controller-manager
runs Deployments, Jobs and volume binding."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.kube


def _get(kube, *args: str) -> dict:
    return json.loads(kube.kubectl(*args, "-o", "json").stdout)


def _until(pred, timeout: float = 60, what: str = ""):
    end = time.monotonic() + timeout
    while True:
        out = pred()
        if out:
            return out
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_node_is_registered_ready_with_a_lease(kube):
    node = _get(kube, "get", "node", "sandbox-node")
    conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conds == {"MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"}
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    assert node["status"]["allocatable"]["pods"] == "110"
    assert not node["spec"].get("taints"), "the node lifecycle controller removed the not-ready taint"
    lease = _get(kube, "-n", "kube-node-lease", "get", "lease", "sandbox-node")
    assert lease["spec"]["holderIdentity"] == "sandbox-node"
    # the node's writes are its own: the Node authorizer and NodeRestriction judged them as system:node:...
    users = {e["user"] for e in kube.audit() if e["path"] == "/api/v1/nodes/sandbox-node/status"
             and e["method"] in ("PUT", "PATCH")}
    assert users == {"system:node:sandbox-node"}, users


def test_deployment_pods_are_scheduled_run_and_become_ready(kube):
    kube.kubectl("create", "namespace", "node-dep")
    kube.kubectl("-n", "node-dep", "create", "deployment", "web", "--image=registry.k8s.io/pause:3.10",
                 "--replicas=2")
    kube.kubectl("-n", "node-dep", "rollout", "status", "deployment/web", "--timeout=60s")
    pods = _get(kube, "-n", "node-dep", "get", "pods")["items"]
    assert len(pods) == 2
    for p in pods:
        assert p["spec"]["nodeName"] == "sandbox-node"
        assert p["status"]["phase"] == "Running"
        assert p["status"]["podIP"].startswith("127."), p["status"]["podIP"]
        assert p["status"]["containerStatuses"][0]["ready"] is True
    events = _get(kube, "-n", "node-dep", "get", "events")["items"]
    by_reason = {(e["reason"], e["source"].get("component")) for e in events}
    assert ("Scheduled", None) in by_reason or any(e["reason"] == "Scheduled" for e in events)
    assert ("Started", "kubelet") in by_reason


def test_job_completes_and_its_claim_is_provisioned_bound_and_reclaimed(kube):
    kube.kubectl("create", "namespace", "node-job")
    kube.kubectl("-n", "node-job", "apply", "-f", "-", input="""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, "true"], volumeMounts: [{name: d, mountPath: /d}]}]
      volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
""")
    kube.kubectl("-n", "node-job", "wait", "--for=condition=complete", "job/once", "--timeout=60s")
    pvc = _get(kube, "-n", "node-job", "get", "pvc", "data")
    # the provisioner made the volume with its own ServiceAccount token (TokenRequest API), not impersonated
    made = [e for e in kube.audit() if e["method"] == "POST" and e["path"] == "/api/v1/persistentvolumes"
            and e["status"] == 201]
    assert made and {(e["user"], e["impersonated"]) for e in made} == {
        ("system:serviceaccount:kube-system:sandbox-hostpath-provisioner", False)}
    assert pvc["status"]["phase"] == "Bound"
    pv_name = pvc["spec"]["volumeName"]
    pv = _get(kube, "get", "pv", pv_name)
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "sandbox.local/hostpath"
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    kube.kubectl("-n", "node-job", "delete", "job", "once", "--cascade=foreground", "--wait=true")
    kube.kubectl("-n", "node-job", "delete", "pvc", "data", "--wait=true", timeout=90)
    _until(lambda: kube.kubectl("get", "pv", pv_name, check=False).returncode != 0, 60,
           "the Released volume to be deleted by the provisioner")


def test_graceful_deletion_ends_the_pod(kube):
    kube.kubectl("create", "namespace", "node-del")
    kube.kubectl("-n", "node-del", "run", "p", "--image=registry.k8s.io/pause:3.10")
    kube.kubectl("-n", "node-del", "wait", "--for=condition=Ready", "pod/p", "--timeout=60s")
    t0 = time.monotonic()
    kube.kubectl("-n", "node-del", "delete", "pod", "p", "--wait=true", timeout=60)
    assert time.monotonic() - t0 < 30


def test_the_real_server_refuses_loopback_endpoint_addresses(kube):
    """A fact the sandbox must live with: kube-apiserver validates Endpoints and EndpointSlice addresses and
    refuses the loopback range, so kube-controller-manager cannot publish the loopback pod IPs that the network
    rule requires; the sandbox publishes FQDN slices instead (tests/kube/test_network.py)."""
    out = kube.kubectl("create", "-f", "-", check=False, input="""
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: loop, namespace: default}
addressType: IPv4
endpoints: [{addresses: ["127.244.0.9"]}]
ports: [{port: 80}]
""")
    assert out.returncode != 0
    assert "may not be in the loopback range" in out.stderr


def test_kubectl_logs_reach_the_kubelet_api_through_the_api_server(kube):
    """pods/log on the real server: kube-apiserver dials the node's address and kubelet port (loopback) with its
    kubelet client certificate, and streams what the pod's container wrote."""
    kube.kubectl("create", "namespace", "node-logs")
    kube.kubectl("-n", "node-logs", "run", "talker", "--image=registry.k8s.io/pause:3.10")
    kube.kubectl("-n", "node-logs", "wait", "--for=condition=Ready", "pod/talker", "--timeout=60s")
    out = kube.kubectl("-n", "node-logs", "logs", "talker").stdout
    assert "simulated container talker (image registry.k8s.io/pause:3.10) started" in out
    stamped = kube.kubectl("-n", "node-logs", "logs", "talker", "--timestamps", "--tail=1").stdout
    assert stamped.startswith("20") and "started" in stamped and len(stamped.splitlines()) == 1
    bad = kube.kubectl("-n", "node-logs", "logs", "talker", "-c", "nope", check=False)
    assert bad.returncode != 0 and "nope" in bad.stderr
