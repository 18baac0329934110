"""CustomResourceDefinitions: turning a CRD object into served kinds, its status, and CR schema handling."""

from __future__ import annotations

import json
import re

from . import schema as structural
from .errors import ApiError, invalid
from .kinds import Column, Kind, Registry, dig

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def validate_crd(crd: dict) -> list[dict]:
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    causes = []

    def need(cond, field, msg="Required value", reason="FieldValueRequired"):
        if not cond:
            causes.append({"reason": reason, "field": field, "message": msg})

    need(spec.get("group"), "spec.group")
    need(names.get("plural"), "spec.names.plural")
    need(names.get("kind"), "spec.names.kind")
    need(spec.get("scope") in ("Namespaced", "Cluster"), "spec.scope",
         'Unsupported value: %s: supported values: "Cluster", "Namespaced"' % json.dumps(spec.get("scope")),
         "FieldValueNotSupported")
    versions = spec.get("versions") if isinstance(spec.get("versions"), list) else []
    need(versions, "spec.versions", "Invalid value: must have exactly one version marked as storage version",
         "FieldValueInvalid")
    if versions:
        need(sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) == 1, "spec.versions",
             "Invalid value: must have exactly one version marked as storage version", "FieldValueInvalid")
    name = (crd.get("metadata") or {}).get("name")
    if spec.get("group") and names.get("plural"):
        need(name == f"{names['plural']}.{spec['group']}", "metadata.name",
             f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group', "FieldValueInvalid")
    schemas = [((v.get("schema") or {}).get("openAPIV3Schema")) if isinstance(v, dict) else None for v in versions]
    # kube-apiserver validates the internal form: one schema shared by every version is spec.validation
    shared = len(schemas) >= 1 and all(json.dumps(s, sort_keys=True) == json.dumps(schemas[0], sort_keys=True)
                                       for s in schemas)
    for i, sch in enumerate(schemas[:1] if shared else schemas):
        if isinstance(sch, dict):
            base = "spec.validation" if shared else f"spec.versions[{i}].schema"
            for msg in structural.check_structural(sch):
                where, _, what = msg.partition(": ")
                reason = next((r for p, r in _REASONS if what.startswith(p)), "FieldValueInvalid")
                causes.append({"reason": reason, "field": f"{base}.{where}", "message": what})
    if versions and not any(isinstance(v, dict) and v.get("storage") for v in versions):
        causes.append({"reason": "FieldValueInvalid", "field": "status.storedVersions",
                       "message": "Invalid value: null: must have at least one stored version"})
    return causes


_REASONS = (("Required value", "FieldValueRequired"), ("Forbidden", "FieldValueForbidden"),
            ("Unsupported value", "FieldValueNotSupported"), ("Invalid value", "FieldValueInvalid"))


def set_status(crd: dict) -> None:
    spec = crd["spec"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    old = crd.get("status") or {}
    stored = list(old.get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    ts = crd["metadata"].get("creationTimestamp")
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    crd["status"] = {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": ts},
        ],
        "storedVersions": stored,
    }


def _jsonpath(path: str):
    parts = re.findall(r"\.([^.\[\]]+)|\[(\d+|\*)\]|\['([^']+)'\]", path)

    def get(obj):
        cur = [obj]
        for name, idx, quoted in parts:
            nxt = []
            for c in cur:
                if (name or quoted) and isinstance(c, dict) and (name or quoted) in c:
                    nxt.append(c[name or quoted])
                elif idx == "*" and isinstance(c, list):
                    nxt.extend(c)
                elif idx and idx != "*" and isinstance(c, list) and int(idx) < len(c):
                    nxt.append(c[int(idx)])
            cur = nxt
        if not cur:
            return None
        vals = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in cur]
        return vals[0] if len(vals) == 1 else ",".join(str(v) for v in vals)
    return get


def _columns(version: dict) -> tuple[Column, ...]:
    cols = version.get("additionalPrinterColumns")
    if not cols:
        return (Column("Age", "date", _jsonpath(".metadata.creationTimestamp")),)
    return tuple(Column(c["name"], c.get("type", "string"), _jsonpath(c.get("jsonPath", "")), c.get("priority", 0),
                        c.get("description", ""), c.get("format", "")) for c in cols)


def kinds_of(crd: dict) -> list[Kind]:
    spec = crd["spec"]
    names = spec["names"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    conversion = spec.get("conversion") if (spec.get("conversion") or {}).get("strategy") == "Webhook" else None
    out = []
    for v in spec["versions"]:
        if not v.get("served", True):
            continue
        sub = v.get("subresources") or {}
        subs = tuple(s for s in ("status", "scale") if s in sub)
        out.append(Kind(spec["group"], v["name"], names["kind"], names["plural"], spec["scope"] == "Namespaced",
                        tuple(names.get("shortNames") or ()), tuple(names.get("categories") or ()), subs,
                        _columns(v), generation=True, crd=True,
                        schema=(v.get("schema") or {}).get("openAPIV3Schema"),
                        scale_paths=sub.get("scale") or {}, storage_version=storage, conversion=conversion))
    return out


def sync(registry: Registry, crd: dict | None, name: str) -> None:
    """Make the registry serve exactly what `crd` (None: deleted) declares."""
    if crd is None or not crd.get("spec"):
        registry.remove_crd(name)
    else:
        registry.set_crd(name, kinds_of(crd))


def check_custom_resource(kind: Kind, obj: dict, field_validation: str, warnings: list[str]) -> dict:
    """Validate, default and prune a custom resource against its version's schema."""
    sch = kind.schema
    if not sch:
        return obj
    keep = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    obj = structural.default(obj, sch)
    pruned, unknown = structural.prune(obj, sch)
    unknown = [u for u in unknown if not u.lstrip(".").startswith(("metadata", "apiVersion", "kind"))]
    if unknown and field_validation == "Strict":
        msg = ", ".join(f'unknown field "{u.lstrip(".")}"' for u in unknown)
        raise ApiError(400, f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: strict '
                       f"decoding error: {msg}", "BadRequest")
    if unknown and field_validation == "Warn":
        warnings.extend(f'unknown field "{u.lstrip(".")}"' for u in unknown)
    pruned.update(keep)
    causes = sorted(structural.validate(pruned, sch), key=lambda c: c.get("field", ""))  # as kube-openapi reports
    if causes:
        raise invalid(kind.kind, kind.group, keep.get("metadata", {}).get("name", ""), causes)
    return pruned


def scale_of(kind: Kind, obj: dict) -> dict:
    if kind.crd:
        p = kind.scale_paths
        spec_r = dig(obj, p.get("specReplicasPath", ".spec.replicas").lstrip("."), 0)
        stat_r = dig(obj, p.get("statusReplicasPath", ".status.replicas").lstrip("."), 0)
        selector = dig(obj, p.get("labelSelectorPath", "").lstrip("."), "") if p.get("labelSelectorPath") else ""
    else:
        spec_r = dig(obj, "spec.replicas", 1)
        stat_r = dig(obj, "status.replicas", 0)
        sel = dig(obj, "spec.selector.matchLabels", {}) or {}
        selector = ",".join(f"{k}={v}" for k, v in sel.items())
    m = obj["metadata"]
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1",
             "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                          if k in m},
             "spec": {"replicas": spec_r or 0}, "status": {"replicas": stat_r or 0}}
    if selector:
        scale["status"]["selector"] = selector
    return scale


def set_replicas(kind: Kind, obj: dict, replicas: int) -> None:
    path = kind.scale_paths.get("specReplicasPath", ".spec.replicas") if kind.crd else ".spec.replicas"
    parts = path.lstrip(".").split(".")
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = replicas
