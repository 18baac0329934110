"""CRD structural schemas (``openAPIV3Schema``): validation, defaulting, pruning and structural checks.

Causes returned by ``validate`` have the shape of Kubernetes ``StatusCause``: ``{"reason", "message", "field"}``;
the messages follow ``k8s.io/apimachinery/pkg/util/validation/field`` and the go-openapi validators.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

__all__ = ["check_structural", "default", "prune", "validate"]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


# ---------------------------------------------------------------------------------------------------------------------
# helpers


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _is_type(v: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    return True


def _fmt_value(v: Any) -> str:
    """Value as Go's field.Error prints it (%#v-ish: strings quoted, numbers bare)."""
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _cause(reason: str, field: str, message: str) -> dict:
    return {"reason": reason, "message": message, "field": field}


def _invalid(field: str, value: Any, detail: str) -> dict:
    return _cause("FieldValueInvalid", field, "Invalid value: %s: %s" % (_fmt_value(value), detail))


def _child(path: str, name: str) -> str:
    return name if not path else "%s.%s" % (path, name)


def _index(path: str, i: int) -> str:
    return "%s[%d]" % (path, i)


def _types(node: dict) -> str:
    return node.get("type") or ""


# ---------------------------------------------------------------------------------------------------------------------
# validate


def validate(obj: Any, schema: dict) -> list[dict]:
    """Validate ``obj`` against a structural schema; returns a list of StatusCause-like dicts (empty when valid).

    At the root, ``apiVersion``, ``kind`` and ``metadata`` are left to the server.
    """
    causes: list[dict] = []
    _validate(obj, schema or {}, "", causes, root=True)
    return causes


def _validate(v: Any, node: dict, path: str, out: list[dict], root: bool = False) -> None:
    if not isinstance(node, dict) or not node:
        return
    name = path or "body"
    t = _types(node)
    if v is None:
        if node.get("nullable") or (not t and not node.get("x-kubernetes-int-or-string")):
            return
        out.append(_cause("FieldValueTypeInvalid", path, 'Invalid value: "null": %s in body must be of type %s: "null"'
                          % (name, t or "integer,string")))
        return
    if node.get("x-kubernetes-int-or-string"):
        if not (isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))):
            out.append(_cause("FieldValueTypeInvalid", path, 'Invalid value: "%s": %s in body must be of type '
                              'integer,string: "%s"' % (_type_name(v), name, _type_name(v))))
            return
    elif t and not _is_type(v, t):
        out.append(_cause("FieldValueTypeInvalid", path, 'Invalid value: "%s": %s in body must be of type %s: "%s"'
                          % (_type_name(v), name, t, _type_name(v))))
        return
    _validate_value(v, node, path, name, out)
    for kw in ("allOf", "anyOf", "oneOf", "not"):
        if kw in node:
            _validate_junctors(v, node, kw, path, name, out)
    if isinstance(v, dict):
        _validate_object(v, node, path, out, root)
    elif isinstance(v, list):
        _validate_array(v, node, path, name, out)


def _validate_value(v: Any, node: dict, path: str, name: str, out: list[dict]) -> None:
    if "enum" in node and isinstance(node["enum"], list):
        from sandbox.apiserver.patch import json_equal

        if not any(json_equal(v, e) for e in node["enum"]):
            supported = ", ".join(json.dumps(e if isinstance(e, str) else json.dumps(e)) for e in node["enum"])
            out.append(_cause("FieldValueNotSupported", path,
                              "Unsupported value: %s: supported values: %s" % (_fmt_value(v), supported)))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in node:
            m = node["minimum"]
            if node.get("exclusiveMinimum") and v <= m:
                out.append(_invalid(path, v, "%s in body should be greater than %s" % (name, _num(m))))
            elif v < m:
                out.append(_invalid(path, v, "%s in body should be greater than or equal to %s" % (name, _num(m))))
        if "maximum" in node:
            m = node["maximum"]
            if node.get("exclusiveMaximum") and v >= m:
                out.append(_invalid(path, v, "%s in body should be less than %s" % (name, _num(m))))
            elif v > m:
                out.append(_invalid(path, v, "%s in body should be less than or equal to %s" % (name, _num(m))))
        mo = node.get("multipleOf")
        if mo and (v / mo) != int(v / mo):
            out.append(_invalid(path, v, "%s in body should be a multiple of %s" % (name, _num(mo))))
        fmt = node.get("format")
        if isinstance(v, int) and fmt in ("int32", "int64"):
            lo, hi = _INT32 if fmt == "int32" else _INT64
            if not lo <= v <= hi:
                out.append(_invalid(path, v, "%s in body must be of type %s: %s" % (name, fmt, _fmt_value(v))))
    if isinstance(v, str):
        if "maxLength" in node and len(v) > node["maxLength"]:
            out.append(_cause("FieldValueTooLong", path,
                              "Too long: may not be more than %d bytes" % node["maxLength"]))
        if "minLength" in node and len(v) < node["minLength"]:
            out.append(_invalid(path, v, "%s in body should be at least %d chars long" % (name, node["minLength"])))
        pat = node.get("pattern")
        if isinstance(pat, str):
            try:
                ok = re.search(pat, v) is not None
            except re.error:
                ok = True
            if not ok:
                out.append(_invalid(path, v, "%s in body should match '%s'" % (name, pat)))
        fmt = node.get("format")
        if fmt and not _check_format(v, fmt):
            out.append(_invalid(path, v, "%s in body must be of type %s: %s" % (name, fmt, _fmt_value(v))))


