from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.apiserver.fieldpath import FieldSet, key_element, path_string, value_element
from sandbox.apiserver.ssa import ApplyConflict, ApplyInvalid, apply, compare, field_set, managers_of, record_update

DEPLOY = ("apps", "v1", "Deployment")
CM = ("", "v1", "ConfigMap")
T0, T1, T2 = "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"


def deployment(replicas=2, image="nginx:1", labels=None, containers=None):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **({"labels": labels} if labels else {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers or [{"name": "app", "image": image,
                                                       "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def entries(obj):
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_apply_create_records_fields_v1_like_kubernetes():
    out = apply(None, deployment(labels={"team": "a"}), "kubectl", False, DEPLOY, now=T0)
    assert out["spec"]["replicas"] == 2
    mf = out["metadata"]["managedFields"]
    assert len(mf) == 1
    e = mf[0]
    assert {k: e[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0, "fieldsType": "FieldsV1"}
    assert "subresource" not in e
    assert e["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:team": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"app"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }


def test_apply_does_not_mutate_inputs_and_is_idempotent():
    cfg = deployment()
    snapshot = copy.deepcopy(cfg)
    once = apply(None, cfg, "kubectl", False, DEPLOY, now=T0)
    once_snapshot = copy.deepcopy(once)
    twice = apply(once, cfg, "kubectl", False, DEPLOY, now=T1)
    assert cfg == snapshot
    assert once == once_snapshot
    assert twice == once  # nothing changed: even the timestamp stays


def test_conflict_with_update_manager_and_force():
    live = apply(None, deployment(replicas=2), "kubectl", False, DEPLOY, now=T0)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    live = record_update(live, scaled, "kube-controller-manager", DEPLOY, now=T1)
    assert managers_of(live, ".spec.replicas") == ["kube-controller-manager"]

    with pytest.raises(ApplyConflict) as ei:
        apply(live, deployment(replicas=3), "kubectl", False, DEPLOY, now=T2)
    err = ei.value
    assert err.conflicts == [("kube-controller-manager", ".spec.replicas")]
    # no time: kube-apiserver's manager identifier has none (checked against it by tests/fidelity)
    assert err.message == ('Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: '
                           '.spec.replicas')
    assert err.causes[0]["field"] == ".spec.replicas"
    assert err.causes[0]["reason"] == "FieldManagerConflict"
    assert err.causes[0]["message"] == 'conflict with "kube-controller-manager" using apps/v1'

    # same value as the other manager: no conflict, shared ownership
    shared = apply(live, deployment(replicas=5), "kubectl", False, DEPLOY, now=T2)
    assert managers_of(shared, ".spec.replicas") == ["kube-controller-manager", "kubectl"]

    forced = apply(live, deployment(replicas=3), "kubectl", True, DEPLOY, now=T2)
    assert forced["spec"]["replicas"] == 3
    assert managers_of(forced, ".spec.replicas") == ["kubectl"]
    assert ("kube-controller-manager", "Update") not in entries(forced)  # its only field was taken


def test_conflict_between_two_appliers_on_nested_list_field():
    live = apply(None, deployment(image="nginx:1"), "alice", False, DEPLOY, now=T0)
    with pytest.raises(ApplyConflict) as ei:
        apply(live, deployment(image="nginx:2"), "bob", False, DEPLOY, now=T1)
    assert ei.value.conflicts == [("alice", '.spec.template.spec.containers[name="app"].image')]
    assert ei.value.message.endswith('conflict with "alice": .spec.template.spec.containers[name="app"].image')


def test_multiple_conflicts_message():
    live = apply(None, deployment(replicas=1, image="a"), "alice", False, DEPLOY, now=T0)
    with pytest.raises(ApplyConflict) as ei:
        apply(live, deployment(replicas=2, image="b"), "bob", False, DEPLOY, now=T1)
    assert ei.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="app"].image'
    )


def test_fields_dropped_from_config_are_removed_unless_owned_elsewhere():
    live = apply(None, deployment(labels={"a": "1", "b": "2"}), "kubectl", False, DEPLOY, now=T0)
    out = apply(live, deployment(labels={"a": "1"}), "kubectl", False, DEPLOY, now=T1)
    assert out["metadata"]["labels"] == {"a": "1"}
    out = apply(out, deployment(), "kubectl", False, DEPLOY, now=T2)
    assert "labels" not in out["metadata"]

    # a second applier co-owns label b: dropping it from the first config keeps it
    live = apply(None, deployment(labels={"a": "1", "b": "2"}), "kubectl", False, DEPLOY, now=T0)
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"b": "2"}}}
    live = apply(live, other, "helm", False, DEPLOY, now=T1)
    out = apply(live, deployment(labels={"a": "1"}), "kubectl", False, DEPLOY, now=T2)
    assert out["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert managers_of(out, ".metadata.labels.b") == ["helm"]


def test_removed_container_and_unowned_defaults_go_away():
    two = [{"name": "app", "image": "a"}, {"name": "side", "image": "s"}]
    live = apply(None, deployment(containers=two), "kubectl", False, DEPLOY, now=T0)
    # the server (or a controller) defaulted a field nobody owns
    live["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"] = "IfNotPresent"
    out = apply(live, deployment(containers=[{"name": "app", "image": "a"}]), "kubectl", False, DEPLOY, now=T1)
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_container_kept_when_another_manager_owns_a_field_inside():
    two = [{"name": "app", "image": "a"}, {"name": "side", "image": "s"}]
    live = apply(None, deployment(containers=two), "kubectl", False, DEPLOY, now=T0)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][1]["args"] = ["--debug"]
    live = record_update(live, edited, "kubectl-edit", DEPLOY, now=T1)
    out = apply(live, deployment(containers=[{"name": "app", "image": "a"}]), "kubectl", False, DEPLOY, now=T2)
    side = [c for c in out["spec"]["template"]["spec"]["containers"] if c["name"] == "side"]
    assert side == [{"name": "side", "args": ["--debug"]}]


