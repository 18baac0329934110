from __future__ import annotations

import pytest

from sandbox.apiserver.rbac import (
    RequestAttributes,
    UserInfo,
    authorize,
    effective_groups,
    forbidden_message,
    non_resource_rules_for,
    rule_allows,
    rules_for,
)

G = "rbac.authorization.k8s.io"


class Store:
    def __init__(self, *objs):
        self.objs = objs

    def list(self, group, resource, namespace=None):
        kinds = {"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding",
                 "clusterrolebindings": "ClusterRoleBinding"}
        assert group == G
        return [o for o in self.objs if o["kind"] == kinds[resource]
                and (namespace is None or o["metadata"].get("namespace") == namespace)]


def role(name, rules, ns=None, labels=None, aggregation=None):
    md = {"name": name, **({"namespace": ns} if ns else {}), **({"labels": labels} if labels else {})}
    o = {"kind": "Role" if ns else "ClusterRole", "metadata": md, "rules": rules}
    if aggregation:
        o["aggregationRule"] = {"clusterRoleSelectors": aggregation}
    return o


def binding(name, role_kind, role_name, subjects, ns=None):
    md = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": "RoleBinding" if ns else "ClusterRoleBinding", "metadata": md,
            "roleRef": {"apiGroup": G, "kind": role_kind, "name": role_name}, "subjects": subjects}