_FORMATS: dict[str, re.Pattern[str]] = {
    "date-time": re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "uuid": re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"),
    "ipv4": re.compile(r"^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$"),
    "hostname": re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
    "email": re.compile(r"^[^@\s]+@[^@\s]+$"),
    "byte": re.compile(r"^[A-Za-z0-9+/]*={0,2}$"),
    "duration": re.compile(r"^([-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$"),
}


def _check_format(v: str, fmt: str) -> bool:
    rx = _FORMATS.get(fmt)
    return rx is None or rx.match(v) is not None


def _validate_junctors(v: Any, node: dict, kw: str, path: str, name: str, out: list[dict]) -> None:
    def ok(sub: dict) -> bool:
        errs: list[dict] = []
        _validate(v, sub, path, errs)
        if isinstance(v, dict):
            for r in sub.get("required") or []:
                if r not in v:
                    errs.append({})
        return not errs

    subs = node[kw]
    if kw == "allOf":
        for s in subs or []:
            _validate(v, s, path, out)
    elif kw == "anyOf":
        if subs and not any(ok(s) for s in subs):
            out.append(_invalid(path, v, "%s in body must validate at least one schema (anyOf)" % name))
    elif kw == "oneOf":
        if subs and sum(1 for s in subs if ok(s)) != 1:
            out.append(_invalid(path, v, "%s in body must validate one and only one schema (oneOf)" % name))
    elif kw == "not" and isinstance(subs, dict) and ok(subs):
        out.append(_invalid(path, v, "%s in body must not validate the schema (not)" % name))


def _validate_object(v: dict, node: dict, path: str, out: list[dict], root: bool) -> None:
    props = node.get("properties") or {}
    for r in node.get("required") or []:
        if r not in v:
            out.append(_cause("FieldValueRequired", _child(path, r), "Required value"))
    if node.get("x-kubernetes-embedded-resource"):
        for r in ("apiVersion", "kind"):
            if not v.get(r):
                out.append(_cause("FieldValueRequired", _child(path, r), "Required value"))
    if "maxProperties" in node and len(v) > node["maxProperties"]:
        out.append(_cause("FieldValueTooMany", path, "Too many: %d: must have at most %d items"
                          % (len(v), node["maxProperties"])))
    if "minProperties" in node and len(v) < node["minProperties"]:
        out.append(_invalid(path, v, "%s in body should have at least %d properties"
                            % (path or "body", node["minProperties"])))
    addl = node.get("additionalProperties")
    for k, val in v.items():
        if root and k in ("apiVersion", "kind", "metadata"):
            if k == "metadata" and isinstance(props.get("metadata"), dict) and isinstance(val, dict):
                # CRD schemas may only restrict metadata.name / metadata.generateName
                mprops = props["metadata"].get("properties") or {}
                for mk in ("name", "generateName"):
                    if mk in mprops and mk in val:
                        _validate(val[mk], mprops[mk], "metadata." + mk, out)
            continue
        if k in props:
            _validate(val, props[k], _child(path, k), out)
        elif isinstance(addl, dict):
            _validate(val, addl, _child(path, k), out)