def test_apply_merges_into_live_keeping_other_fields():
    live = apply(None, deployment(), "kubectl", False, DEPLOY, now=T0)
    live["status"] = {"replicas": 2}
    live["metadata"].update({"uid": "u1", "resourceVersion": "7", "creationTimestamp": T0, "generation": 1})
    cfg = deployment(containers=[{"name": "side", "image": "s"}, {"name": "app", "image": "nginx:1",
                                                                   "ports": [{"containerPort": 80}]}])
    out = apply(live, cfg, "kubectl", False, DEPLOY, now=T1)
    assert out["status"] == {"replicas": 2}
    assert out["metadata"]["uid"] == "u1"
    assert out["metadata"]["resourceVersion"] == "7"
    assert sorted(c["name"] for c in out["spec"]["template"]["spec"]["containers"]) == ["app", "side"]


def test_record_update_create_and_edit():
    obj = deployment(labels={"x": "y"})
    created = record_update(None, obj, "kubectl-create", DEPLOY, now=T0)
    e = entries(created)[("kubectl-create", "Update")]
    assert e["time"] == T0
    fv = e["fieldsV1"]
    assert fv["f:metadata"] == {"f:labels": {".": {}, "f:x": {}}}
    assert fv["f:spec"]["f:replicas"] == {}
    assert "." not in fv["f:spec"]
    assert 'k:{"name":"app"}' in fv["f:spec"]["f:template"]["f:spec"]["f:containers"]

    edited = copy.deepcopy(created)
    edited["spec"]["replicas"] = 9
    del edited["metadata"]["labels"]
    out = record_update(created, edited, "kubectl-edit", DEPLOY, now=T1)
    assert managers_of(out, ".spec.replicas") == ["kubectl-edit"]
    assert managers_of(out, ".metadata.labels.x") == []
    ents = entries(out)
    assert ents[("kubectl-edit", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert ents[("kubectl-create", "Update")]["time"] == T0


def test_record_update_noop_keeps_entries():
    created = record_update(None, deployment(), "m", DEPLOY, now=T0)
    again = record_update(created, copy.deepcopy(created), "other", DEPLOY, now=T1)
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_record_update_honours_cleared_managed_fields():
    created = record_update(None, deployment(), "m", DEPLOY, now=T0)
    cleared = copy.deepcopy(created)
    cleared["metadata"]["managedFields"] = []
    out = record_update(created, cleared, "m2", DEPLOY, now=T1)
    assert out["metadata"].get("managedFields") in (None, [])


def test_subresource_entries():
    live = apply(None, deployment(), "kubectl", False, DEPLOY, now=T0)
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    out = record_update(live, new, "kube-controller-manager", DEPLOY, subresource="status", now=T1)
    e = entries(out)[("kube-controller-manager", "Update")]
    assert e["subresource"] == "status"
    # Compare semantics: an added list/map is itself a member ("."), status itself always exists
    assert e["fieldsV1"]["f:status"] == {"f:replicas": {}, "f:conditions": {
        ".": {}, 'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}}}
    st_cfg = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "status": {"replicas": 3}}
    with pytest.raises(ApplyConflict):
        apply(out, st_cfg, "ctl", False, DEPLOY, subresource="status", now=T2)
    out2 = apply(out, st_cfg, "ctl", True, DEPLOY, subresource="status", now=T2)
    assert entries(out2)[("ctl", "Apply")]["subresource"] == "status"


def test_server_owned_metadata_not_tracked():
    cfg = deployment()
    cfg["metadata"].update({"uid": "x", "resourceVersion": "1", "generation": 3, "managedFields": [{"manager": "x"}]})
    out = apply(None, cfg, "kubectl", False, DEPLOY, now=T0)
    fv = out["metadata"]["managedFields"][0]["fieldsV1"]
    assert "f:metadata" not in fv
    assert "f:apiVersion" not in fv and "f:kind" not in fv
    assert out["metadata"]["name"] == "web"


def test_object_without_managed_fields_has_no_conflicts():
    live = deployment(replicas=7)
    live["metadata"]["uid"] = "u"
    out = apply(live, deployment(replicas=1), "kubectl", False, DEPLOY, now=T0)
    assert out["spec"]["replicas"] == 1
    assert managers_of(out, ".spec.replicas") == ["kubectl"]


def test_sets_and_finalizers():
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/b"]},
           "data": {"k": "v"}}
    out = apply(None, cfg, "kubectl", False, CM, now=T0)
    fv = out["metadata"]["managedFields"][0]["fieldsV1"]
    assert fv == {"f:data": {"f:k": {}}, "f:metadata": {"f:finalizers": {'v:"a/b"': {}}}}
    updated = copy.deepcopy(out)
    updated["metadata"]["finalizers"].append("c/d")
    out = record_update(out, updated, "controller", CM, now=T1)
    assert managers_of(out, '.metadata.finalizers[="c/d"]') == ["controller"]
    out = apply(out, {**cfg, "metadata": {"name": "c"}}, "kubectl", False, CM, now=T2)
    assert out["metadata"]["finalizers"] == ["c/d"]


def test_managed_fields_are_sorted_apply_first():
    live = record_update(None, deployment(), "creator", DEPLOY, now=T0)
    out = apply(live, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
                                                                                     "labels": {"z": "1"}}},
                "zz-applier", False, DEPLOY, now=T1)
    assert [(e["manager"], e["operation"]) for e in out["metadata"]["managedFields"]] == [
        ("zz-applier", "Apply"), ("creator", "Update")]


