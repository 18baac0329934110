"""Strict validation of Kubernetes objects against the OpenAPI v3 schemas of a Kubernetes release, offline.

The schemas are the release's own ``api/openapi-spec/v3/*.json`` (what kube-apiserver serves at ``/openapi/v3``),
read from the ``k8s.io/kubernetes`` Go module that ``hack/kube/k8s/go.mod`` pins, in the Go module cache. Objects of
custom resources are validated against their CRD's ``openAPIV3Schema`` (and their metadata against ObjectMeta).

Strict as ``kubectl apply --validate=strict`` / ``fieldValidation=Strict``: a field the schema does not declare is
an error (unless ``x-kubernetes-preserve-unknown-fields`` or ``additionalProperties`` allow it), and so are a wrong
type, a value outside an ``enum`` and a missing ``required`` field. ``null`` is accepted anywhere (the API server
reads it as unset).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REF = "#/components/schemas/"


def kubernetes_version() -> str:
    text = (REPO / "hack" / "kube" / "k8s" / "go.mod").read_text()
    return re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes (v\S+)", text, re.M).group(1)


def spec_dir() -> Path | None:
    """api/openapi-spec/v3 of the pinned k8s.io/kubernetes in the Go module cache, or None."""
    cache = os.environ.get("GOMODCACHE")
    if not cache:
        try:
            cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, timeout=60,
                                   check=False).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            cache = ""
        cache = cache or os.path.join(os.path.expanduser("~"), "go", "pkg", "mod")
    path = Path(cache) / ("k8s.io/kubernetes@%s" % kubernetes_version()) / "api" / "openapi-spec" / "v3"
    return path if path.is_dir() else None


class Schemas:
    """Every component schema of the release, and the one of each group/version/kind."""

    def __init__(self, directory: Path):
        self.components: dict[str, dict] = {}
        for path in sorted(directory.glob("*.json")):
            self.components.update(json.loads(path.read_text()).get("components", {}).get("schemas", {}))
        self.by_gvk = {}
        for name, schema in self.components.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                self.by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name

    def for_object(self, obj: dict) -> dict | None:
        group, _sep, version = obj["apiVersion"].rpartition("/")
        name = self.by_gvk.get((group, version, obj["kind"]))
        return self.components[name] if name else None

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.components[schema["$ref"][len(REF):]]
        return schema

    def errors(self, value, schema: dict, path: str = "") -> list[str]:
        schema = self.resolve(schema)
        out = []
        for sub in schema.get("allOf", []):
            out += self.errors(value, sub, path)
        if value is None:
            return out
        if schema.get("x-kubernetes-int-or-string") or schema.get("format") == "int-or-string":
            ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
            return out if ok else [*out, "%s: %r is neither an integer nor a string" % (path or ".", value)]
        for junctor in ("oneOf", "anyOf"):
            if junctor in schema and all(self.errors(value, sub, path) for sub in schema[junctor]):
                out.append("%s: %r matches none of %s" % (path or ".", value, junctor))
        kind = schema.get("type")
        if kind and not _is(value, kind):
            return [*out, "%s: %r is not of type %s" % (path or ".", value, kind)]
        if "enum" in schema and value not in schema["enum"]:
            out.append("%s: %r is not one of %s" % (path or ".", value, schema["enum"]))
        if isinstance(value, dict):
            out += self._object(value, schema, path)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                out += self.errors(item, schema["items"], "%s[%d]" % (path, index))
        return out

    def _object(self, value: dict, schema: dict, path: str) -> list[str]:
        out = []
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in schema.get("required", []):
            if key not in value:
                out.append("%s.%s: required" % (path, key))
        if props is None and extra is None:
            return out  # a free-form object
        for key, item in value.items():
            where = "%s.%s" % (path, key)
            if props and key in props:
                out += self.errors(item, props[key], where)
            elif isinstance(extra, dict):
                out += self.errors(item, extra, where)
            elif extra is not True and not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append("%s: unknown field" % where)
        return out


def _is(value, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def crd_schemas(docs: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> openAPIV3Schema of every served version of the CRDs among docs."""
    out = {}
    for doc in docs:
        if doc["kind"] == "CustomResourceDefinition":
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    out[(spec["group"], version["name"], spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return out


def validate(schemas: Schemas, crds: dict, obj: dict) -> list[str] | None:
    """The errors of one object (None: no schema knows its kind)."""
    schema = schemas.for_object(obj)
    if schema is not None:
        return schemas.errors(obj, schema)
    group, _sep, version = obj["apiVersion"].rpartition("/")
    schema = crds.get((group, version, obj["kind"]))
    if schema is None:
        return None
    meta = schemas.components["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    return schemas.errors(obj, schema) + schemas.errors(obj.get("metadata"), meta, ".metadata")
