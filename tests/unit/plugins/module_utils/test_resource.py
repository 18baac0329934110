"""Manifests: loading, validation, ordering, server-side apply / dry-run idempotence, diff, delete."""

from __future__ import annotations

import base64
import json

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import resource as res
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from k8s_fake import FakeCluster, make_client

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "iris", "labels": {"app": "iris"}},
          "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "m", "image": "iris:1"}]}}}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3", "namespace": "models"},
          "stringData": {"AWS_SECRET_ACCESS_KEY": "very-secret-value"}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "seldondeployments.machinelearning.seldon.io"},
       "spec": {"group": "machinelearning.seldon.io", "scope": "Namespaced",
                "names": {"kind": "SeldonDeployment", "plural": "seldondeployments"},
                "versions": [{"name": "v1", "served": True, "storage": True}]}}
SDEP = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": "iris"},
        "spec": {"predictors": [{"name": "default"}]}}


@pytest.fixture
def cluster():
    return FakeCluster()


@pytest.fixture
def client(cluster, tmp_path):
    return make_client(cluster, cache_file=str(tmp_path / "discovery.json"))


def load(definition=None, src=None, client=None, namespace="models", for_delete=False):
    manifests = res.load_manifests(definition, src)
    for m in manifests:
        res.validate_manifest(m)
    if client is not None:
        res.resolve(client, manifests, namespace, for_delete=for_delete)
    return manifests


# -- loading -----------------------------------------------------------------------------------------------------
def test_load_dict_list_yaml_and_lists():
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\n" \
           "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
    manifests = res.load_manifests([NS, text, [CM]])
    assert [m.name for m in manifests] == ["models", "a", "b", "settings"]
    assert manifests[1].origin == "definition[1] document 1"
    assert manifests[2].origin == "definition[1] document 2 items[0]"
    assert res.load_manifests(CM)[0].obj == CM
    assert res.load_manifests(CM)[0].obj is not CM  # never mutate the caller's data
    assert res.load_manifests("") == []


def test_load_src_file_and_sorted_directory(tmp_path):
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-b}\n")
    (tmp_path / "a.json").write_text(json.dumps(CM))
    (tmp_path / "c.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\n---\n"
                                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested}\n")
    names = [m.name for m in res.load_manifests(src=str(tmp_path))]
    assert names == ["settings", "from-b", "c1", "c2"]
    assert [m.name for m in res.load_manifests(src=str(tmp_path / "b.yaml"))] == ["from-b"]


def test_load_errors(tmp_path):
    with pytest.raises(K8sError, match=r"^definition: invalid YAML \(line 3, column 1\): expected ',' or '\]'"):
        res.load_manifests("kind: A\nmeta: [unclosed\n")
    with pytest.raises(K8sError, match=r"definition\[0\]: expected a mapping .*got int 3"):
        res.load_manifests([3])
    with pytest.raises(K8sError, match=r"src: .*missing does not exist"):
        res.load_manifests(src=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(K8sError, match=r"has no \*.yml, \*.yaml or \*.json file"):
        res.load_manifests(src=str(tmp_path / "empty"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: b\n  c: d\n")
    with pytest.raises(K8sError, match=r"bad\.yaml: invalid YAML"):
        res.load_manifests(src=str(bad))


@pytest.mark.parametrize(("obj", "message"), [
    ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "apiVersion is required"),
    ({"apiVersion": "v1", "metadata": {"name": "a"}}, "kind is required"),
    ({"apiVersion": "v1", "kind": "ConfigMap"}, r"metadata.name \(or metadata.generateName\) is required"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}}, "metadata.name must be a string"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"}, "metadata must be a mapping"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": ["x"]}},
     "metadata.labels must be a mapping"),
    ({"apiVersion": 1, "kind": "ConfigMap", "metadata": {"name": "a"}}, "apiVersion must be a string"),
])
def test_validation(obj, message):
    with pytest.raises(K8sError, match=r"^definition \(.*\): .*" + message):
        res.validate_manifest(res.load_manifests(obj)[0])


