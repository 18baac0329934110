from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.apiserver.schema import check_structural, default, prune, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["model"],
            "properties": {
                "model": {"type": "string", "minLength": 2, "maxLength": 10, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 10, "default": 1},
                "runtime": {"type": "string", "enum": ["triton", "vllm"], "default": "vllm"},
                "port": {"x-kubernetes-int-or-string": True},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                "enabled": {"type": "boolean"},
                "tags": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"type": "string"},
                         "x-kubernetes-list-type": "set"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "resources": {"type": "object", "default": {},
                              "properties": {"gpu": {"type": "integer", "default": 0}}},
                "note": {"type": "string", "nullable": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "servers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"],
                                      "properties": {"name": {"type": "string"},
                                                     "weight": {"type": "integer", "default": 1}}}},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def obj(**spec):
    return {"apiVersion": "ml.example.com/v1", "kind": "Model", "metadata": {"name": "m", "labels": {"a": "b"}},
            "spec": {"model": "llama", **spec}}


def by_field(causes):
    return {c["field"]: c for c in causes}


def test_valid_object_has_no_causes():
    o = obj(replicas=2, runtime="triton", port="http", ratio=0.5, enabled=True, tags=["a"], env={"A": "1"},
            note=None, template={"apiVersion": "v1", "kind": "Pod", "metadata": {}},
            servers=[{"name": "a"}, {"name": "b", "weight": 3}])
    assert validate(o, SCHEMA) == []


def test_type_errors_have_kubernetes_messages():
    causes = by_field(validate(obj(replicas="3", enabled="yes", port=True), SCHEMA))
    assert causes["spec.replicas"] == {
        "reason": "FieldValueTypeInvalid",
        "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        "field": "spec.replicas",
    }
    assert causes["spec.enabled"]["message"].endswith('must be of type boolean: "string"')
    assert "integer,string" in causes["spec.port"]["message"]


def test_required_enum_bounds_lengths():
    o = obj(runtime="tf", replicas=11, ratio=0, tags=[], model="x")
    del o["spec"]["model"]
    causes = by_field(validate(o, SCHEMA))
    assert causes["spec.model"] == {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.model"}
    assert causes["spec.runtime"]["reason"] == "FieldValueNotSupported"
    assert causes["spec.runtime"]["message"] == 'Unsupported value: "tf": supported values: "triton", "vllm"'
    assert causes["spec.replicas"]["message"] == (
        "Invalid value: 11: spec.replicas in body should be less than or equal to 10")
    assert causes["spec.ratio"]["message"] == "Invalid value: 0: spec.ratio in body should be greater than 0"
    assert causes["spec.tags"]["message"].endswith("spec.tags in body should have at least 1 items")


def test_strings_patterns_items_and_maps():
    causes = by_field(validate(obj(model="ABCDEFGHIJKL", tags=["a", "a", "b"], env={"A": 1},
                                   servers=[{"name": "a"}, {"weight": 2}, {"name": "a"}]), SCHEMA))
    assert causes["spec.model"]["reason"] in ("FieldValueTooLong", "FieldValueInvalid")
    assert any(c["message"].endswith("should match '^[a-z]+$'") for c in validate(obj(model="AB"), SCHEMA))
    assert causes["spec.tags"]["reason"] == "FieldValueTooMany"
    assert causes["spec.tags[1]"]["reason"] == "FieldValueDuplicate"
    assert causes["spec.env.A"]["reason"] == "FieldValueTypeInvalid"
    assert causes["spec.servers[1].name"]["reason"] == "FieldValueRequired"
    assert causes["spec.servers[2]"]["reason"] == "FieldValueDuplicate"
    too_long = by_field(validate(obj(model="abcdefghijkl"), SCHEMA))
    assert too_long["spec.model"] == {"reason": "FieldValueTooLong", "field": "spec.model",
                                      "message": "Too long: may not be more than 10 bytes"}


def test_int32_nullable_embedded():
    causes = by_field(validate(obj(replicas=2**31, note=None, template={"metadata": {}}), SCHEMA))
    assert "int32" in causes["spec.replicas"]["message"] or "less than" in causes["spec.replicas"]["message"]
    assert "spec.note" not in causes
    assert causes["spec.template.apiVersion"]["reason"] == "FieldValueRequired"
    assert causes["spec.template.kind"]["reason"] == "FieldValueRequired"
    nulls = by_field(validate(obj(model=None), SCHEMA))
    assert nulls["spec.model"]["message"] == 'Invalid value: "null": spec.model in body must be of type string: "null"'


def test_metadata_at_root_is_left_to_the_server_except_name_restrictions():
    o = obj()
    o["metadata"] = {"name": 5}
    assert validate(o, SCHEMA) == []
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "metadata": {
        "type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}}}
    o["metadata"] = {"name": "toolong", "labels": {"a": "b"}}
    assert by_field(validate(o, schema))["metadata.name"]["reason"] == "FieldValueTooLong"


def test_default_only_where_parent_exists():
    o = {"apiVersion": "x/v1", "kind": "Model", "metadata": {"name": "m"}}
    assert default(o, SCHEMA) == o  # no spec => nothing defaulted inside it
    out = default(obj(servers=[{"name": "a"}, {"name": "b", "weight": 5}]), SCHEMA)
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["runtime"] == "vllm"
    assert spec["resources"] == {"gpu": 0}  # defaults are defaulted too
    assert [s["weight"] for s in spec["servers"]] == [1, 5]
    assert "status" not in out


def test_default_replaces_nulls_of_non_nullable_fields():
    out = default(obj(replicas=None, enabled=None, note=None), SCHEMA)
    assert out["spec"]["replicas"] == 1
    assert "enabled" not in out["spec"]
    assert out["spec"]["note"] is None


def test_default_does_not_mutate():
    o = obj()
    snapshot = copy.deepcopy(o)
    default(o, SCHEMA)
    assert o == snapshot


def test_prune_reports_dropped_paths():
    o = obj(extra=1, servers=[{"name": "a", "bogus": True}], raw={"anything": {"x": 1}, "known": {"a": "1", "b": 2}},
            template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"y": 1}})
    o["status"] = {"phase": "Ready", "junk": 1}
    o["topLevel"] = True
    out, dropped = prune(o, SCHEMA)
    assert sorted(dropped) == sorted(["spec.extra", "spec.servers[0].bogus", "spec.raw.known.b", "status.junk",
                                     "topLevel"])
    assert out["metadata"] == o["metadata"]
    assert out["spec"]["raw"] == {"anything": {"x": 1}, "known": {"a": "1"}}
    assert out["spec"]["template"]["spec"] == {"y": 1}
    assert "extra" not in out["spec"]
    assert o["spec"]["extra"] == 1  # input untouched