def test_custom_resource_with_schema_and_without():
    gvk = ("example.com", "v1", "Model")
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "servers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                               "gpu": {"type": "integer"}}}},
        "tags": {"type": "array", "items": {"type": "string"}}}}}}
    cfg_a = {"apiVersion": "example.com/v1", "kind": "Model", "metadata": {"name": "m"},
             "spec": {"servers": [{"name": "a", "gpu": 1}], "tags": ["x"]}}
    cfg_b = {"apiVersion": "example.com/v1", "kind": "Model", "metadata": {"name": "m"},
             "spec": {"servers": [{"name": "b", "gpu": 2}]}}
    live = apply(None, cfg_a, "alice", False, gvk, schema, now=T0)
    out = apply(live, cfg_b, "bob", False, gvk, schema, now=T1)
    assert [s["name"] for s in out["spec"]["servers"]] == ["a", "b"]
    assert out["spec"]["tags"] == ["x"]
    # without a schema lists are atomic: bob's list conflicts with alice's
    live = apply(None, cfg_a, "alice", False, gvk, now=T0)
    with pytest.raises(ApplyConflict) as ei:
        apply(live, cfg_b, "bob", False, gvk, now=T1)
    assert ei.value.conflicts == [("alice", ".spec.servers")]


def test_field_path_strings_and_fields_v1_round_trip():
    path = (("f", "spec"), ("f", "ports"), key_element({"port": 80, "protocol": "UDP"}, ("port", "protocol")),
            ("f", "name"))
    assert path_string(path) == '.spec.ports[port=80,protocol="UDP"].name'
    assert path_string((("f", "metadata"), ("f", "finalizers"), value_element("x"))) == '.metadata.finalizers[="x"]'
    fs = FieldSet([path, path[:3]])
    v1 = fs.to_fields_v1()
    assert v1 == {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"UDP"}': {".": {}, "f:name": {}}}}}
    assert FieldSet.from_fields_v1(v1) == fs