def test_generate_name_is_valid():
    job = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "run-"}}
    assert res.validate_manifest(res.load_manifests(job)[0]).name is None


# -- resolve / namespaces / order --------------------------------------------------------------------------------
def test_namespace_defaulting(client):
    cm_elsewhere = dict(CM, metadata={"name": "x", "namespace": "other"})
    ns_with_namespace = dict(NS, metadata={"name": "n", "namespace": "junk"})
    manifests = load([CM, cm_elsewhere, ns_with_namespace], client=client, namespace="models")
    assert [m.namespace for m in manifests] == ["models", "other", None]
    assert load(CM, client=client, namespace=None)[0].namespace == "default"


def test_unknown_kind_fails_before_any_write(client, cluster):
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    message = r"^definition\[1\]: no kind Widget in apiVersion example.com/v1 on this cluster$"
    with pytest.raises(K8sError, match=message):
        load([NS, widget], client=client)
    assert cluster.writes() == []


def test_order_for_apply_and_delete(client):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    manifests = load([DEPLOY, CM, SDEP, role, CRD, NS], client=client)
    assert [m.kind for m in res.order_for_apply(manifests)] == [
        "Namespace", "CustomResourceDefinition", "ClusterRole", "Deployment", "ConfigMap", "SeldonDeployment"]
    assert [m.kind for m in res.order_for_delete(manifests)] == [
        "SeldonDeployment", "ConfigMap", "Deployment", "ClusterRole", "CustomResourceDefinition", "Namespace"]
    sdep = next(m for m in manifests if m.kind == "SeldonDeployment")
    assert sdep.resource is None and sdep.pending_crd is not None and sdep.namespace == "models"


# -- apply -------------------------------------------------------------------------------------------------------
def apply(client, definition, **kwargs):
    return res.apply_all(client, load(definition, client=client), **kwargs)


def test_create_then_second_run_sends_no_write(client, cluster):
    first = apply(client, [NS, CM, DEPLOY])
    assert [(r["kind"], r["action"], r["changed"]) for r in first] == [
        ("Namespace", "created", True), ("ConfigMap", "created", True), ("Deployment", "created", True)]
    assert first[2]["namespace"] == "models" and first[0]["namespace"] is None
    assert "managedFields" not in first[2]["object"]["metadata"]
    applied = [r for r in cluster.requests if r.method == "PATCH"]
    assert all(r.query["fieldManager"] == "mlops.k8s" for r in applied)

    mark = cluster.mark()
    second = apply(client, [NS, CM, DEPLOY])
    assert [r["action"] for r in second] == ["unchanged"] * 3
    assert not any(r["changed"] for r in second)
    sent = cluster.since(mark)
    assert [r for r in sent if r.is_write] == []
    assert {r.method for r in sent} == {"GET", "PATCH"}
    assert all(r.dry_run for r in sent if r.method == "PATCH")


def test_configured_and_diff(client, cluster):
    apply(client, [NS, DEPLOY])
    changed = json.loads(json.dumps(DEPLOY))
    changed["spec"]["replicas"] = 3
    mark = cluster.mark()
    result = apply(client, [changed], want_diff=True)[0]
    assert (result["action"], result["changed"]) == ("configured", True)
    assert result["diff"]["before"]["spec"]["replicas"] == 2
    assert result["diff"]["after"]["spec"]["replicas"] == 3
    assert "managedFields" not in result["diff"]["after"]["metadata"]
    assert "resourceVersion" not in result["diff"]["before"]["metadata"]
    writes = [r for r in cluster.since(mark) if r.is_write]
    assert len(writes) == 1 and writes[0].method == "PATCH"
    assert cluster.get_obj("apps/v1", "Deployment", "iris", "models")["spec"]["replicas"] == 3


