"""Manifests: loading, validation, ordering, server-side apply / dry-run idempotence, diff, delete."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import (
    load_manifests,
    order_for_apply,
    order_for_delete,
    resolve,
    validate_manifest,
)
from ansible_collections.mlops.k8s.plugins.module_utils.prune import parse_kind, prune_all, resolve_prune_kinds
from ansible_collections.mlops.k8s.plugins.module_utils.service import (
    SECRET_MASK,
    SECRET_MASK_CHANGED,
    apply_all,
    delete_all,
    differs,
    mask_secret,
    public_object,
    run_grouped,
    summarize_results,
)
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
    manifests = load_manifests(definition, src)
    for m in manifests:
        validate_manifest(m)
    if client is not None:
        resolve(client, manifests, namespace, for_delete=for_delete)
    return manifests


# -- loading -----------------------------------------------------------------------------------------------------
def test_load_dict_list_yaml_and_lists():
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\n" \
           "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
    manifests = load_manifests([NS, text, [CM]])
    assert [m.name for m in manifests] == ["models", "a", "b", "settings"]
    assert manifests[1].origin == "definition[1] document 1"
    assert manifests[2].origin == "definition[1] document 2 items[0]"
    assert load_manifests(CM)[0].obj == CM
    assert load_manifests(CM)[0].obj is not CM  # never mutate the caller's data
    assert load_manifests("") == []


def test_load_src_file_and_sorted_directory(tmp_path):
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-b}\n")
    (tmp_path / "a.json").write_text(json.dumps(CM))
    (tmp_path / "c.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\n---\n"
                                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested}\n")
    names = [m.name for m in load_manifests(src=str(tmp_path))]
    assert names == ["settings", "from-b", "c1", "c2"]
    assert [m.name for m in load_manifests(src=str(tmp_path / "b.yaml"))] == ["from-b"]


def test_load_errors(tmp_path):
    with pytest.raises(K8sError, match=r"^definition: invalid YAML \(line 3, column 1\): expected ',' or '\]'"):
        load_manifests("kind: A\nmeta: [unclosed\n")
    with pytest.raises(K8sError, match=r"definition\[0\]: expected a mapping .*got int 3"):
        load_manifests([3])
    with pytest.raises(K8sError, match=r"src: .*missing does not exist"):
        load_manifests(src=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(K8sError, match=r"has no \*.yml, \*.yaml or \*.json file"):
        load_manifests(src=str(tmp_path / "empty"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: b\n  c: d\n")
    with pytest.raises(K8sError, match=r"bad\.yaml: invalid YAML"):
        load_manifests(src=str(bad))


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
        validate_manifest(load_manifests(obj)[0])


def test_generate_name_is_valid():
    job = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "run-"}}
    assert validate_manifest(load_manifests(job)[0]).name is None


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
    assert [m.kind for m in order_for_apply(manifests)] == [
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ConfigMap", "Deployment", "SeldonDeployment"]
    assert [m.kind for m in order_for_delete(manifests)] == [
        "SeldonDeployment", "Deployment", "ConfigMap", "ClusterRole", "CustomResourceDefinition", "Namespace"]
    sdep = next(m for m in manifests if m.kind == "SeldonDeployment")
    assert sdep.resource is None and sdep.pending_crd is not None and sdep.namespace == "models"


# -- apply -------------------------------------------------------------------------------------------------------
def apply(client, definition, **kwargs):
    return apply_all(client, load(definition, client=client), **kwargs)


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
    assert created["object"]["data"]["AWS_SECRET_ACCESS_KEY"] == SECRET_MASK
    changed = dict(SECRET, stringData={"AWS_SECRET_ACCESS_KEY": "another-secret"})
    result = apply(client, [changed], want_diff=True)[0]
    assert result["action"] == "configured"
    assert result["diff"]["before"]["data"]["AWS_SECRET_ACCESS_KEY"] == SECRET_MASK_CHANGED
    assert result["diff"]["after"]["data"]["AWS_SECRET_ACCESS_KEY"] == SECRET_MASK_CHANGED
    assert "another-secret" not in json.dumps(result)
    again = apply(client, [changed], want_diff=True)[0]
    assert again["action"] == "unchanged"
    assert again["diff"]["after"]["data"]["AWS_SECRET_ACCESS_KEY"] == SECRET_MASK


def test_generate_name_creates(client, cluster):
    cluster.put(NS)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "run-"}, "data": {}}
    result = apply(client, [obj])[0]
    assert result["action"] == "created" and result["name"].startswith("run-")
    assert cluster.requests[-1].method == "POST"


def test_crd_then_custom_resource_in_one_batch(client, cluster, monkeypatch):
    def establish(*_args, **kwargs):
        cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")

    monkeypatch.setattr(waiter, "wait_for", establish)
    results = apply(client, [SDEP, CRD, NS])
    assert [(r["kind"], r["action"]) for r in results] == [
        ("Namespace", "created"), ("CustomResourceDefinition", "created"), ("SeldonDeployment", "created")]
    assert cluster.get_obj("machinelearning.seldon.io/v1", "SeldonDeployment", "iris", "models")


def test_crd_batch_in_check_mode(client, cluster):
    results = apply(client, [CRD, SDEP], check_mode=True)
    assert results[1]["action"] == "created" and "not validated in check mode" in results[1]["note"]
    assert cluster.writes() == []


# -- groups sent in parallel -------------------------------------------------------------------------------------
def many_configmaps(count):
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%03d" % i}, "data": {"i": str(i)}}
            for i in range(count)]


def test_parallel_apply_gives_the_sequential_results_and_keeps_namespaces_first(client, cluster, tmp_path):
    objects = [*many_configmaps(20), NS]
    parallel = apply(client, objects, concurrency=8)
    assert [(r["kind"], r["name"], r["action"]) for r in parallel] == (
        [("Namespace", "models", "created")] + [("ConfigMap", "cm-%03d" % i, "created") for i in range(20)])
    writes = [r.path for r in cluster.writes()]
    assert writes[0] == "/api/v1/namespaces/models" and len(writes) == 21

    mark = cluster.mark()
    again = apply(client, objects, concurrency=8)
    assert {r["action"] for r in again} == {"unchanged"}
    assert [r for r in cluster.since(mark) if r.is_write] == []

    other = FakeCluster()
    sequential = apply(make_client(other, cache_file=str(tmp_path / "other.json")), objects, concurrency=1)
    assert [(r["kind"], r["name"], r["action"]) for r in sequential] == [
        (r["kind"], r["name"], r["action"]) for r in parallel]


def test_a_group_runs_its_items_at_once_and_groups_one_after_the_other():
    barrier = threading.Barrier(3, timeout=5)
    seen = []

    def work(item):
        seen.append(item)
        if item[0] == "b":
            barrier.wait()  # only returns when three items of the group run at the same time
        return item.upper()

    items = ["a1", "b1", "b2", "b3", "c1"]
    assert run_grouped(items, lambda i: i[0], work, concurrency=3) == ["A1", "B1", "B2", "B3", "C1"]
    assert seen[0] == "a1" and seen[-1] == "c1"
    with pytest.raises(threading.BrokenBarrierError):
        run_grouped(["b1", "b2", "b3"], lambda i: i[0], work, concurrency=2)  # never three at once


def test_a_failure_stops_before_the_next_group_and_reports_what_was_done():
    started = []

    def work(item):
        started.append(item)
        if item == "b2":
            raise K8sError("b2 refused")
        return item

    done = []
    with pytest.raises(K8sError, match="b2 refused"):
        run_grouped(["a1", "b1", "b2", "b3", "c1"], lambda i: i[0], work, concurrency=1, done=done)
    assert done == ["a1", "b1"] and "b3" not in started and "c1" not in started

    done, started[:] = [], []
    with pytest.raises(K8sError, match="b2 refused"):
        run_grouped(["a1", "b1", "b2", "b3", "c1"], lambda i: i[0], work, concurrency=4, done=done)
    assert done[0] == "a1" and "b2" not in done and "c1" not in started
    assert set(done) <= {"a1", "b1", "b3"}


def test_objects_ready_as_applied_need_no_list(client, cluster):
    apply(client, [NS])
    mark = cluster.mark()
    results = apply(client, many_configmaps(5), wait=True, wait_timeout=10)
    assert [r["waited"] for r in results] == [0.0] * 5
    assert [r.method for r in cluster.since(mark) if r.method == "GET"] == ["GET"] * 5  # the apply's own reads
    assert not [r for r in cluster.since(mark) if r.path.endswith("/configmaps")]


def deployments(count, ready=False):
    out = []
    for i in range(count):
        obj = dict(DEPLOY, metadata={"name": "iris-%d" % i, "namespace": "models"})
        if ready:
            obj = dict(obj, metadata=dict(obj["metadata"], generation=1, resourceVersion=str(100 + i)),
                       status={"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                               "availableReplicas": 2})
        out.append(obj)
    return out


def test_waits_of_objects_not_yet_ready_share_one_list_and_one_watch(client, cluster):
    apply(client, [NS])
    mark = cluster.mark()
    cluster.queue_watch(*({"type": "MODIFIED", "object": obj} for obj in deployments(3, ready=True)))
    results = apply(client, deployments(3), wait=True, wait_timeout=10)
    assert [r["object"]["status"]["availableReplicas"] for r in results] == [2, 2, 2]
    reads = [r for r in cluster.since(mark) if r.method == "GET" and r.path.endswith("/deployments")]
    assert [r.path for r in reads] == ["/apis/apps/v1/namespaces/models/deployments"] * 2
    assert [bool(r.query.get("watch")) for r in reads] == [False, True]  # one list, then one watch


def test_a_kind_still_unknown_in_check_mode_is_applied_one_at_a_time(client, cluster):
    sdeps = [dict(SDEP, metadata={"name": "iris-%d" % i}) for i in range(3)]
    results = apply(client, [CRD, *sdeps], check_mode=True, concurrency=8)
    assert [r["action"] for r in results] == ["created"] * 4
    assert all("not validated in check mode" in r["note"] for r in results[1:])
    assert cluster.writes() == []


def test_parallel_delete_in_reverse_order(client, cluster):
    objects = [NS, *many_configmaps(10)]
    apply(client, objects, concurrency=8)
    results = delete(client, objects, concurrency=8)
    assert [r["kind"] for r in results] == ["ConfigMap"] * 10 + ["Namespace"]
    deletes = [r.path for r in cluster.requests if r.method == "DELETE"]
    assert deletes[-1] == "/api/v1/namespaces/models" and len(deletes) == 11


def test_summary():
    results = [{"action": "created"}, {"action": "unchanged"}, {"action": "unchanged"}]
    assert summarize_results(results) == {"created": 1, "configured": 0, "unchanged": 2, "deleted": 0,
                                          "absent": 0}


# -- delete ------------------------------------------------------------------------------------------------------
def delete(client, definition, **kwargs):
    return delete_all(client, load(definition, client=client, for_delete=True), **kwargs)


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

    monkeypatch.setattr(waiter, "wait_for", fake_wait)
    delete(client, [CM], wait=True, wait_timeout=5)
    assert seen == {"kind": "ConfigMap", "name": "settings", "namespace": "models", "done": True}


def test_mask_and_strip_helpers():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "managedFields": [{}]},
              "data": {"k": "djE="}}
    public = public_object(secret)
    assert public["data"] == {"k": SECRET_MASK} and "managedFields" not in public["metadata"]
    assert secret["data"] == {"k": "djE="}  # input untouched
    assert mask_secret(CM) is CM
    assert not differs({"metadata": {"resourceVersion": "1", "generation": 1}, "status": {"a": 1}},
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


# -- prune -------------------------------------------------------------------------------------------------------
def labelled_cm(name, namespace="models", app="x", **meta):
    metadata = dict({"name": name, "namespace": namespace, "labels": {"app": app}}, **meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"name": name}}


def apply_and_prune(client, definition, selector="app=x", kinds=None, **kwargs):
    manifests = load(definition, client=client)
    prune_kinds = resolve_prune_kinds(client, manifests, kinds)
    results = apply_all(client, manifests, check_mode=kwargs.get("check_mode", False))
    skipped = []
    pruned = prune_all(client, manifests, results, prune_kinds, selector, skipped=skipped, **kwargs)
    return pruned, skipped


@pytest.mark.parametrize(("text", "parsed"), [
    ("v1/ConfigMap", ("v1", "ConfigMap")),
    ("core/v1/ConfigMap", ("v1", "ConfigMap")),
    (" apps/v1/Deployment ", ("apps/v1", "Deployment")),
    ("machinelearning.seldon.io/v1/SeldonDeployment", ("machinelearning.seldon.io/v1", "SeldonDeployment")),
])
def test_parse_kind(text, parsed):
    assert parse_kind(text) == parsed


@pytest.mark.parametrize("text", ["ConfigMap", "v1/", "/ConfigMap", "a/b/c/Kind", "apps//v1/Deployment", "v1/1x", ""])
def test_parse_kind_errors(text):
    with pytest.raises(K8sError, match=r"^prune_kinds: .* is not <apiVersion>/<kind>"):
        parse_kind(text)


def test_resolve_prune_kinds(client, cluster):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    manifests = load([NS, CM, dict(CM, metadata={"name": "b"}), DEPLOY, role, CRD, SDEP], client=client)
    kinds = resolve_prune_kinds(client, manifests)
    # default: the namespaced kinds of the manifests, once each; never Namespace, CRD or ClusterRole
    assert [(k.api_version, k.kind) for k in kinds] == [
        ("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("machinelearning.seldon.io/v1", "SeldonDeployment")]
    assert kinds[2].resource is None and kinds[2].namespaced is True
    explicit = resolve_prune_kinds(client, manifests, [
        "v1/Secret", "core/v1/Secret", "rbac.authorization.k8s.io/v1/ClusterRole",
        "machinelearning.seldon.io/v1/SeldonDeployment"])
    assert [(k.kind, k.namespaced, k.explicit) for k in explicit] == [
        ("Secret", True, True), ("ClusterRole", False, True), ("SeldonDeployment", True, True)]
    with pytest.raises(K8sError, match=r"^prune_kinds: no kind Widget in apiVersion example.com/v1 on this cluster$"):
        resolve_prune_kinds(client, manifests, ["example.com/v1/Widget"])
    assert cluster.writes() == []


def test_prune_deletes_what_is_no_longer_applied(client, cluster):
    cluster.put(NS)
    pruned, skipped = apply_and_prune(client, [labelled_cm("a"), labelled_cm("b"), labelled_cm("c")])
    assert pruned == [] and skipped == []
    uid_c = cluster.get_obj("v1", "ConfigMap", "c", "models")["metadata"]["uid"]
    mark = cluster.mark()
    pruned, skipped = apply_and_prune(client, [labelled_cm("a"), labelled_cm("b")], propagation_policy="Background",
                                      want_diff=True)
    assert [(p["kind"], p["api_version"], p["namespace"], p["name"], p["uid"]) for p in pruned] == [
        ("ConfigMap", "v1", "models", "c", uid_c)]
    assert pruned[0]["diff"] == {"before": pruned[0]["diff"]["before"], "after": {}}
    assert pruned[0]["diff"]["before"]["data"] == {"name": "c"}
    assert cluster.get_obj("v1", "ConfigMap", "c", "models") is None
    writes = [r for r in cluster.since(mark) if r.is_write]
    assert [(w.method, w.path) for w in writes] == [("DELETE", "/api/v1/namespaces/models/configmaps/c")]
    assert writes[0].body["preconditions"] == {"uid": uid_c}
    assert writes[0].body["propagationPolicy"] == "Background"
    listed = [r for r in cluster.since(mark) if r.method == "GET" and r.path.endswith("/configmaps")]
    assert [(r.path, r.query["labelSelector"]) for r in listed] == [("/api/v1/namespaces/models/configmaps", "app=x")]

    mark = cluster.mark()
    pruned, skipped = apply_and_prune(client, [labelled_cm("a"), labelled_cm("b")])
    assert pruned == [] and skipped == []
    assert [r for r in cluster.since(mark) if r.is_write] == []


def test_prune_leaves_other_labels_namespaces_kinds_and_controlled_objects(client, cluster):
    cluster.put(NS)
    cluster.put(dict(NS, metadata={"name": "other"}))
    cluster.put(labelled_cm("elsewhere", namespace="other"))
    cluster.put(labelled_cm("not-ours", app="y"))
    cluster.put(dict(SECRET, metadata={"name": "s", "namespace": "models", "labels": {"app": "x"}}))
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris", "uid": "uid-owner", "controller": True}
    cluster.put(labelled_cm("owned", ownerReferences=[owner]))
    cluster.put(labelled_cm("merely-referenced", ownerReferences=[dict(owner, controller=False)]))
    cluster.put(labelled_cm("going", deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["x/y"]))
    pruned, skipped = apply_and_prune(client, [labelled_cm("a")])
    assert [p["name"] for p in pruned] == ["merely-referenced"]
    assert skipped == [
        {"kind": "ConfigMap", "api_version": "v1", "namespace": "models", "name": "going",
         "reason": "already being deleted"},
        {"kind": "ConfigMap", "api_version": "v1", "namespace": "models", "name": "owned",
         "reason": "managed by its controller Deployment iris"},
    ]
    for name, namespace in (("elsewhere", "other"), ("not-ours", "models"), ("owned", "models")):
        assert cluster.get_obj("v1", "ConfigMap", name, namespace) is not None
    assert cluster.get_obj("v1", "Secret", "s", "models") is not None  # Secret is not a kind of the manifests
    pruned, _skipped = apply_and_prune(client, [labelled_cm("a")], kinds=["v1/ConfigMap", "v1/Secret"])
    assert [(p["kind"], p["name"]) for p in pruned] == [("Secret", "s")]


def test_prune_check_mode_is_a_dry_run(client, cluster):
    cluster.put(NS)
    cluster.put(labelled_cm("old"))
    pruned, _skipped = apply_and_prune(client, [labelled_cm("a")], check_mode=True, want_diff=True)
    assert [(p["name"], p["diff"]["after"]) for p in pruned] == [("old", {})]
    assert cluster.writes() == []
    deletes = [r for r in cluster.requests if r.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].dry_run
    assert cluster.get_obj("v1", "ConfigMap", "old", "models") is not None


def test_prune_cluster_scoped_only_when_asked(client, cluster):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "old-role", "labels": {"app": "x"}}}
    cluster.put(role)
    cluster.put(NS)
    cluster.put(dict(NS, metadata={"name": "old-ns", "labels": {"app": "x"}}))
    applied_ns = dict(NS, metadata={"name": "models", "labels": {"app": "x"}})
    pruned, _skipped = apply_and_prune(client, [labelled_cm("a")])
    assert pruned == []
    kinds = ["v1/ConfigMap", "rbac.authorization.k8s.io/v1/ClusterRole", "v1/Namespace"]
    pruned, _skipped = apply_and_prune(client, [labelled_cm("a"), applied_ns], kinds=kinds)
    # namespaced objects first, namespaces last
    assert [(p["kind"], p["namespace"], p["name"]) for p in pruned] == [
        ("ClusterRole", None, "old-role"), ("Namespace", None, "old-ns")]


def test_prune_never_deletes_the_namespace_of_applied_objects(client, cluster):
    cluster.put(dict(NS, metadata={"name": "models", "labels": {"app": "x"}}))
    pruned, skipped = apply_and_prune(client, [labelled_cm("a")], kinds=["v1/ConfigMap", "v1/Namespace"])
    assert pruned == []
    assert skipped == [{"kind": "Namespace", "api_version": "v1", "namespace": None, "name": "models",
                        "reason": "holds objects applied by this task"}]
    assert [r for r in cluster.requests if r.method == "DELETE"] == []


def test_prune_compares_by_group_not_version(client, cluster):
    cluster.add_kind("apps/v2", "Deployment", "deployments")
    cluster.put(NS)
    deploy = dict(DEPLOY, metadata={"name": "iris", "namespace": "models", "labels": {"app": "x"}})
    apply_all(client, load([deploy], client=client))
    # the fake stores objects per group/version: show the applied one (and an old one) in apps/v2 too
    cluster.objects[("apps/v2", "deployments", "models", "iris")] = cluster.get_obj(
        "apps/v1", "Deployment", "iris", "models")
    cluster.put(dict(deploy, apiVersion="apps/v2", metadata={"name": "old", "namespace": "models",
                                                             "labels": {"app": "x"}}))
    pruned, _skipped = apply_and_prune(client, [deploy], kinds=["apps/v2/Deployment"])
    assert [(p["api_version"], p["name"]) for p in pruned] == [("apps/v2", "old")]


def test_prune_skips_an_object_recreated_since_listed(client, cluster, monkeypatch):
    cluster.put(NS)
    cluster.put(labelled_cm("old"))
    real_list = client.list

    def list_then_recreate(*args, **kwargs):
        listing = real_list(*args, **kwargs)
        cluster.objects.pop(("v1", "configmaps", "models", "old"))
        cluster.put(labelled_cm("old"))  # a new uid under the same name
        return listing

    monkeypatch.setattr(client, "list", list_then_recreate)
    pruned, skipped = apply_and_prune(client, [labelled_cm("a")])
    assert pruned == []
    assert skipped[0]["name"] == "old" and skipped[0]["reason"] == "re-created since it was listed"
    assert cluster.get_obj("v1", "ConfigMap", "old", "models") is not None


def test_prune_ignores_objects_gone_before_delete_and_fails_on_other_errors(client, cluster):
    cluster.put(NS)
    cluster.put(labelled_cm("old"))
    cluster.fail("DELETE", "/configmaps/old", 404)
    pruned, skipped = apply_and_prune(client, [labelled_cm("a")])
    assert pruned == [] and skipped == []
    forbidden = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "configmaps \"old\" is forbidden"}
    cluster.fail("DELETE", "/configmaps/old", 403, body=forbidden)
    done = []
    with pytest.raises(K8sError, match=r"^ConfigMap models/old: 403 Forbidden"):
        apply_and_prune(client, [labelled_cm("a")], done=done)
    assert done == []


def test_prune_waits_for_deletion(client, cluster, monkeypatch):
    cluster.put(NS)
    cluster.put(labelled_cm("old"))
    uid = cluster.get_obj("v1", "ConfigMap", "old", "models")["metadata"]["uid"]
    seen = []

    def fake_wait(_client, resource, name, namespace, **kwargs):
        check = kwargs["check"]
        seen.append((resource.kind, name, namespace, kwargs["description"], check(None)[0],
                     check({"metadata": {"uid": uid}})[0], kwargs["timeout"] <= 7))
        return waiter.WaitResult(None, 0.25, "deleted")

    monkeypatch.setattr(waiter, "wait_for", fake_wait)
    pruned, _skipped = apply_and_prune(client, [labelled_cm("a")], wait=True, wait_timeout=7)
    assert seen == [("ConfigMap", "old", "models", "deletion", True, False, True)]
    assert pruned[0]["waited"] == 0.25
    seen.clear()
    cluster.put(labelled_cm("old2"))
    apply_and_prune(client, [labelled_cm("a")], wait=True, check_mode=True)
    assert seen == []


def test_prune_kind_of_a_crd_in_the_batch(client, cluster, monkeypatch):
    def establish(*_args, **kwargs):
        cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")

    cluster.put(NS)
    sdep = dict(SDEP, metadata={"name": "iris", "labels": {"app": "x"}})
    pruned, _skipped = apply_and_prune(client, [CRD, sdep], check_mode=True)
    assert pruned == [] and cluster.writes() == []
    monkeypatch.setattr(waiter, "wait_for", establish)
    pruned, _skipped = apply_and_prune(client, [CRD, sdep])
    assert pruned == []
    old = cluster.put(dict(sdep, metadata={"name": "old", "namespace": "models", "labels": {"app": "x"}}))
    pruned, _skipped = apply_and_prune(client, [CRD, sdep])
    assert [(p["kind"], p["name"]) for p in pruned] == [("SeldonDeployment", old["metadata"]["name"])]


@pytest.mark.parametrize("definition", ["hello", ["hello", "world"], "- hello\n- world\n", ["- a"], "'quoted'"])
def test_a_definition_of_plain_strings_is_a_clean_error(definition):
    """A YAML document that is a string is not parsed again (it used to recurse until RecursionError)."""
    with pytest.raises(K8sError, match=r"expected a mapping \(a Kubernetes object\), got str"):
        load_manifests(definition)
