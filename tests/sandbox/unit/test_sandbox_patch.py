from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.apiserver.patch import PatchError, json_equal, json_patch, merge_patch, strategic_merge_patch

DEPLOY = ("apps", "v1", "Deployment")
POD = ("", "v1", "Pod")

# ---------------------------------------------------------------------------------------------------------------------
# RFC 6902


def test_json_patch_rfc_examples():
    doc = {"foo": "bar"}
    assert json_patch(doc, [{"op": "add", "path": "/baz", "value": "qux"}]) == {"foo": "bar", "baz": "qux"}
    assert json_patch({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}]) == {
        "foo": ["bar", "qux", "baz"]}
    assert json_patch({"foo": [1]}, [{"op": "add", "path": "/foo/-", "value": 2}]) == {"foo": [1, 2]}
    assert json_patch({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}]) == {"foo": "bar"}
    assert json_patch({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}]) == {"foo": ["bar", "baz"]}
    assert json_patch({"baz": "qux"}, [{"op": "replace", "path": "/baz", "value": "boo"}]) == {"baz": "boo"}
    assert json_patch({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
                      [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]) == {
        "foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}
    assert json_patch({"foo": ["all", "grass", "cows", "eat"]},
                      [{"op": "move", "from": "/foo/1", "path": "/foo/3"}]) == {
        "foo": ["all", "cows", "eat", "grass"]}
    assert json_patch({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}]) == {"a": {"b": 1}, "c": {"b": 1}}
    assert json_patch({}, [{"op": "add", "path": "", "value": [1]}]) == [1]


def test_json_patch_escaping():
    doc = {"metadata": {"annotations": {"a/b": "1", "m~n": "2"}}}
    out = json_patch(doc, [
        {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "x"},
        {"op": "remove", "path": "/metadata/annotations/m~0n"},
    ])
    assert out == {"metadata": {"annotations": {"a/b": "x"}}}


def test_json_patch_test_op():
    doc = {"spec": {"replicas": 1, "paused": False, "x": None}}
    json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": 1}])
    json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": 1.0}])
    json_patch(doc, [{"op": "test", "path": "/spec/x", "value": None}])
    with pytest.raises(PatchError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/spec/paused", "value": 0}])
    with pytest.raises(PatchError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": "1"}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/spec/nope", "value": 1}])


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/nope", "value": 1}],
        [{"op": "add", "path": "/a/b/c", "value": 1}],
        [{"op": "add", "path": "/list/5", "value": 1}],
        [{"op": "add", "path": "/list/01", "value": 1}],
        [{"op": "bogus", "path": "/a"}],
        [{"op": "add", "path": "/x"}],
        [{"op": "move", "from": "/a", "path": "/a/b"}],
        [{"op": "copy", "path": "/b"}],
        {"op": "add"},
    ],
)
def test_json_patch_errors(ops):
    with pytest.raises(PatchError):
        json_patch({"a": {}, "list": [1]}, ops)


def test_json_patch_is_atomic_and_pure():
    doc = {"a": 1, "l": [1, 2]}
    snapshot = copy.deepcopy(doc)
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}])
    json_patch(doc, [{"op": "add", "path": "/l/0", "value": 0}])
    assert doc == snapshot


def test_json_equal():
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal({"a": [1]}, {"a": [True]})
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})


# ---------------------------------------------------------------------------------------------------------------------
# RFC 7386


def test_merge_patch_rfc_appendix():
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for doc, patch, expected in cases:
        assert merge_patch(doc, patch) == expected


json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


def _strip_nulls(v):
    if isinstance(v, dict):
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    return v


def _diff(a, b):
    """A merge patch turning object a into object b (b without nulls)."""
    patch = {}
    for k in a:
        if k not in b:
            patch[k] = None
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            sub = _diff(a[k], v)
            if sub:
                patch[k] = sub
        elif k not in a or not json_equal(a[k], v):
            patch[k] = v
    return patch