def test_check_mode_uses_dry_run_and_changes_nothing(client, cluster):
    cluster.put(NS)
    results = apply(client, [CM, DEPLOY], check_mode=True, want_diff=True)
    assert [r["action"] for r in results] == ["created", "created"]
    assert cluster.writes() == []
    assert results[1]["diff"]["before"] == {} and results[1]["diff"]["after"]["spec"]["replicas"] == 2
    assert cluster.get_obj("v1", "ConfigMap", "settings", "models") is None


def test_check_mode_with_namespace_of_the_batch(client, cluster):
    results = apply(client, [NS, CM], check_mode=True)
    assert [r["action"] for r in results] == ["created", "created"]
    assert "namespace models is created in this batch" in results[1]["note"]
    assert cluster.writes() == []


def test_check_mode_reports_configured(client, cluster):
    apply(client, [NS, CM])
    changed = dict(CM, data={"a": "2"})
    mark = cluster.mark()
    result = apply(client, [changed], check_mode=True)[0]
    assert (result["action"], result["object"]["data"]) == ("configured", {"a": "2"})
    assert [r for r in cluster.since(mark) if r.is_write] == []


def test_force_conflicts_and_field_manager_are_sent(client, cluster):
    cluster.put(NS)
    apply(client, [CM], field_manager="team-a", force_conflicts=True)
    patch = [r for r in cluster.requests if r.method == "PATCH"][-1]
    assert patch.query["fieldManager"] == "team-a" and patch.query["force"] == "true"


def test_invalid_object_is_one_line(client, cluster):
    cluster.put(NS)
    bad = json.loads(json.dumps(DEPLOY))
    bad["spec"]["replicas"] = -1
    with pytest.raises(K8sError) as info:
        apply(client, [bad])
    assert str(info.value).startswith('Deployment models/iris: 422 Invalid: Deployment.apps "iris" is invalid: '
                                      "spec.replicas: Invalid value: -1")
    assert "(causes: spec.replicas: Invalid value: -1" in str(info.value)


def test_missing_namespace_in_check_mode(client):
    with pytest.raises(K8sError, match=r"^ConfigMap nowhere/settings: namespace nowhere does not exist$"):
        apply(client, [dict(CM, metadata={"name": "settings", "namespace": "nowhere"})], check_mode=True)


def test_secret_values_never_shown(client, cluster):
    cluster.put(NS)
    created = apply(client, [SECRET], want_diff=True)[0]
    text = json.dumps(created)
    encoded = base64.b64encode(b"very-secret-value").decode()
    assert "very-secret-value" not in text and encoded not in text
    assert created["object"]["data"]["AWS_SECRET_ACCESS_KEY"] == res.SECRET_MASK
    changed = dict(SECRET, stringData={"AWS_SECRET_ACCESS_KEY": "another-secret"})
    result = apply(client, [changed], want_diff=True)[0]
    assert result["action"] == "configured"
    assert result["diff"]["before"]["data"]["AWS_SECRET_ACCESS_KEY"] == res.SECRET_MASK_CHANGED
    assert result["diff"]["after"]["data"]["AWS_SECRET_ACCESS_KEY"] == res.SECRET_MASK_CHANGED
    assert "another-secret" not in json.dumps(result)
    again = apply(client, [changed], want_diff=True)[0]
    assert again["action"] == "unchanged"
    assert again["diff"]["after"]["data"]["AWS_SECRET_ACCESS_KEY"] == res.SECRET_MASK


def test_generate_name_creates(client, cluster):
    cluster.put(NS)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "run-"}, "data": {}}
    result = apply(client, [obj])[0]
    assert result["action"] == "created" and result["name"].startswith("run-")
    assert cluster.requests[-1].method == "POST"


