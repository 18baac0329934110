"""namespaces.py: the Namespace of mlops.k8s.namespace with its ResourceQuota and LimitRange, built and checked
before any request; and the module run against the recorded-response API."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import namespaces
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.modules import namespace as namespace_module

MANAGED = {"app.kubernetes.io/managed-by": "mlops.k8s"}


def params(**extra):
    return dict({"name": "models", "labels": None, "annotations": None, "quota": None, "quota_name": "model-quota",
                 "limit_range": None, "limit_range_name": "model-limits"}, **extra)


@pytest.fixture
def cluster(fake_cluster):
    fake_cluster.add_kind("v1", "ResourceQuota", "resourcequotas")
    fake_cluster.add_kind("v1", "LimitRange", "limitranges")
    return fake_cluster


def test_build_namespace_checks_labels_and_annotations():
    assert namespaces.build_namespace("models") == {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": "models"}}
    obj = namespaces.build_namespace("models", {"team": 7}, {"example.com/owner": "ml"})
    assert obj["metadata"] == {"name": "models", "labels": {"team": "7"},
                               "annotations": {"example.com/owner": "ml"}}
    with pytest.raises(K8sError, match=r"labels\.team must be a string"):
        namespaces.build_namespace("models", {"team": {"a": 1}})
    with pytest.raises(K8sError):
        namespaces.build_namespace("models", {"bad key!": "x"})


def test_plan_builds_what_to_apply_and_what_to_remove():
    namespace, to_apply, to_delete = namespaces.plan(params(
        quota={"pods": "10", "requests.memory": "4Gi"},
        limit_range={"default_request": {"cpu": "100m"}, "max": {"memory": "2Gi"}}))
    assert namespace["metadata"]["name"] == "models" and to_delete == []
    quota, limits = to_apply
    assert quota["metadata"] == {"name": "model-quota", "namespace": "models", "labels": MANAGED}
    assert quota["spec"] == {"hard": {"pods": "10", "requests.memory": "4Gi"}}
    assert limits["spec"] == {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"},
                                          "max": {"memory": "2Gi"}}]}
    # an empty quota / limit range removes ours; none given leaves them alone
    _ns, to_apply, to_delete = namespaces.plan(params(quota={}, limit_range={"min": None}))
    assert to_apply == [] and [o["kind"] for o in to_delete] == ["ResourceQuota", "LimitRange"]
    assert namespaces.plan(params())[1:] == ([], [])
    with pytest.raises(K8sError, match="quota"):
        namespaces.plan(params(quota={"pods": "ten"}))


def test_module_creates_then_writes_nothing(cluster, run_module):
    args = {"name": "models", "labels": {"team": "ml"}, "quota": {"pods": "10"}, "wait": False}
    failed, result = run_module(namespace_module, args, diff=True)
    assert not failed, result
    assert result["changed"] is True
    actions = [(r["kind"], r["action"]) for r in result["results"]]
    assert actions == [("Namespace", "created"), ("ResourceQuota", "created")]
    cluster.requests.clear()
    failed, result = run_module(namespace_module, args)
    assert not failed and result["changed"] is False
    assert not cluster.writes()


def test_an_unchanged_active_namespace_is_read_once_and_not_waited_for(cluster, run_module):
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"},
                 "status": {"phase": "Active"}})
    mark = cluster.mark()
    failed, result = run_module(namespace_module, {"name": "models"})
    assert not failed and result["changed"] is False and result["waited"] == 0
    reads = [r for r in cluster.since(mark) if r.method == "GET" and not r.dry_run]
    assert [r.path for r in reads if "/namespaces" in r.path] == ["/api/v1/namespaces/models"]


def test_module_removes_only_its_own_quota(cluster, run_module):
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    cluster.put({"apiVersion": "v1", "kind": "ResourceQuota",
                 "metadata": {"name": "model-quota", "namespace": "models"}, "spec": {"hard": {"pods": "5"}}})
    failed, result = run_module(namespace_module, {"name": "models", "quota": {}, "wait": False})
    assert not failed, result
    actions = [(r["kind"], r["action"]) for r in result["results"]]
    assert actions == [("Namespace", "unchanged"), ("ResourceQuota", "unchanged")]
    assert not cluster.writes()


def test_module_refuses_bad_names_before_any_request(cluster, run_module):
    failed, result = run_module(namespace_module, {"name": "Models", "wait": False})
    assert failed and "namespace" in result["msg"]
    failed, result = run_module(namespace_module, {"name": "models", "quota": {"pods": "ten"}, "wait": False})
    assert failed and "quota" in result["msg"]
    assert not cluster.requests


def test_module_refuses_a_terminating_namespace(cluster, run_module):
    cluster.put({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "models", "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    failed, result = run_module(namespace_module, {"name": "models", "wait": False})
    assert failed and "namespace models is being deleted (Terminating since 2026-01-01T00:00:00Z)" in result["msg"]
    assert not cluster.writes()