def _validate_array(v: list, node: dict, path: str, name: str, out: list[dict]) -> None:
    if "maxItems" in node and len(v) > node["maxItems"]:
        out.append(_cause("FieldValueTooMany", path, "Too many: %d: must have at most %d items"
                          % (len(v), node["maxItems"])))
    if "minItems" in node and len(v) < node["minItems"]:
        out.append(_invalid(path, v, "%s in body should have at least %d items" % (name, node["minItems"])))
    items = node.get("items")
    if isinstance(items, dict):
        for i, x in enumerate(v):
            _validate(x, items, _index(path, i), out)
    lt = node.get("x-kubernetes-list-type")
    if lt == "set" or node.get("uniqueItems"):
        seen: set[str] = set()
        for i, x in enumerate(v):
            k = json.dumps(x, sort_keys=True)
            if k in seen:
                out.append(_cause("FieldValueDuplicate", _index(path, i), "Duplicate value: %s" % _fmt_value(x)))
            seen.add(k)
    elif lt == "map":
        keys = node.get("x-kubernetes-list-map-keys") or []
        seen = set()
        for i, x in enumerate(v):
            if not isinstance(x, dict):
                continue
            kv = {k: x.get(k) for k in keys}
            k = json.dumps(kv, sort_keys=True)
            if k in seen:
                out.append(_cause("FieldValueDuplicate", _index(path, i), "Duplicate value: %s"
                                  % "map[string]interface {}{%s}" % ", ".join(
                                      '"%s":%s' % (a, _fmt_value(b)) for a, b in kv.items())))
            seen.add(k)


# ---------------------------------------------------------------------------------------------------------------------
# default


def default(obj: Any, schema: dict) -> Any:
    """Apply ``default`` values of the schema to ``obj`` (returns a new object).

    As in Kubernetes: defaults apply only where the parent object exists; nulls of non-nullable fields are dropped
    first (and then defaulted when a default exists); defaults are themselves defaulted recursively.
    """
    out = copy.deepcopy(obj)
    _default(out, schema or {})
    return out


def _default(v: Any, node: dict) -> None:
    if not isinstance(node, dict):
        return
    if isinstance(v, dict):
        props = node.get("properties") or {}
        for k, sub in props.items():
            if not isinstance(sub, dict):
                continue
            if k in v and v[k] is None and not sub.get("nullable"):
                if "default" in sub:
                    v[k] = copy.deepcopy(sub["default"])
                else:
                    del v[k]
            elif k not in v and "default" in sub:
                v[k] = copy.deepcopy(sub["default"])
        addl = node.get("additionalProperties")
        for k, val in list(v.items()):
            if k in props:
                _default(val, props[k])
            elif isinstance(addl, dict):
                if val is None and not addl.get("nullable") and "default" in addl:
                    v[k] = copy.deepcopy(addl["default"])
                _default(v[k], addl)
    elif isinstance(v, list):
        items = node.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                if x is None and not items.get("nullable") and "default" in items:
                    v[i] = copy.deepcopy(items["default"])
                _default(v[i], items)
    for sub in node.get("allOf") or []:
        _default(v, sub)


# ---------------------------------------------------------------------------------------------------------------------
# prune

_EMBEDDED_KEEP = ("apiVersion", "kind", "metadata")


def prune(obj: Any, schema: dict) -> tuple[Any, list[str]]:
    """Drop fields the schema does not specify; returns ``(pruned, unknown_field_paths)``.

    Fields under ``x-kubernetes-preserve-unknown-fields: true`` are kept.  At the root (and in embedded
    resources) ``apiVersion``, ``kind`` and ``metadata`` are never pruned (metadata belongs to the server).
    Paths look like ``spec.foo`` or ``spec.items[0].bar``.
    """
    out = copy.deepcopy(obj)
    dropped: list[str] = []
    _prune(out, schema or {}, "", dropped, root=True)
    return out, dropped


def _prune(v: Any, node: dict, path: str, dropped: list[str], root: bool = False) -> None:
    if not isinstance(node, dict):
        return
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if isinstance(v, dict):
        props = node.get("properties") or {}
        addl = node.get("additionalProperties")
        embedded = root or bool(node.get("x-kubernetes-embedded-resource"))
        for k in list(v):
            if embedded and k in _EMBEDDED_KEEP and k not in props:
                continue
            cp = _child(path, k)
            if k in props:
                _prune(v[k], props[k], cp, dropped)
            elif isinstance(addl, dict):
                _prune(v[k], addl, cp, dropped)
            elif addl is True or preserve:
                continue
            else:
                dropped.append(cp)
                del v[k]
    elif isinstance(v, list):
        items = node.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                _prune(x, items, _index(path, i), dropped)


# ---------------------------------------------------------------------------------------------------------------------
# structural checks


