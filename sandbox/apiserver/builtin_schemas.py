"""OpenAPI v3 schemas of built-in kinds, generated from the `kubernetes` Python client's model classes.

Each model class (``kubernetes/client/models/v1_deployment.py`` ...) declares ``openapi_types`` (attribute -> type
string: ``str``, ``int``, ``bool``, ``datetime``, ``object``, ``List[X]``, ``Dict[str, X]`` or a model name),
``attribute_map`` (attribute -> JSON name) and a pydantic ``Field(description=...)`` per attribute. Importing the
models package costs seconds (pydantic builds ~850 classes), so the model *sources* are read with ``ast`` instead,
lazily and one class at a time (cached): a kind's tree is read the first time it is needed.

Used for ``/openapi/v3/api[s]/...`` documents (``kubectl explain``) and for unknown-field detection of built-in
kinds (``fieldValidation``).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import threading
from dataclasses import dataclass

_lock = threading.RLock()
APIMACHINERY = frozenset({
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "ManagedFieldsEntry", "OwnerReference",
    "Condition", "Status", "StatusDetails", "StatusCause", "DeleteOptions", "Preconditions", "APIResource",
    "APIResourceList", "APIGroup", "APIGroupList", "APIVersions", "GroupVersionForDiscovery",
    "ServerAddressByClientCIDR", "WatchEvent"})
# types a group defines whose names do not start with one of the group's kinds
GROUP_TYPES = {
    "apps": {"RollingUpdateDeployment", "RollingUpdateDaemonSet", "RollingUpdateStatefulSetStrategy"},
    "batch": {"PodFailurePolicy", "PodFailurePolicyRule", "PodFailurePolicyOnExitCodesRequirement",
              "PodFailurePolicyOnPodConditionsPattern", "SuccessPolicy", "SuccessPolicyRule",
              "UncountedTerminatedPods"},
    "rbac": {"PolicyRule", "Subject", "RoleRef", "AggregationRule"},
    "networking": {"HTTPIngressPath", "HTTPIngressRuleValue", "IngressBackend", "ServiceBackendPort"},
    "authorization": {"ResourceAttributes", "NonResourceAttributes", "ResourceRule", "NonResourceRule",
                      "FieldSelectorAttributes", "LabelSelectorAttributes"},
    "authentication": {"UserInfo", "BoundObjectReference"},
    "apiextensions": {"JSONSchemaProps", "ExternalDocumentation", "ValidationRule", "SelectableField",
                      "ServiceReference", "WebhookClientConfig", "WebhookConversion"},
    "storage": {"TopologySelectorTerm", "TopologySelectorLabelRequirement"},
}
INT_OR_STRING_NAME = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
INT_OR_STRING = {"description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or "
                                "YAML marshalling and unmarshalling, it produces or consumes the inner type.  This "
                                "allows you to have, for example, a JSON field that can accept a name or number.",
                 "type": "string", "format": "int-or-string"}
_NAME_RE = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")


@dataclass
class Field:
    json: str
    type: str            # openapi_types value
    description: str
    int_or_string: bool
    required: bool


@dataclass
class ModelInfo:
    name: str
    description: str
    fields: dict[str, Field]   # by JSON name


def _models_dir() -> str | None:
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), "client", "models")
    return path if os.path.isdir(path) else None


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    """Model class name -> source file."""
    d = _models_dir()
    if d is None:
        return {}
    with open(os.path.join(d, "__init__.py"), encoding="utf-8") as f:
        text = f.read()
    return {cls: os.path.join(d, mod + ".py") for cls, mod in re.findall(r'"(\w+)": "\.(\w+)"', text)}


def _first_paragraph(doc: str) -> str:
    para = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in para.splitlines()).strip()


@functools.cache
def model(name: str) -> ModelInfo | None:
    path = _index().get(name)
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if cls is None:
        return None
    doc = ast.get_docstring(cls) or ""
    types: dict[str, str] = {}
    amap: dict[str, str] = {}
    declared: dict[str, tuple[str, bool, str]] = {}
    for st in cls.body:
        if not isinstance(st, ast.AnnAssign) or not isinstance(st.target, ast.Name):
            continue
        attr = st.target.id
        if attr in ("openapi_types", "attribute_map") and st.value is not None:
            (types if attr == "openapi_types" else amap).update(ast.literal_eval(st.value))
            continue
        desc, required = "", True
        if isinstance(st.value, ast.Call):
            for kw in st.value.keywords:
                if kw.arg == "description" and isinstance(kw.value, ast.Constant):
                    desc = str(kw.value.value)
                elif kw.arg in ("default", "default_factory"):
                    required = False
        elif st.value is not None:
            required = False
        declared[attr] = (desc, required, ast.unparse(st.annotation))
    fields = {}
    for attr, typ in types.items():
        desc, required, ann = declared.get(attr, ("", False, ""))
        ios = typ == "object" and "StrictInt" in ann and "StrictStr" in ann
        fields[amap.get(attr, attr)] = Field(amap.get(attr, attr), typ, desc, ios, required)
    return ModelInfo(name, "" if doc.startswith("NOTE:") else _first_paragraph(doc.split("Attributes:")[0]), fields)


def model_for_kind(group: str, version: str, kind: str) -> str | None:
    v = version[:1].upper() + version[1:]
    prefix = (group.split(".", maxsplit=1)[0] or "core").capitalize()
    for name in (f"{v}{kind}", f"{prefix}{v}{kind}"):
        info = model(name)
        if info is not None and "kind" in info.fields:
            return name
    return None


def _is_model(typ: str) -> bool:
    return bool(_NAME_RE.match(typ))


def _inner(typ: str) -> tuple[str, str]:
    """("list"|"map"|"", element type)."""
    if typ.startswith("List[") and typ.endswith("]"):
        return "list", typ[5:-1]
    if typ.startswith("Dict[") and typ.endswith("]"):
        return "map", typ[5:-1].split(",", 1)[1].strip()
    return "", typ


def _package(group: str) -> str:
    if group == "apiextensions.k8s.io":
        return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
    return f"io.k8s.api.{group.split('.', maxsplit=1)[0] or 'core'}"


def definition_name(model_name: str, group: str, version: str, kinds: tuple[str, ...]) -> str:
    """The schema name kube-apiserver would use (io.k8s.api.apps.v1.DeploymentSpec ...), best effort: types
    named after the document's kinds (or listed in GROUP_TYPES) belong to its group, the rest to core/v1."""
    m = _NAME_RE.match(model_name)
    if not m:
        return model_name
    prefix, ver, short = m.group(1), m.group(2).lower(), m.group(3)
    if short in APIMACHINERY:
        return f"io.k8s.apimachinery.pkg.apis.meta.v1.{short}"
    if prefix:
        return f"io.k8s.api.{prefix.lower()}.{ver}.{short}"
    short_group = group.split(".", maxsplit=1)[0]
    if group and (any(short.startswith(k) for k in kinds) or short in GROUP_TYPES.get(short_group, ())):
        return f"{_package(group)}.{ver}.{short}"
    return f"io.k8s.api.core.{ver}.{short}"