def test_crd_then_custom_resource_in_one_batch(client, cluster, monkeypatch):
    def establish(*_args, **kwargs):
        cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")

    monkeypatch.setattr(res.waiter, "wait_for", establish)
    results = apply(client, [SDEP, CRD, NS])
    assert [(r["kind"], r["action"]) for r in results] == [
        ("Namespace", "created"), ("CustomResourceDefinition", "created"), ("SeldonDeployment", "created")]
    assert cluster.get_obj("machinelearning.seldon.io/v1", "SeldonDeployment", "iris", "models")


def test_crd_batch_in_check_mode(client, cluster):
    results = apply(client, [CRD, SDEP], check_mode=True)
    assert results[1]["action"] == "created" and "not validated in check mode" in results[1]["note"]
    assert cluster.writes() == []


def test_summary():
    results = [{"action": "created"}, {"action": "unchanged"}, {"action": "unchanged"}]
    assert res.summarize_results(results) == {"created": 1, "configured": 0, "unchanged": 2, "deleted": 0,
                                              "absent": 0}


# -- delete ------------------------------------------------------------------------------------------------------
def delete(client, definition, **kwargs):
    return res.delete_all(client, load(definition, client=client, for_delete=True), **kwargs)


def test_delete_present_and_absent(client, cluster):
    apply(client, [NS, CM])
    results = delete(client, [NS, CM, SDEP], want_diff=True, propagation_policy="Background")
    assert [(r["kind"], r["action"], r["changed"]) for r in results] == [
        ("SeldonDeployment", "absent", False), ("ConfigMap", "deleted", True), ("Namespace", "deleted", True)]
    assert results[1]["diff"]["after"] == {} and results[1]["diff"]["before"]["data"] == {"a": "1"}
    deletes = [r for r in cluster.requests if r.method == "DELETE"]
    assert [r.body["propagationPolicy"] for r in deletes] == ["Background", "Background"]
    again = delete(client, [NS, CM])
    assert [r["action"] for r in again] == ["absent", "absent"]


def test_delete_check_mode(client, cluster):
    apply(client, [NS, CM])
    result = delete(client, [CM], check_mode=True)[0]
    assert result["action"] == "deleted"
    assert cluster.get_obj("v1", "ConfigMap", "settings", "models") is not None
    assert cluster.requests[-1].dry_run


def test_delete_waits_for_the_object_to_go(client, cluster, monkeypatch):
    apply(client, [NS, CM])
    seen = {}

    def fake_wait(_client, resource, name, namespace, **kwargs):
        seen.update(kind=resource.kind, name=name, namespace=namespace, done=kwargs["check"](None)[0])

    monkeypatch.setattr(res.waiter, "wait_for", fake_wait)
    delete(client, [CM], wait=True, wait_timeout=5)
    assert seen == {"kind": "ConfigMap", "name": "settings", "namespace": "models", "done": True}


def test_mask_and_strip_helpers():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "managedFields": [{}]},
              "data": {"k": "djE="}}
    public = res.public_object(secret)
    assert public["data"] == {"k": res.SECRET_MASK} and "managedFields" not in public["metadata"]
    assert secret["data"] == {"k": "djE="}  # input untouched
    assert res.mask_secret(CM) is CM
    assert not res.differs({"metadata": {"resourceVersion": "1", "generation": 1}, "status": {"a": 1}},
                           {"metadata": {"resourceVersion": "2", "generation": 2}, "status": {"a": 2}})


def test_conflict_hint(client, cluster):
    cluster.put(NS)
    cluster.fail("PATCH", "/configmaps/settings", 409, body={
        "kind": "Status", "code": 409, "reason": "Conflict",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-edit": .data.a'})
    with pytest.raises(K8sError) as info:
        apply(client, [CM])
    assert str(info.value) == ('ConfigMap models/settings: 409 Conflict: Apply failed with 1 conflict: conflict with '
                               '"kubectl-edit": .data.a (another field manager owns these fields; set '
                               'force_conflicts=true to take them over)')
