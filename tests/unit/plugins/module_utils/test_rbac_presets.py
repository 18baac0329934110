"""RBAC presets: exact content, no wildcard anywhere, explicit rules held to the same standard, manifests."""

from __future__ import annotations

import json

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import managed
from ansible_collections.mlops.k8s.plugins.module_utils import rbac_presets as rbac
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError


def grants(rules):
    """{(group, resource): set(verbs)} of a rule list."""
    out = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


SELDON = {
    ("machinelearning.seldon.io", "seldondeployments"): {
        "create", "get", "list", "watch", "patch", "update", "delete"},
    ("machinelearning.seldon.io", "seldondeployments/status"): {"get"},
    ("apps", "deployments"): {"get", "list"},  # the rollout check of seldon.wait_available (issue 15)
}
ARGO_EXECUTOR = {("argoproj.io", "workflowtaskresults"): {"create", "patch"}}


@pytest.mark.parametrize("name", rbac.PRESET_NAMES)
def test_no_wildcard_anywhere_in_any_preset(name):
    rules = rbac.preset_rules(name)
    assert "*" not in json.dumps(rules)
    rbac.validate_rules(rules)  # and they pass the checks applied to user rules
    for rule in rules:
        assert not set(rule["verbs"]) & set(rbac.ESCALATING_VERBS)
        assert "secrets" not in rule["resources"]


def test_seldon_deployer_is_exactly_seldondeployments():
    assert grants(rbac.preset_rules("seldon-deployer")) == SELDON


def test_argo_workflow_is_the_v35_executor_minimum():
    assert grants(rbac.preset_rules("argo-workflow")) == ARGO_EXECUTOR


def test_pipeline_preset_content():
    expected = dict(SELDON)
    expected.update(ARGO_EXECUTOR)
    expected.update({
        ("argoproj.io", "workflows"): {"create", "get", "list", "watch"},
        ("argoproj.io", "workflowtemplates"): {"get", "list"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"},
    })
    assert grants(rbac.preset_rules("pipeline")) == expected


def test_preset_rules_are_copies():
    rbac.preset_rules("pipeline")[0]["verbs"].append("deletecollection")
    assert "deletecollection" not in rbac.preset_rules("pipeline")[0]["verbs"]


@pytest.mark.parametrize(("rule", "message"), [
    ({"resources": ["*"], "verbs": ["get"]}, "wildcards are refused"),
    ({"resources": ["pods"], "verbs": ["*"]}, "wildcards are refused"),
    ({"api_groups": ["*"], "resources": ["pods"], "verbs": ["get"]}, "wildcards are refused"),
    ({"resources": ["*/scale"], "verbs": ["get"]}, "wildcards are refused"),
    ({"resources": ["pods"], "verbs": ["get"], "resource_names": ["*"]}, "wildcards are refused"),
    ({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}, "refused"),
    ({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["bind"]}, "refused"),
    ({"resources": ["users"], "verbs": ["impersonate"]}, "refused"),
    ({"resources": ["pods"], "verbs": ["frobnicate"]}, "unknown verb"),
    ({"resources": [], "verbs": ["get"]}, "resources must not be empty"),
    ({"resources": ["pods"], "verbs": []}, "verbs must not be empty"),
    ({"resources": ["pods"], "verbs": ["get"], "apiGroups": ["x"]}, "unknown key"),
])
def test_user_rules_are_held_to_the_same_standard(rule, message):
    with pytest.raises(K8sError, match=message):
        rbac.rules_for(None, [rule])


def test_explicit_rules_are_added_and_merged():
    rules = rbac.rules_for("seldon-deployer", [
        {"api_groups": [""], "resources": ["configmaps"], "verbs": ["list", "get", "get"], "resource_names": None},
        {"api_groups": ["machinelearning.seldon.io"], "resources": ["seldondeployments/status"], "verbs": ["get"]},
    ])
    assert grants(rules)[("", "configmaps")] == {"get", "list"}
    # the duplicate of the preset's status rule is merged, not repeated
    assert sum(1 for r in rules if r["resources"] == ["seldondeployments/status"]) == 1
    assert "*" not in json.dumps(rules)


def test_namespaced_manifests():
    objs = rbac.build_manifests("tempo-pipeline", "production", rbac.preset_rules("pipeline"),
                                image_pull_secrets=["regcred"])
    assert [o["kind"] for o in objs] == ["ServiceAccount", "Role", "RoleBinding"]
    account, role, binding = objs
    assert account["imagePullSecrets"] == [{"name": "regcred"}]
    assert role["metadata"] == {"name": "tempo-pipeline", "namespace": "production",
                                "labels": {"app.kubernetes.io/managed-by": "mlops.k8s"},
                                "annotations": {"mlops.k8s/service-account": "production/tempo-pipeline"}}
    assert binding["metadata"]["annotations"] == {"mlops.k8s/service-account": "production/tempo-pipeline"}
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tempo-pipeline"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tempo-pipeline", "namespace": "production"}]