def _type_schema(typ: str, f: Field | None, ref) -> dict:
    kind, elem = _inner(typ)
    if kind == "list":
        return {"type": "array", "items": _type_schema(elem, None, ref)}
    if kind == "map":
        return {"type": "object", "additionalProperties": _type_schema(elem, None, ref)}
    scalar = {"str": {"type": "string"}, "int": {"type": "integer", "format": "int32"},
              "float": {"type": "number", "format": "double"}, "bool": {"type": "boolean"},
              "datetime": {"type": "string", "format": "date-time"}, "date": {"type": "string", "format": "date"}}
    if typ in scalar:
        return dict(scalar[typ])
    if typ == "object":
        if f is not None and f.int_or_string:
            return {"allOf": [{"$ref": "#/components/schemas/" + INT_OR_STRING_NAME}]}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if _is_model(typ):
        return {"allOf": [{"$ref": "#/components/schemas/" + ref(typ)}], "default": {}}
    return {}


def gv_schemas(group: str, version: str, kinds: list[tuple[str, str]]) -> dict[str, dict]:
    """Component schemas for the built-in `kinds` ((kind, plural)) of one group-version and everything they
    reference; {} when the client's models are not available."""
    kind_names = tuple(k for k, _ in kinds)
    with _lock:
        return _gv_schemas(group, version, kind_names)


@functools.lru_cache(maxsize=64)
def _gv_schemas(group: str, version: str, kind_names: tuple[str, ...]) -> dict[str, dict]:
    def ref(name: str) -> str:
        return definition_name(name, group, version, kind_names)

    out: dict[str, dict] = {}
    todo: list[tuple[str, str | None]] = []
    for k in kind_names:
        name = model_for_kind(group, version, k)
        if name:
            todo.append((name, k))
    seen = set()
    while todo:
        name, kind = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        info = model(name)
        if info is None:
            continue
        props = {}
        for js, f in info.fields.items():
            sch = _type_schema(f.type, f, ref)
            if f.int_or_string:
                out[INT_OR_STRING_NAME] = dict(INT_OR_STRING)
            _, elem = _inner(f.type)
            desc = f.description
            if not desc and _is_model(elem):  # the client drops descriptions of struct fields: use the type's
                desc = (model(elem) or ModelInfo("", "", {})).description
            if desc:
                sch["description"] = desc
            props[js] = sch
            if _is_model(elem) and elem not in seen:
                todo.append((elem, None))
        sch = {"type": "object", "properties": props}
        if info.description:
            sch["description"] = info.description
        req = [js for js, f in info.fields.items() if f.required]
        if req:
            sch["required"] = req
        if kind is not None:
            sch["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": kind}]
        out[ref(name)] = sch
    return out


# ----- unknown fields -----

def unknown_fields(group: str, version: str, kind: str, obj: dict, *, remove: bool, skip: tuple[str, ...] = ()
                   ) -> list[str] | None:
    """Paths of fields the kind's schema does not declare (``spec.replica``, ``spec.template.spec.containers[0].x``),
    removed from `obj` when `remove`; None when the kind has no model (then nothing is checked)."""
    with _lock:
        name = model_for_kind(group, version, kind)
        if name is None:
            return None
        found: list[str] = []
        _walk(obj, name, "", found, remove, skip)
        return found


def _walk(value, typ: str, path: str, found: list[str], remove: bool, skip: tuple[str, ...]) -> None:
    kind, elem = _inner(typ)
    if kind == "list":
        if isinstance(value, list):
            for i, v in enumerate(value):
                _walk(v, elem, f"{path}[{i}]", found, remove, skip)
        return
    if kind == "map":
        if isinstance(value, dict):
            for k, v in value.items():
                _walk(v, elem, f"{path}.{k}" if path else k, found, remove, skip)
        return
    if not _is_model(typ) or not isinstance(value, dict):
        return
    info = model(typ)
    if info is None:
        return
    for key in list(value):
        sub = f"{path}.{key}" if path else key
        f = info.fields.get(key)
        if f is None:
            if not path and key in ("apiVersion", "kind"):
                continue
            found.append(sub)
            if remove:
                del value[key]
        elif sub not in skip:
            _walk(value[key], f.type, sub, found, remove, skip)