_names = st.sampled_from(["a", "b", "spec", "name", "x.y", "k:z"])
_elements = st.one_of(
    _names.map(lambda n: ("f", n)),
    st.dictionaries(st.sampled_from(["name", "port"]), st.integers(0, 3) | _names, min_size=1, max_size=2).map(
        lambda d: key_element(d, sorted(d))),
    (st.integers(0, 3) | _names).map(value_element),
)


@settings(max_examples=150, deadline=None)
@given(st.sets(st.lists(_elements, min_size=1, max_size=4).map(tuple), max_size=8))
def test_fields_v1_round_trip_property(paths):
    fs = FieldSet(paths)
    assert FieldSet.from_fields_v1(fs.to_fields_v1()) == fs


_label_vals = st.sampled_from(["1", "2", "x"])
_configs = st.fixed_dictionaries({
    "replicas": st.integers(0, 3),
    "image": st.sampled_from(["a", "b"]),
    "labels": st.dictionaries(st.sampled_from(["p", "q", "r"]), _label_vals, max_size=3),
    "extra": st.booleans(),
})


def _cfg(c):
    containers = [{"name": "app", "image": c["image"]}]
    if c["extra"]:
        containers.append({"name": "side", "image": "s", "env": [{"name": "E", "value": "1"}]})
    return deployment(replicas=c["replicas"], labels=c["labels"] or None, containers=containers)


@settings(max_examples=60, deadline=None)
@given(_configs, _configs)
def test_apply_sequence_properties(c1, c2):
    first = apply(None, _cfg(c1), "kubectl", False, DEPLOY, now=T0)
    second = apply(first, _cfg(c2), "kubectl", False, DEPLOY, now=T1)
    # a sole applier ends up with exactly its configuration (plus nothing else)
    expected = _cfg(c2)
    got = copy.deepcopy(second)
    got["metadata"].pop("managedFields")
    assert got == expected
    # applying the same configuration again changes nothing
    assert apply(second, _cfg(c2), "kubectl", False, DEPLOY, now=T2) == second
    # and its Apply entry is exactly the configuration's field set
    assert FieldSet.from_fields_v1(second["metadata"]["managedFields"][0]["fieldsV1"]) == field_set(expected, DEPLOY)


@settings(max_examples=60, deadline=None)
@given(_configs, _configs)
def test_update_then_compare_is_empty(c1, c2):
    a = record_update(None, _cfg(c1), "m", DEPLOY, now=T0)
    b = record_update(a, _cfg(c2), "m", DEPLOY, now=T1)
    changed, removed = compare(b, b, DEPLOY)
    assert changed.empty() and removed.empty()
    # every tracked path exists in the object
    for e in b["metadata"].get("managedFields", []):
        assert not FieldSet.from_fields_v1(e["fieldsV1"]).empty()