def test_cluster_wide_manifests_are_prefixed_and_never_bind_builtin_roles():
    objs = rbac.build_manifests("deployer", "models", rbac.preset_rules("seldon-deployer"), cluster_wide=True)
    role, binding = objs[1], objs[2]
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "models:deployer"
    assert "namespace" not in role["metadata"]
    assert binding["kind"] == "ClusterRoleBinding"
    assert binding["roleRef"]["name"] == "models:deployer"
    for preset in rbac.PRESET_NAMES:
        for obj in rbac.build_manifests("x", "ns", rbac.preset_rules(preset), cluster_wide=True):
            assert obj.get("roleRef", {}).get("name") not in ("cluster-admin", "admin", "edit")


def test_without_rules_only_the_account_and_stale_objects_of_both_scopes():
    assert [o["kind"] for o in rbac.build_manifests("sa", "ns", [])] == ["ServiceAccount"]
    stale = rbac.stale_manifests("sa", "ns", cluster_wide=False, has_rules=False)
    assert sorted(o["kind"] for o in stale) == ["ClusterRole", "ClusterRole", "ClusterRoleBinding",
                                                "ClusterRoleBinding", "Role", "RoleBinding"]
    stale = rbac.stale_manifests("sa", "ns", cluster_wide=False, has_rules=True)
    expected = [("ClusterRole", "ns-sa"), ("ClusterRole", "ns:sa"), ("ClusterRoleBinding", "ns-sa"),
                ("ClusterRoleBinding", "ns:sa")]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in stale) == expected


def test_unknown_preset():
    with pytest.raises(K8sError, match="unknown RBAC preset"):
        rbac.preset_rules("cluster-admin")


# -- privilege escalation, names, ownership (issue 15) -----------------------------------------------------------
@pytest.mark.parametrize(("rules", "cluster_wide", "risky"), [
    ([{"resources": ["secrets"], "verbs": ["get", "list"]}], True, "cluster-secrets-read"),
    ([{"resources": ["secrets"], "verbs": ["watch"]}], True, "cluster-secrets-read"),
    ([{"resources": ["serviceaccounts/token"], "verbs": ["create"]}], False, "token-create"),
    ([{"resources": ["secrets"], "verbs": ["list"]}, {"resources": ["serviceaccounts/token"], "verbs": ["create"]}],
     True, "cluster-secrets-read"),
    ([{"resources": ["pods"], "verbs": ["create"]}], False, "pods-create"),
    ([{"resources": ["pods/exec"], "verbs": ["create"]}], False, "pods-exec"),
    ([{"resources": ["pods/attach"], "verbs": ["get"]}], False, "pods-exec"),
    ([{"resources": ["nodes/proxy"], "verbs": ["get"]}], True, "nodes-proxy"),
])
def test_escalating_grants_are_refused_unless_allowed(rules, cluster_wide, risky):
    with pytest.raises(K8sError, match="refused") as err:
        rbac.rules_for(rules=rules, cluster_wide=cluster_wide)
    assert risky in err.value.msg
    found = [name for name, _why in rbac.risky_grants(rbac.user_rules(rules), cluster_wide)]
    assert rbac.rules_for(rules=rules, cluster_wide=cluster_wide, allow=found)


def test_harmless_neighbours_are_not_refused():
    rbac.rules_for(rules=[{"resources": ["secrets"], "verbs": ["get", "list"]}])  # in one namespace
    rbac.rules_for(rules=[{"resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}], cluster_wide=True)
    rbac.rules_for(rules=[{"resources": ["serviceaccounts"], "verbs": ["get"]}], cluster_wide=True)


@pytest.mark.parametrize("preset", rbac.PRESET_NAMES)
@pytest.mark.parametrize("cluster_wide", [False, True])
def test_every_preset_passes_the_escalation_guard(preset, cluster_wide):
    assert rbac.risky_grants(rbac.preset_rules(preset), cluster_wide) == []
    assert rbac.rules_for(preset, cluster_wide=cluster_wide) == rbac.merge_rules(rbac.preset_rules(preset))


def test_cluster_names_do_not_collide():
    a = rbac.object_names("c", "a-b", cluster_wide=True)
    b = rbac.object_names("b-c", "a", cluster_wide=True)
    assert a != b and a["role"] == "a-b:c" and b["role"] == "a:b-c"


def test_ownership_is_exact():
    mine = {"kind": "ClusterRole", "metadata": {"name": "ns:sa", "labels": dict(managed.MANAGED_BY),
                                                "annotations": {rbac.OWNER_ANNOTATION: "ns/sa"}}}
    assert rbac.owned(mine, None, "sa", "ns")
    assert not rbac.owned(mine, None, "sa", "other")
    # made before the annotation: our label and a binding of this account only, referring to the role
    legacy_binding = {"kind": "ClusterRoleBinding", "metadata": {"name": "a-b-c", "labels": dict(managed.MANAGED_BY)},
                      "roleRef": {"name": "a-b-c"}, "subjects": [{"kind": "ServiceAccount", "name": "c",
                                                                  "namespace": "a-b"}]}
    legacy_role = {"kind": "ClusterRole", "metadata": {"name": "a-b-c", "labels": dict(managed.MANAGED_BY)}}
    assert rbac.owned(legacy_role, legacy_binding, "c", "a-b")
    assert rbac.owned(legacy_binding, legacy_binding, "c", "a-b")
    assert not rbac.owned(legacy_role, legacy_binding, "b-c", "a")  # the other account of the colliding name
    assert not rbac.owned(legacy_binding, legacy_binding, "b-c", "a")
    assert not rbac.owned(legacy_role, None, "c", "a-b")
