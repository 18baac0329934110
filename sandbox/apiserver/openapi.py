"""OpenAPI v3 documents: per group-version paths (PATCH with dryRun/fieldManager/fieldValidation, which kubectl
checks before relying on server-side validation) and component schemas (CRD schemas for `kubectl explain`)."""

from __future__ import annotations

import hashlib
import json

from . import builtin_schemas
from .kinds import Kind, Registry

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]

_META_DESC = ("Standard object's metadata. More info: "
              "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_OBJECT_META = {
    "type": "object", "description": "ObjectMeta is metadata that all persisted resources must have.",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "namespace": {"type": "string", "description": "Namespace defines the space within which each name must "
                                                        "be unique."},
        "labels": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "Map of string keys and values that can be used to organize and categorize "
                                  "objects."},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Annotations is an unstructured key value map."},
        "generateName": {"type": "string", "description": "GenerateName is an optional prefix."},
        "uid": {"type": "string", "description": "UID is the unique in time and space value for this object."},
        "resourceVersion": {"type": "string", "description": "An opaque value that represents the internal "
                                                             "version of this object."},
        "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a "
                                                                            "specific generation of the desired "
                                                                            "state."},
        "finalizers": {"type": "array", "items": {"type": "string"}, "description": "Must be empty before the "
                                                                                    "object is deleted."},
        "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields":
                                                       True}, "description": "List of objects depended by this "
                                                                             "object."},
    },
}


def _schema_name(k: Kind) -> str:
    if not k.crd:
        return builtin_schemas.definition_name(f"{k.version[:1].upper()}{k.version[1:]}{k.kind}", k.group, k.version,
                                               (k.kind,))
    rev = ".".join(reversed(k.group.split("."))) if k.group else "io.k8s.api.core"
    return f"{rev}.{k.version}.{k.kind}"


def _schema(k: Kind) -> dict:
    gvk = [{"group": k.group, "version": k.version, "kind": k.kind}]
    base = {"apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                                           "representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                                                     "this object represents."},
            "metadata": dict(_OBJECT_META, description=_META_DESC)}
    if k.schema:
        sch = json.loads(json.dumps(k.schema))
        sch.setdefault("type", "object")
        props = sch.setdefault("properties", {})
        for name, value in base.items():
            props.setdefault(name, value)
        if props.get("metadata", {}).get("type") == "object" and "properties" not in props["metadata"]:
            props["metadata"] = dict(_OBJECT_META, description=_META_DESC)
    else:
        sch = {"type": "object", "description": f"{k.kind} ({k.api_version})", "properties": dict(base),
               "x-kubernetes-preserve-unknown-fields": True}
    sch["x-kubernetes-group-version-kind"] = gvk
    return sch


def _op(k: Kind, verb: str) -> dict:
    op = {"operationId": f"{verb}{k.kind}", "parameters": _PARAMS if verb != "get" else [],
          "x-kubernetes-action": verb,
          "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind},
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
              "$ref": f"#/components/schemas/{_schema_name(k)}"}}}}}}
    return op


def gv_document(registry: Registry, group: str, version: str) -> dict | None:
    kinds = registry.in_group_version(group, version)
    if not kinds:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths, schemas = {}, {}
    builtin = [k for k in kinds if not k.crd]
    if builtin:  # generated from the kubernetes client's models (cached per group-version)
        schemas.update(builtin_schemas.gv_schemas(group, version, [(k.kind, k.plural) for k in builtin]))
    for k in kinds:
        item = f"{prefix}/namespaces/{{namespace}}/{k.plural}/{{name}}" if k.namespaced else \
            f"{prefix}/{k.plural}/{{name}}"
        if "patch" in k.verbs:
            paths[item] = {"get": _op(k, "get"), "put": _op(k, "put"), "patch": _op(k, "patch"),
                           "delete": _op(k, "delete")}
        coll = item.rsplit("/", 1)[0]
        paths[coll] = {"post": _op(k, "post")}
        if k.crd or _schema_name(k) not in schemas:
            schemas[_schema_name(k)] = _schema(k)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {"schemas": schemas}}


def document(registry: Registry, path: str) -> dict | None:
    parts = path.strip("/").split("/")
    if parts == ["openapi", "v3"]:
        out = {}
        for group, versions in registry.groups().items():
            for v in versions:
                rel = f"apis/{group}/{v}" if group else f"api/{v}"
                doc = gv_document(registry, group, v)
                digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
                out[rel] = {"serverRelativeURL": f"/openapi/v3/{rel}?hash={digest}"}
        return {"paths": out}
    if parts[:2] == ["openapi", "v3"]:
        rest = parts[2:]
        if rest[:1] == ["api"] and len(rest) == 2:
            return gv_document(registry, "", rest[1])
        if rest[:1] == ["apis"] and len(rest) == 3:
            return gv_document(registry, rest[1], rest[2])
    return None