def test_invalid_apply_configurations():
    dup = deployment(containers=[{"name": "app", "image": "a"}, {"name": "app", "image": "b"}])
    with pytest.raises(ApplyInvalid) as ei:
        apply(None, dup, "kubectl", False, DEPLOY, now=T0)
    assert ei.value.message == ('failed to create typed patch object (apps/v1, Kind=Deployment): '
                                '.spec.template.spec.containers: duplicate entries for key [name="app"]')
    keyless = deployment(containers=[{"image": "a"}])
    with pytest.raises(ApplyInvalid, match='omits key field "name"'):
        apply(None, keyless, "kubectl", False, DEPLOY, now=T0)
    # protocol has a default, so a port without it is fine
    apply(None, deployment(), "kubectl", False, DEPLOY, now=T0)


def test_status_is_reset_on_main_resource_and_only_status_on_subresource():
    cfg = deployment()
    cfg["status"] = {"replicas": 9}
    out = apply(None, cfg, "kubectl", False, DEPLOY, now=T0)
    assert "status" not in out
    assert "f:status" not in out["metadata"]["managedFields"][0]["fieldsV1"]
    out2 = apply(out, {**cfg, "spec": {"replicas": 100}}, "ctl", False, DEPLOY, subresource="status", now=T1)
    assert out2["spec"]["replicas"] == 2
    assert out2["status"] == {"replicas": 9}
    gvk = ("ml.example.com", "v1", "Model")
    cr = {"apiVersion": "ml.example.com/v1", "kind": "Model", "metadata": {"name": "m"}, "status": {"phase": "x"}}
    assert apply(None, cr, "kubectl", False, gvk, now=T0)["status"] == {"phase": "x"}
    assert "status" not in apply(None, cr, "kubectl", False, gvk, now=T0, status_subresource=True)


def test_create_update_entry_has_kubernetes_shape():
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "x"}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                  "template": {"metadata": {"labels": {"app": "x"}}, "spec": {
                      "containers": [{"name": "nginx", "image": "nginx", "resources": {},
                                      "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}}
    fv = record_update(None, d, "kubectl-create", DEPLOY, now=T0)["metadata"]["managedFields"][0]["fieldsV1"]
    assert fv == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}}, "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                    ".": {}, "f:image": {}, "f:name": {}, "f:resources": {},
                    "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
                        ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                }}},
            },
        },
    }


@pytest.mark.parametrize(
    ("live", "applied", "expected"),
    [
        ("abc", "b", "abc"),
        ("abc", "cb", "acb"),
        ("abc", "xb", "axbc"),
        ("abc", "bx", "abcx"),
        ("abc", "cxa", "bcxa"),
        ("", "ab", "ab"),
        ("abcd", "db", "acdb"),
    ],
)
def test_associative_list_order_follows_structured_merge_diff(live, applied, expected):
    def pod(names, image):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": n, "image": image} for n in names]}}

    base = apply(None, pod(live, "old"), "other", False, ("", "v1", "Pod"), now=T0) if live else None
    out = apply(base, pod(applied, "old"), "me", False, ("", "v1", "Pod"), now=T1)
    assert "".join(c["name"] for c in out["spec"]["containers"]) == expected


_keys = st.sets(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=4)


@settings(max_examples=60, deadline=None)
@given(_keys, _keys, _keys)
def test_two_appliers_on_labels(alice_keys, bob_keys, alice_later):
    def cfg(keys, value):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": dict.fromkeys(sorted(keys), value)}

    live = apply(None, cfg(alice_keys, "1"), "alice", False, CM, now=T0)
    shared = alice_keys & bob_keys
    # bob applies other values: conflicts exactly on the keys alice owns
    if shared:
        with pytest.raises(ApplyConflict) as ei:
            apply(live, cfg(bob_keys, "2"), "bob", False, CM, now=T1)
        assert sorted(p for _, p in ei.value.conflicts) == sorted(".data.%s" % k for k in shared)
    # the same values never conflict and are co-owned
    live = apply(live, cfg(bob_keys, "1"), "bob", False, CM, now=T1)
    assert set(live.get("data", {})) == alice_keys | bob_keys
    for k in shared:
        assert managers_of(live, ".data.%s" % k) == ["alice", "bob"]
    # alice changes her mind: her dropped keys survive only where bob owns them
    live = apply(live, cfg(alice_later, "1"), "alice", False, CM, now=T2)
    assert set(live.get("data", {})) == alice_later | bob_keys
