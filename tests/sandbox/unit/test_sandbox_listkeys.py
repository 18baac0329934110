from __future__ import annotations

import pytest

from sandbox.apiserver.listkeys import ListInfo, is_atomic_struct, is_map_type, key_defaults, list_info, schema_at

DEPLOY = ("apps", "v1", "Deployment")
POD = ("", "v1", "Pod")
CRON = ("batch", "v1", "CronJob")


@pytest.mark.parametrize(
    ("gvk", "path", "kind", "keys", "smp_key"),
    [
        (POD, ("spec", "containers"), "map", ("name",), "name"),
        (POD, ("spec", "initContainers"), "map", ("name",), "name"),
        (POD, ("spec", "ephemeralContainers"), "map", ("name",), "name"),
        (POD, ("spec", "containers", "env"), "map", ("name",), "name"),
        (POD, ("spec", "containers", "ports"), "map", ("containerPort", "protocol"), "containerPort"),
        (POD, ("spec", "containers", "volumeMounts"), "map", ("mountPath",), "mountPath"),
        (POD, ("spec", "volumes"), "map", ("name",), "name"),
        (POD, ("spec", "imagePullSecrets"), "map", ("name",), "name"),
        (POD, ("spec", "tolerations"), "atomic", (), ""),
        (POD, ("spec", "containers", "args"), "atomic", (), ""),
        (POD, ("status", "conditions"), "map", ("type",), "type"),
        (DEPLOY, ("spec", "template", "spec", "containers", "env"), "map", ("name",), "name"),
        (DEPLOY, ("status", "conditions"), "map", ("type",), "type"),
        (("apps", "v1", "StatefulSet"), ("spec", "template", "spec", "volumes"), "map", ("name",), "name"),
        (("batch", "v1", "Job"), ("spec", "template", "spec", "containers"), "map", ("name",), "name"),
        (("batch", "v1", "Job"), ("status", "conditions"), "atomic", (), "type"),
        (CRON, ("spec", "jobTemplate", "spec", "template", "spec", "containers", "ports"), "map",
         ("containerPort", "protocol"), "containerPort"),
        (("", "v1", "Service"), ("spec", "ports"), "map", ("port", "protocol"), "port"),
        (("", "v1", "ConfigMap"), ("metadata", "ownerReferences"), "map", ("uid",), "uid"),
        (("x.io", "v1", "Thing"), ("metadata", "finalizers"), "set", (), ""),
        (("rbac.authorization.k8s.io", "v1", "Role"), ("rules",), "atomic", (), ""),
        (("x.io", "v1", "Thing"), ("spec", "items"), "atomic", (), ""),
    ],
)
def test_builtin_list_info(gvk, path, kind, keys, smp_key):
    info = list_info(gvk, path)
    assert (info.kind, info.keys, info.smp_key) == (kind, keys, smp_key)


def test_volumes_use_retain_keys_and_atomic_lists_replace():
    assert list_info(POD, ("spec", "volumes")).smp == "merge,retainKeys"
    assert list_info(POD, ("spec", "tolerations")).smp == "replace"
    assert list_info(POD, ("metadata", "finalizers")).smp == "merge"


def test_crd_schema_extensions():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "servers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "zone"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "zone": {"type": "string", "default": "a"},
                        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "sel": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"a": {"type": "string"}}},
    }}}}
    gvk = ("ml.example.com", "v1", "Model")
    assert list_info(gvk, ("spec", "servers"), schema) == ListInfo("map", ("name", "zone"), "merge", "name")
    assert list_info(gvk, ("spec", "servers", "tags"), schema).kind == "set"
    assert list_info(gvk, ("spec", "nope"), schema).kind == "atomic"
    assert key_defaults(gvk, ("spec", "servers"), schema) == {"zone": "a"}
    assert is_map_type(gvk, ("spec", "labels"), schema)
    assert not is_map_type(gvk, ("spec",), schema)
    assert is_atomic_struct(gvk, ("spec", "sel"), schema)
    assert schema_at(schema, ("spec", "servers", "name")) == {"type": "string"}


def test_atomic_structs_and_map_types():
    assert is_atomic_struct(DEPLOY, ("spec", "selector"))
    assert is_atomic_struct(("", "v1", "Service"), ("spec", "selector"))
    assert is_atomic_struct(POD, ("spec", "containers", "env", "valueFrom", "secretKeyRef"))
    assert not is_atomic_struct(DEPLOY, ("spec", "template"))
    assert is_map_type(DEPLOY, ("spec", "template", "metadata", "labels"))
    assert is_map_type(("", "v1", "ConfigMap"), ("data",))
    assert is_map_type(POD, ("spec", "containers", "resources", "limits"))
    assert not is_map_type(POD, ("spec", "containers", "resources"))
