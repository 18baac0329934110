"""Nodes and scheduling on an emulator with two simulated nodes (`--nodes 2`): the Node objects and their Leases,
the scheduler's filters (nodeSelector, required node affinity, taints, cpu requests) with kube-scheduler's
messages, and a DaemonSet placing one pod per matching node.

sandbox-node-2 carries the label disk=ssd (registered with it: $MLOPS_SANDBOX_NODE_CONFIG) and the taint
dedicated=ml:NoSchedule (`kubectl taint`, once by the fixture)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml

from sandbox.pytest_plugin import running_sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.emulator_only("the real control plane has one node")]
NODE1, NODE2 = "sandbox-node", "sandbox-node-2"
TOLERATE_ML = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_SANDBOX_NODE_CONFIG", json.dumps({NODE2: {"labels": {"disk": "ssd"}}}))
        with running_sandbox(tmp_path_factory, "two-nodes", nodes=2) as sb:
            sb.kubectl("taint", "node", NODE2, "dedicated=ml:NoSchedule")
            yield sb


@pytest.fixture
def ns(two):
    name = "n-" + uuid.uuid4().hex[:8]
    two.kubectl("create", "namespace", name)
    yield name
    two.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _get(sb, *args):
    return json.loads(sb.kubectl("get", *args, "-o", "json").stdout)


def _pod(sb, ns, name, **spec):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}
    sb.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))


def _until(fn, what, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        out = fn()
        if out:
            return out
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _node_of(sb, ns, name):
    return _until(lambda: _get(sb, "-n", ns, "pod", name)["spec"].get("nodeName"), f"{name} to be bound")


def _unschedulable(sb, ns, name):
    def cond():
        pod = _get(sb, "-n", ns, "pod", name)
        return next((c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"
                     and c["status"] == "False"), None)
    c = _until(cond, f"{name} to be unschedulable")
    assert c["reason"] == "Unschedulable"
    assert _get(sb, "-n", ns, "pod", name)["status"]["phase"] == "Pending"
    assert _get(sb, "-n", ns, "pod", name)["spec"].get("nodeName") is None
    events = _until(lambda: [e for e in _get(sb, "-n", ns, "events")["items"] if e["involvedObject"]["name"] == name
                             and e["reason"] == "FailedScheduling"], "the FailedScheduling event")
    assert events[0]["type"] == "Warning" and events[0]["message"] == c["message"]
    return c["message"]


def test_nodes_are_listed_ready_with_capacity_labels_and_leases(two):
    nodes = {n["metadata"]["name"]: n for n in _get(two, "nodes")["items"]}
    assert set(nodes) == {NODE1, NODE2}
    for name, n in nodes.items():
        assert n["metadata"]["labels"]["kubernetes.io/hostname"] == name
        assert n["status"]["capacity"]["cpu"] == n["status"]["allocatable"]["cpu"] == "8"
        assert n["status"]["allocatable"]["pods"] == "110"
        ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
        lease = _get(two, "-n", "kube-node-lease", "lease", name)
        assert lease["spec"]["holderIdentity"] == name
        assert lease["metadata"]["ownerReferences"][0]["uid"] == n["metadata"]["uid"]
    table = two.kubectl("get", "nodes", "--no-headers").stdout.split("\n")
    assert [line.split()[:3] for line in table if line] == [[NODE1, "Ready", "<none>"], [NODE2, "Ready", "<none>"]]
    # the kubelet behind a node is not reachable: its address is loopback, which kube-apiserver will not proxy to
    assert two.request("GET", f"/api/v1/nodes/{NODE2}/proxy/healthz")[0] == 400
    assert two.request("GET", "/api/v1/nodes/nope/proxy/healthz")[0] == 404


def test_node_selector_and_affinity_choose_the_node(two, ns):
    _pod(two, ns, "ssd", nodeSelector={"disk": "ssd"}, tolerations=TOLERATE_ML)
    _pod(two, ns, "by-name", tolerations=TOLERATE_ML, affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [NODE2]}]}]}}})
    _pod(two, ns, "not-ssd", tolerations=TOLERATE_ML, affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}]}}})
    assert _node_of(two, ns, "ssd") == NODE2
    assert _node_of(two, ns, "by-name") == NODE2
    assert _node_of(two, ns, "not-ssd") == NODE1
    two.kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/ssd", "--timeout=10s")


def test_untolerated_taint_and_mismatch_leave_the_pod_pending(two, ns):
    _pod(two, ns, "p", nodeSelector={"disk": "ssd"})
    assert _unschedulable(two, ns, "p") == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated "
        "taint(s). preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")


def test_cpu_requests_are_counted_against_allocatable(two, ns):
    _pod(two, ns, "huge", containers=[{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100"}}}])
    assert _unschedulable(two, ns, "huge") == (
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint(s). "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    five = [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "5"}}}]
    for name in ("a", "b"):
        _pod(two, ns, name, containers=five, tolerations=TOLERATE_ML)
    assert {_node_of(two, ns, "a"), _node_of(two, ns, "b")} == {NODE1, NODE2}   # the least requested node
    _pod(two, ns, "c", containers=five, tolerations=TOLERATE_ML)
    assert _unschedulable(two, ns, "c") == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")
    two.kubectl("-n", ns, "delete", "pod", "a", "--wait=true")
    assert _node_of(two, ns, "c") in (NODE1, NODE2)   # retried once the cpu is free again


@pytest.mark.parametrize(("selector", "tolerations", "nodes"), [
    ({"disk": "ssd"}, TOLERATE_ML, [NODE2]),
    (None, None, [NODE1]),
    (None, [{"operator": "Exists"}], [NODE1, NODE2]),
])
def test_daemonset_runs_on_the_matching_nodes(two, ns, selector, tolerations, nodes):
    spec = {"containers": [{"name": "a", "image": "fluent/fluent-bit:3.0"}]}
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    two.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec}}}))
    two.kubectl("-n", ns, "rollout", "status", "daemonset/agent", "--timeout=10s")
    st = _get(two, "-n", ns, "daemonset", "agent")["status"]
    assert st["desiredNumberScheduled"] == st["currentNumberScheduled"] == st["numberReady"] == len(nodes)
    pods = _get(two, "-n", ns, "pods", "-l", "app=agent")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == nodes