@settings(max_examples=150, deadline=None)
@given(json_objects, json_objects)
def test_merge_patch_diff_round_trip(a, b):
    b = _strip_nulls(b)
    a_before = copy.deepcopy(a)
    assert json_equal(merge_patch(a, _diff(a, b)), b)
    assert a == a_before


@settings(max_examples=100, deadline=None)
@given(json_objects, json_objects)
def test_merge_patch_idempotent(a, p):
    once = merge_patch(a, p)
    assert json_equal(merge_patch(once, p), once)


@settings(max_examples=100, deadline=None)
@given(json_values, json_values)
def test_json_patch_replace_root_then_test(a, b):
    out = json_patch(a, [{"op": "replace", "path": "", "value": b}, {"op": "test", "path": "", "value": b}])
    assert json_equal(out, b)


@settings(max_examples=100, deadline=None)
@given(json_objects, st.text(max_size=4), json_values)
def test_json_patch_add_then_remove_restores(doc, key, value):
    ptr = "/" + key.replace("~", "~0").replace("/", "~1")
    if key in doc:
        return
    out = json_patch(doc, [{"op": "add", "path": ptr, "value": value}, {"op": "test", "path": ptr, "value": value},
                           {"op": "remove", "path": ptr}])
    assert json_equal(out, doc)


# ---------------------------------------------------------------------------------------------------------------------
# strategic merge patch


def _deploy(containers, **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": containers}}, **spec}}


def _containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def test_smp_merges_containers_by_name():
    doc = _deploy([{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "b:1"}])
    out = strategic_merge_patch(doc, _deploy([{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]), DEPLOY)
    assert _containers(out) == [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "b:2"},
        {"name": "c", "image": "c:1"},
    ]
    assert _containers(doc)[1]["image"] == "b:1"  # input untouched


def test_smp_nested_env_ports_volume_mounts():
    doc = _deploy([{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                    "ports": [{"containerPort": 80}],
                    "volumeMounts": [{"name": "v", "mountPath": "/a"}]}])
    patch = _deploy([{"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "X", "$patch": "delete"}],
                      "ports": [{"containerPort": 443, "name": "https"}],
                      "volumeMounts": [{"name": "w", "mountPath": "/b"}]}])
    c = _containers(strategic_merge_patch(doc, patch, DEPLOY))[0]
    assert c["env"] == [{"name": "Y", "value": "3"}]
    # without $setElementOrder the patch's items come first (apimachinery normalizeElementOrder; checked against
    # kube-apiserver by tests/fidelity)
    assert c["ports"] == [{"containerPort": 443, "name": "https"}, {"containerPort": 80}]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/b", "/a"]


def test_smp_atomic_lists_are_replaced():
    doc = {"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["x", "y"]}]}}
    patch = {"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["z"]}]}}
    out = strategic_merge_patch(doc, patch, POD)
    assert out["spec"]["tolerations"] == [{"key": "b"}]
    assert out["spec"]["containers"][0]["args"] == ["z"]


def test_smp_null_deletes_and_patch_replace_map():
    doc = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": {"y": 1, "z": 2}}}
    patch = {"metadata": {"labels": {"a": None}}, "spec": {"x": {"$patch": "replace", "q": 3}}}
    out = strategic_merge_patch(doc, patch,
                                ("example.com", "v1", "Thing"))
    assert out == {"metadata": {"labels": {"b": "2"}}, "spec": {"x": {"q": 3}}}


def test_smp_patch_delete_map_and_replace_list():
    doc = _deploy([{"name": "a"}, {"name": "b"}], strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    patch = {"spec": {"strategy": {"$patch": "delete"},
                      "template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}}}}
    out = strategic_merge_patch(doc, patch, DEPLOY)
    assert "strategy" not in out["spec"]
    assert _containers(out) == [{"name": "z"}]


def test_smp_retain_keys():
    doc = _deploy([], strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge_patch(doc, patch, DEPLOY)
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(PatchError, match="retainKeys"):
        strategic_merge_patch(doc, {"spec": {"strategy": {"$retainKeys": ["type"], "x": 1}}}, DEPLOY)


def test_smp_primitive_list_directives():
    doc = {"metadata": {"finalizers": ["a", "b", "c"]}}
    out = strategic_merge_patch(doc, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"],
                                                   "finalizers": ["d", "a"]}}, POD)
    assert out["metadata"]["finalizers"] == ["d", "a", "c"]  # as kube-apiserver v1.37 answers
    out = strategic_merge_patch(doc, {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}, POD)
    assert out["metadata"]["finalizers"] == ["c", "b", "a"]


def test_smp_set_element_order_for_map_lists():
    doc = _deploy([{"name": "a"}, {"name": "b"}, {"name": "c"}])
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
        "containers": [{"name": "c", "image": "x"}],
    }}}}
    names = [c["name"] for c in _containers(strategic_merge_patch(doc, patch, DEPLOY))]
    # named items follow the directive; server-only items keep their server position (apimachinery mergeSortedSlice)
    assert names == ["b", "c", "a"]


def test_smp_errors():
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch(_deploy([]), _deploy([{"image": "x"}]), DEPLOY)
    with pytest.raises(PatchError):
        strategic_merge_patch({}, ["not", "a", "map"], DEPLOY)
    with pytest.raises(PatchError, match="Unknown patch type"):
        strategic_merge_patch({}, {"spec": {"$patch": "explode"}}, DEPLOY)


def test_smp_service_ports_conditions_owner_refs():
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 443}]}}, ("", "v1", "Service"))
    assert [p["port"] for p in out["spec"]["ports"]] == [443, 80]  # as kube-apiserver v1.37 answers
    st_ = {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Other", "status": "True"}]}}
    out = strategic_merge_patch(st_, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, POD)
    assert out["status"]["conditions"][0] == {"type": "Ready", "status": "True"}
    assert len(out["status"]["conditions"]) == 2
    md = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}
    out = strategic_merge_patch(md, {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}, POD)
    assert [o["uid"] for o in out["metadata"]["ownerReferences"]] == ["2", "1"]