def check_structural(schema: dict, path: str = "openAPIV3Schema") -> list[str]:
    """Problems that make ``schema`` non-structural (as CRD validation reports them; empty when fine)."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return ["%s: Required value: must be an object" % path]
    t = schema.get("type")
    if t != "object":
        if not t:
            problems.append("%s.type: Required value: must not be empty at the root" % path)
        else:
            problems.append('%s.type: Invalid value: "%s": must be object at the root' % (path, t))
    _check_node(schema, path, problems, root=True, ctx="object fields")
    meta = (schema.get("properties") or {}).get("metadata")
    if isinstance(meta, dict):
        extra = set(meta.get("properties") or {}) - {"name", "generateName"}
        if extra or set(meta) - {"type", "properties", "description"}:
            problems.append(
                "%s.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
                "but metadata is implicitly specified" % path
            )
    return problems


_VALUE_ONLY = ("allOf", "anyOf", "oneOf", "not")
_INT_OR_STRING_JUNCTORS = ({"type": "integer"}, {"type": "string"})
_FORBIDDEN_IN_JUNCTORS = ("type", "default", "nullable", "additionalProperties", "x-kubernetes-preserve-unknown-fields",
                          "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string", "description")


def _check_node(node: dict, path: str, problems: list[str], root: bool = False,
                ctx: str = "object fields") -> None:
    if not isinstance(node, dict):
        problems.append("%s: Invalid value: must be a schema object" % path)
        return
    t = node.get("type")
    ios = node.get("x-kubernetes-int-or-string")
    pres = node.get("x-kubernetes-preserve-unknown-fields")
    if "$ref" in node:
        problems.append("%s.$ref: Forbidden: $ref is not supported" % path)
    if pres is False:
        problems.append("%s.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
                        % path)
    if ios and t:
        problems.append('%s.type: Invalid value: "%s": must be empty if x-kubernetes-int-or-string is true' % (path, t))
    if not root and not t and not ios and not pres:
        problems.append("%s.type: Required value: must not be empty for specified %s" % (path, ctx))
    if node.get("x-kubernetes-embedded-resource") and t != "object":
        problems.append('%s.type: Invalid value: "%s": must be object if x-kubernetes-embedded-resource is true'
                        % (path, t or ""))
    if "properties" in node and "additionalProperties" in node:
        problems.append("%s.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
                        % path)
    if node.get("additionalProperties") is False:
        problems.append("%s.additionalProperties: Forbidden: must not be used to forbid fields" % path)
    if t == "array" and not isinstance(node.get("items"), dict):
        problems.append("%s.items: Required value: must be specified" % path)
    if t and t not in ("object", "array", "string", "integer", "number", "boolean"):
        problems.append('%s.type: Unsupported value: "%s": supported values: "array", "boolean", "integer", '
                        '"number", "object", "string"' % (path, t))
    for k, sub in (node.get("properties") or {}).items():
        _check_node(sub, "%s.properties[%s]" % (path, k), problems, ctx="object fields")
    if isinstance(node.get("additionalProperties"), dict):
        _check_node(node["additionalProperties"], path + ".additionalProperties", problems, ctx="object fields")
    if isinstance(node.get("items"), dict):
        _check_node(node["items"], path + ".items", problems, ctx="array items")
    elif isinstance(node.get("items"), list):
        problems.append("%s.items: Forbidden: items must be a schema object and not an array" % path)
    for kw in _VALUE_ONLY:
        subs = node.get(kw)
        subs = [subs] if isinstance(subs, dict) else (subs or [])
        for i, sub in enumerate(subs):
            if ios and kw in ("anyOf", "allOf") and isinstance(sub, dict) and sub in _INT_OR_STRING_JUNCTORS:
                continue  # the int-or-string idiom controller-gen emits is allowed
            if isinstance(sub, dict):
                for bad in _FORBIDDEN_IN_JUNCTORS:
                    if bad in sub:
                        problems.append("%s.%s[%d].%s: Forbidden: must be empty to be structural" % (path, kw, i, bad))
    lt = node.get("x-kubernetes-list-type")
    if lt is not None:
        if lt not in ("atomic", "set", "map"):
            problems.append('%s.x-kubernetes-list-type: Unsupported value: "%s": supported values: "atomic", "map", '
                            '"set"' % (path, lt))
        if t != "array":
            problems.append("%s.x-kubernetes-list-type: Invalid value: must only be used if type is array" % path)
        if lt == "map":
            keys = node.get("x-kubernetes-list-map-keys") or []
            if not keys:
                problems.append("%s.x-kubernetes-list-map-keys: Required value: must not be empty if "
                                "x-kubernetes-list-type is map" % path)
            item_props = ((node.get("items") or {}).get("properties") or {})
            for k in keys:
                if k not in item_props:
                    problems.append('%s.x-kubernetes-list-map-keys: Invalid value: "%s": entries must all be names '
                                    "of item properties" % (path, k))
