"""mlops.k8s.service_account against the recorded-response API: one account never takes over another's role."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.modules import service_account

RBAC = "rbac.authorization.k8s.io/v1"


@pytest.fixture
def cluster(fake_cluster):
    fake_cluster.add_kind(RBAC, "RoleBinding", "rolebindings")
    fake_cluster.add_kind(RBAC, "ClusterRoleBinding", "clusterrolebindings", namespaced=False)
    for ns in ("models", "a", "a-b"):
        fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return fake_cluster


def test_a_role_of_another_account_is_refused_before_any_write(cluster, run_module):
    failed, result = run_module(service_account, {"name": "first", "namespace": "models", "role_name": "shared",
                                                  "preset": "seldon-deployer"})
    assert not failed, result
    mark = cluster.mark()
    failed, result = run_module(service_account, {"name": "second", "namespace": "models", "role_name": "shared",
                                                  "preset": "pipeline"})
    assert failed and "belongs to models/first" in result["msg"], result
    assert [r for r in cluster.since(mark) if r.is_write] == []
    binding = cluster.get_obj(RBAC, "RoleBinding", "shared", "models")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "first", "namespace": "models"}]


def test_colliding_cluster_names_of_earlier_versions_are_not_taken_over(cluster, run_module):
    """a-b/c and a/b-c were both named a-b-c: the first one's is left alone when the second runs (or is removed)."""
    theirs = {"metadata": {"name": "a-b-c", "labels": {"app.kubernetes.io/managed-by": "mlops.k8s"}}}
    cluster.put(dict(theirs, apiVersion=RBAC, kind="ClusterRole", rules=[]))
    cluster.put(dict(theirs, apiVersion=RBAC, kind="ClusterRoleBinding", roleRef={"name": "a-b-c"},
                     subjects=[{"kind": "ServiceAccount", "name": "c", "namespace": "a-b"}]))
    for state in ("present", "absent"):
        failed, result = run_module(service_account, {"name": "b-c", "namespace": "a", "preset": "seldon-deployer",
                                                      "cluster_wide": True, "state": state})
        assert not failed, result
        assert cluster.get_obj(RBAC, "ClusterRole", "a-b-c") is not None
        assert cluster.get_obj(RBAC, "ClusterRoleBinding", "a-b-c") is not None
    # the owner's own run moves to the new name and removes its old objects
    failed, result = run_module(service_account, {"name": "c", "namespace": "a-b", "preset": "seldon-deployer",
                                                  "cluster_wide": True})
    assert not failed and result["role"] == {"kind": "ClusterRole", "name": "a-b:c"}, result
    assert cluster.get_obj(RBAC, "ClusterRole", "a-b-c") is None
    assert cluster.get_obj(RBAC, "ClusterRoleBinding", "a-b-c") is None


def test_risky_rules_need_allow_risky_rules(cluster, run_module):
    args = {"name": "minter", "namespace": "models",
            "rules": [{"resources": ["serviceaccounts/token"], "verbs": ["create"]}]}
    failed, result = run_module(service_account, args)
    assert failed and "token-create" in result["msg"] and cluster.writes() == []
    failed, result = run_module(service_account, dict(args, allow_risky_rules=["token-create"]))
    assert not failed and "is granted token-create" in str(result["warnings"]), result