SA = UserInfo("system:serviceaccount:ml:deployer")
ALICE = UserInfo("alice", ("devs",))
STORE = Store(
    role("pod-reader", [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}],
         ns="ml"),
    role("deployer", [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
                      {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["cfg"]}]),
    role("node-viewer", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
                         {"nonResourceURLs": ["/healthz", "/metrics/*"], "verbs": ["get"]}]),
    role("scaler", [{"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]}]),
    binding("sa-pods", "Role", "pod-reader", [{"kind": "ServiceAccount", "name": "deployer"}], ns="ml"),
    binding("sa-deploy", "ClusterRole", "deployer",
            [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ml"}], ns="ml"),
    binding("devs-nodes", "ClusterRole", "node-viewer", [{"kind": "Group", "name": "devs", "apiGroup": G}]),
    binding("alice-scale", "ClusterRole", "scaler", [{"kind": "User", "name": "alice", "apiGroup": G}]),
    binding("dangling", "ClusterRole", "missing", [{"kind": "User", "name": "alice", "apiGroup": G}]),
)


@pytest.mark.parametrize(
    ("user", "attrs", "allowed"),
    [
        (SA, RequestAttributes("list", "", "pods", namespace="ml"), True),
        (SA, RequestAttributes("get", "", "pods", "log", namespace="ml", name="p"), True),
        (SA, RequestAttributes("get", "", "pods", "exec", namespace="ml", name="p"), False),
        (SA, RequestAttributes("delete", "", "pods", namespace="ml", name="p"), False),
        (SA, RequestAttributes("list", "", "pods", namespace="other"), False),
        (SA, RequestAttributes("list", "", "pods"), False),
        (SA, RequestAttributes("patch", "apps", "deployments", namespace="ml", name="d"), True),
        (SA, RequestAttributes("patch", "apps", "deployments", namespace="default", name="d"), False),
        (SA, RequestAttributes("get", "", "configmaps", namespace="ml", name="cfg"), True),
        (SA, RequestAttributes("get", "", "configmaps", namespace="ml", name="other"), False),
        (SA, RequestAttributes("list", "", "configmaps", namespace="ml"), False),
        (ALICE, RequestAttributes("list", "", "nodes"), True),
        (ALICE, RequestAttributes("get", "", "nodes", namespace="x", name="n"), True),
        (ALICE, RequestAttributes("get", non_resource_url="/healthz"), True),
        (ALICE, RequestAttributes("get", non_resource_url="/metrics/cadvisor"), True),
        (ALICE, RequestAttributes("post", non_resource_url="/healthz"), False),
        (ALICE, RequestAttributes("update", "apps", "deployments", "scale", namespace="x", name="d"), True),
        (ALICE, RequestAttributes("update", "apps", "deployments", namespace="x", name="d"), False),
        (UserInfo("bob"), RequestAttributes("list", "", "nodes"), False),
        (UserInfo("root", ("system:masters",)), RequestAttributes("delete", "", "nodes", name="n"), True),
    ],
)
def test_authorize(user, attrs, allowed):
    ok, reason = authorize(STORE, user, attrs)
    assert ok is allowed
    if ok and "system:masters" not in user.groups:
        assert reason.startswith("RBAC: allowed by ")


def test_reason_names_the_binding():
    _, reason = authorize(STORE, SA, RequestAttributes("list", "", "pods", namespace="ml"))
    assert reason == ('RBAC: allowed by RoleBinding "sa-pods/ml" of Role "pod-reader" to ServiceAccount '
                      '"deployer/ml"')
    _, reason = authorize(STORE, ALICE, RequestAttributes("list", "", "nodes"))
    assert reason == 'RBAC: allowed by ClusterRoleBinding "devs-nodes" of ClusterRole "node-viewer" to Group "devs"'


def test_implicit_groups():
    assert "system:serviceaccounts:ml" in effective_groups(SA)
    assert "system:authenticated" in effective_groups(ALICE)
    store = Store(role("r", [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]),
                  binding("b", "ClusterRole", "r", [{"kind": "Group", "name": "system:serviceaccounts:ml"}]))
    assert authorize(store, SA, RequestAttributes("list", "", "namespaces"))[0]
    other = UserInfo("system:serviceaccount:other:x")
    assert not authorize(store, other, RequestAttributes("list", "", "namespaces"))[0]


def test_aggregated_cluster_roles():
    store = Store(
        role("agg", [], aggregation=[{"matchLabels": {"rbac.example.com/aggregate-to-agg": "true"}}]),
        role("part", [{"apiGroups": ["ml.example.com"], "resources": ["models"], "verbs": ["get"]}],
             labels={"rbac.example.com/aggregate-to-agg": "true"}),
        binding("b", "ClusterRole", "agg", [{"kind": "User", "name": "alice"}]),
    )
    assert authorize(store, ALICE, RequestAttributes("get", "ml.example.com", "models", namespace="x", name="m"))[0]


def test_forbidden_messages():
    assert forbidden_message(SA, RequestAttributes("list", "", "pods", namespace="ns")) == (
        'pods is forbidden: User "system:serviceaccount:ml:deployer" cannot list resource "pods" in API group "" '
        'in the namespace "ns"')
    assert forbidden_message(ALICE, RequestAttributes("list", "", "nodes")) == (
        'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope')
    assert forbidden_message(ALICE, RequestAttributes("get", "", "pods", "log", namespace="ns", name="p")) == (
        'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "ns"')
    assert forbidden_message(ALICE, RequestAttributes("create", "apps", "deployments", namespace="ns")) == (
        'deployments.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" '
        'in the namespace "ns"')
    assert forbidden_message(ALICE, RequestAttributes("get", non_resource_url="/metrics")) == (
        'forbidden: User "alice" cannot get path "/metrics"')
    assert forbidden_message(ALICE, RequestAttributes("get", non_resource_url="/x"), reason="no") == (
        'forbidden: User "alice" cannot get path "/x": no')


def test_rule_allows_star_forms():
    rule = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert rule_allows(RequestAttributes("delete", "x.io", "things", "status", namespace="n", name="t"), rule)
    assert not rule_allows(RequestAttributes("get", non_resource_url="/x"), rule)


def test_rules_for():
    res = rules_for(STORE, SA, "ml")
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "pods/log"]} in res
    assert {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"]} in res
    assert all("nonResourceURLs" not in r for r in res)
    assert non_resource_rules_for(STORE, SA) == []
    assert {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/metrics/*"]} in non_resource_rules_for(STORE, ALICE)
    assert any(r["resources"] == ["nodes"] for r in rules_for(STORE, ALICE, "default"))
    assert rules_for(STORE, UserInfo("root", ("system:masters",)), "x") == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
