"""The emulator scheduler's decisions (sandbox/controllers/scheduling.py) on plain objects: node affinity operators,
tolerations, resource fit, the choice among feasible nodes and kube-scheduler's FitError text."""

from __future__ import annotations

import pytest

from sandbox.controllers import scheduling


def node(name, labels=None, taints=None, cpu="8", pods="110", ready="True", unschedulable=False):
    return {"metadata": {"name": name, "labels": dict(labels or {}, **{"kubernetes.io/hostname": name})},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": "32Gi", "pods": pods},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def pod(cpu=None, on=None, **spec):
    c = {"name": "c", "image": "x"}
    if cpu:
        c["resources"] = {"requests": {"cpu": cpu}}
    return {"metadata": {"name": "p"}, "spec": {"containers": [c], **({"nodeName": on} if on else {}), **spec},
            "status": {"phase": "Running"}}


def required(*exprs, fields=()):
    term = {"matchExpressions": list(exprs)} if exprs else {}
    if fields:
        term["matchFields"] = list(fields)
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


GPU = node("a", {"gpus": "4", "zone": "x"})


@pytest.mark.parametrize(("expr", "match"), [
    ({"key": "zone", "operator": "In", "values": ["x", "y"]}, True),
    ({"key": "zone", "operator": "In", "values": ["y"]}, False),
    ({"key": "zone", "operator": "NotIn", "values": ["y"]}, True),
    ({"key": "other", "operator": "NotIn", "values": ["y"]}, True),
    ({"key": "zone", "operator": "Exists"}, True),
    ({"key": "zone", "operator": "DoesNotExist"}, False),
    ({"key": "gpus", "operator": "Gt", "values": ["3"]}, True),
    ({"key": "gpus", "operator": "Lt", "values": ["4"]}, False),
    ({"key": "zone", "operator": "Gt", "values": ["3"]}, False),   # not an integer
])
def test_match_expressions(expr, match):
    assert scheduling.matches_node({"affinity": required(expr)}, GPU) is match


def test_selector_fields_and_terms():
    assert scheduling.matches_node({"nodeSelector": {"zone": "x"}}, GPU)
    assert not scheduling.matches_node({"nodeSelector": {"zone": "x", "disk": "ssd"}}, GPU)
    by_name = {"key": "metadata.name", "operator": "In", "values": ["a"]}
    assert scheduling.matches_node({"affinity": required(fields=[by_name])}, GPU)
    assert not scheduling.matches_node({"affinity": required(fields=[dict(by_name, values=["b"])])}, GPU)
    assert not scheduling.matches_node({"affinity": required()}, GPU)   # an empty term matches nothing


@pytest.mark.parametrize(("toleration", "tolerated"), [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v"}, True),                       # Equal by default, any effect
    ({"key": "k", "value": "w"}, False),
    ({"key": "k", "operator": "Exists"}, True),
    ({"operator": "Exists"}, True),                           # an empty key with Exists tolerates everything
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, False),
])
def test_tolerations(toleration, tolerated):
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert (scheduling.untolerated([taint], [toleration]) is None) is tolerated
    assert scheduling.untolerated([dict(taint, effect="PreferNoSchedule")], []) is None


def test_requests_sum_containers_and_take_the_largest_init_container():
    p = {"spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                                 {"resources": {"requests": {"cpu": "250m"}}}],
                  "initContainers": [{"resources": {"requests": {"cpu": "2"}}}]}}
    assert scheduling.pod_requests(p) == {"cpu": 2.0, "memory": 2**30}


def test_the_least_requested_feasible_node_wins():
    nodes = [node("a"), node("b")]
    assert scheduling.choose(pod(), nodes, []) == ("a", "")                       # a tie: the first by name
    assert scheduling.choose(pod(), nodes, [pod("1", on="a")]) == ("b", "")
    assert scheduling.choose(pod(), nodes, [pod(on="a")]) == ("b", "")             # fewer pods
    done = dict(pod("8", on="b"), status={"phase": "Succeeded"})
    assert scheduling.choose(pod("8"), [node("b")], [done]) == ("b", "")          # a finished pod frees its cpu


def test_fit_error_messages():
    nodes = [node("a", cpu="2"), node("b", {"disk": "ssd"}, taints=[{"key": "k", "effect": "NoSchedule"}]),
             node("c", unschedulable=True), node("d", ready="False"), node("e", pods="1")]
    bound = [pod(on="e")]
    name, msg = scheduling.choose(pod("4"), nodes, bound)
    assert name is None
    assert msg == ("0/5 nodes are available: 1 Insufficient cpu, 1 Too many pods, 1 node(s) were unschedulable, "
                   "2 node(s) had untolerated taint(s). preemption: 0/5 nodes are available: 1 No preemption "
                   "victims found for incoming pod, 4 Preemption is not helpful for scheduling.")
    assert scheduling.choose(pod("1", nodeSelector={"disk": "hdd"}), nodes[:1], [])[1] == (
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling.")
    assert scheduling.choose(pod("4", preemptionPolicy="Never"), nodes[:1], [])[1] == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")
    assert scheduling.choose(pod(), [], []) == (None, "no nodes available to schedule pods")