def test_smp_cronjob_nested_template():
    cj = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}}}}
    patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "2"}]}}}}}}
    out = strategic_merge_patch(cj, patch, ("batch", "v1", "CronJob"))
    assert len(out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]) == 2


def test_smp_new_values_are_cleaned():
    out = strategic_merge_patch({}, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "X", "value": None}]}]}}}}, DEPLOY)
    assert _containers(out) == [{"name": "a", "env": [{"name": "X"}]}]


def test_smp_crd_schema_list_map_keys():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"items": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
        "items": {"type": "object", "properties": {"id": {"type": "string"}, "v": {"type": "integer"}}}}}}}}
    doc = {"spec": {"items": [{"id": "a", "v": 1}]}}
    out = strategic_merge_patch(doc, {"spec": {"items": [{"id": "b", "v": 2}]}}, ("ex.com", "v1", "W"), schema)
    assert out["spec"]["items"] == [{"id": "b", "v": 2}, {"id": "a", "v": 1}]
    out = strategic_merge_patch(doc, {"spec": {"items": [{"id": "b", "v": 2}]}}, ("ex.com", "v1", "W"))
    assert out["spec"]["items"] == [{"id": "b", "v": 2}]


@settings(max_examples=100, deadline=None)
@given(json_objects, json_objects)
def test_smp_without_lists_or_directives_equals_merge_patch(a, p):
    def no_lists(v):
        if isinstance(v, dict):
            return {k: no_lists(x) for k, x in v.items() if not k.startswith("$")}
        if isinstance(v, list):
            return None
        return v

    a, p = no_lists(a), no_lists(p)
    assert json_equal(strategic_merge_patch(a, p, ("example.com", "v1", "Thing")), merge_patch(a, p))