def test_check_structural():
    assert check_structural(SCHEMA) == []
    problems = check_structural({"type": "object", "properties": {
        "spec": {"properties": {"a": {"type": "string"}}},
        "list": {"type": "array"},
        "both": {"type": "object", "properties": {"a": {"type": "string"}},
                 "additionalProperties": {"type": "string"}},
        "ios": {"type": "string", "x-kubernetes-int-or-string": True},
        "keys": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}},
        "pres": {"x-kubernetes-preserve-unknown-fields": True},
    }})
    text = "\n".join(problems)
    assert ("openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
            in text)
    assert "properties[list].items: Required value" in text
    assert "properties[both].additionalProperties: Forbidden" in text
    assert "properties[ios].type" in text
    assert "properties[keys].x-kubernetes-list-map-keys: Required value" in text
    assert "properties[pres]" not in text
    assert check_structural({"type": "array", "items": {"type": "string"}})[0].endswith("must be object at the root")
    ios = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    assert check_structural({"type": "object", "properties": {"port": ios}}) == []
    bad = {"type": "object", "properties": {"x": {"type": "string", "anyOf": [{"type": "string"}]}}}
    assert "must be empty to be structural" in check_structural(bad)[0]
    meta = {"type": "object", "properties": {"labels": {"type": "object"}}}
    assert any("metadata" in p for p in check_structural({"type": "object", "properties": {"metadata": meta}}))


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["model", "replicas", "junk", "env", "raw", "tags"]), _values, max_size=5))
def test_prune_is_idempotent_and_validate_never_crashes(spec):
    o = {"apiVersion": "x/v1", "kind": "Model", "metadata": {"name": "m"}, "spec": spec}
    pruned, _ = prune(o, SCHEMA)
    again, dropped = prune(pruned, SCHEMA)
    assert again == pruned and dropped == []
    assert isinstance(validate(default(pruned, SCHEMA), SCHEMA), list)
