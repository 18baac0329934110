"""mlops.k8s.wait against the recorded-response API."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.modules import wait

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}
BASE = {"api_version": "apps/v1", "kind": "Deployment", "name": "iris", "namespace": "models"}


def deployment(available, rv="3000", conditions=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "iris", "namespace": "models", "generation": 1, "resourceVersion": rv},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": available,
                       "conditions": conditions or []}}


AVAILABLE = [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]


def test_condition_already_true(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(deployment(1, conditions=AVAILABLE))
    failed, result = run_module(wait, dict(BASE, condition={"type": "Available"}))
    assert not failed, result
    assert result["changed"] is False
    assert result["object"]["metadata"]["name"] == "iris"
    assert result["message"] == "conditions: Available=True (MinimumReplicasAvailable)"
    assert not [r for r in fake_cluster.requests if r.query.get("watch")]


def test_rollout_through_watch(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(deployment(0))
    fake_cluster.queue_watch({"type": "MODIFIED", "object": deployment(1, rv="3001")})
    failed, result = run_module(wait, dict(BASE, **{"for": "rollout", "timeout": 10}))
    assert not failed, result
    assert result["message"] == "successfully rolled out"
    assert result["elapsed"] >= 0


def test_jsonpath_and_delete(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(deployment(1))
    failed, result = run_module(wait, dict(BASE, **{"for": "jsonpath", "jsonpath": "{.status.availableReplicas}",
                                                    "value": "1"}))
    assert not failed, result
    fake_cluster.queue_watch({"type": "DELETED", "object": deployment(1, rv="3005")})
    failed, result = run_module(wait, dict(BASE, **{"for": "delete", "timeout": 10}))
    assert not failed, result
    assert result["object"] is None


def test_delete_of_an_unserved_kind_is_done(fake_cluster, run_module):
    failed, result = run_module(wait, {"api_version": "example.com/v1", "kind": "Widget", "name": "w",
                                       "namespace": "models", "for": "delete"})
    assert not failed and result["message"] == "the cluster does not serve this kind"


def test_timeout_reports_last_seen(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(deployment(0, conditions=[{"type": "Available", "status": "False",
                                                "reason": "MinimumReplicasUnavailable"}]))
    failed, result = run_module(wait, dict(BASE, condition={"type": "Available"}, timeout=1))
    assert failed
    assert result["msg"] == ("timed out after 1s waiting for Deployment models/iris: condition Available=True; "
                             "last seen: conditions: Available=False (MinimumReplicasUnavailable)")


def test_progress_deadline_fails_fast(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(deployment(0, conditions=[{"type": "Progressing", "status": "False",
                                                "reason": "ProgressDeadlineExceeded", "message": "too slow"}]))
    failed, result = run_module(wait, dict(BASE, **{"for": "rollout", "timeout": 600}))
    assert failed and result["msg"] == "Deployment models/iris failed: progress deadline exceeded: too slow"


@pytest.mark.parametrize(("args", "message"), [
    (dict(BASE), "for is condition but all of the following are missing: condition"),
    (dict(BASE, **{"for": "jsonpath"}), "for is jsonpath but all of the following are missing: jsonpath"),
    (dict(BASE, **{"for": "jsonpath", "jsonpath": "status..x"}), "cannot parse path 'status..x'"),
    (dict(BASE, **{"for": "rollout", "kind": "Pod", "api_version": "v1"}),
     "for=rollout supports Deployment, StatefulSet, DaemonSet, not Pod"),
    (dict(BASE, kind="Widget", condition={"type": "Ready"}), "no kind Widget in apiVersion apps/v1 on this cluster"),
    ({"kind": "Deployment", "api_version": "apps/v1", "name": "iris", "condition": {"type": "Available"}},
     "namespace is required for Deployment iris"),
    (dict(BASE, condition={"type": "Available", "status": "yes"}), "value of status must be one of"),
    (dict(BASE, timeout="later", condition={"type": "Available"}), "timeout"),
])
def test_bad_input(fake_cluster, run_module, args, message):
    failed, result = run_module(wait, args)
    assert failed
    assert message in result["msg"]


def test_a_waited_secret_is_masked_unless_revealed(fake_cluster, run_module):
    import base64
    import json

    value = base64.b64encode(b"wait-secret-value-in-clear").decode()
    fake_cluster.put(NS)
    fake_cluster.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "models"},
                      "data": {"token": value}})
    args = {"api_version": "v1", "kind": "Secret", "name": "s", "namespace": "models", "for": "exists"}
    failed, result = run_module(wait, args)
    assert not failed and value not in json.dumps(result) and result["object"]["data"] == {"token": "********"}
    failed, result = run_module(wait, dict(args, reveal_secrets=True))
    assert not failed and result["object"]["data"] == {"token": value}
