"""Validation that kube-apiserver applies and the defaulting in defaults.py does not: label keys and values,
ConfigMap keys and immutability, workload replicas, container images and ports. Returns Status causes with
kube-apiserver's messages."""

from __future__ import annotations

import json
import re

from .meta import SUBDOMAIN

NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
PREFIX_MSG = ("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
              "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
              "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                  "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
IMMUTABLE_MSG = "Forbidden: field is immutable when `immutable` is set"


def _invalid(field: str, value: object, why: str) -> dict:
    shown = json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return {"reason": "FieldValueInvalid", "field": field, "message": f"Invalid value: {shown}: {why}"}


def qualified_name_errors(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    out = []
    if "/" in key and (not prefix or len(prefix) > 253 or not SUBDOMAIN.fullmatch(prefix)):
        out.append(PREFIX_MSG)
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 bytes")
    elif not NAME_PART.fullmatch(name):
        out.append(NAME_PART_MSG)
    return out


def label_causes(meta: dict) -> list[dict]:
    causes = []
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for k, v in labels.items():
            causes += [_invalid("metadata.labels", k, why) for why in qualified_name_errors(str(k))]
            if isinstance(v, str):
                if len(v) > 63:
                    causes.append(_invalid("metadata.labels", v, "must be no more than 63 bytes"))
                elif not LABEL_VALUE.fullmatch(v):
                    causes.append(_invalid("metadata.labels", v, LABEL_VALUE_MSG))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for k in annotations:
            causes += [_invalid("metadata.annotations", k, why) for why in qualified_name_errors(str(k))]
    return causes


def configmap_causes(obj: dict, old: dict | None) -> list[dict]:
    causes = []
    for f in ("data", "binaryData"):
        for k in (obj.get(f) or {}) if isinstance(obj.get(f), dict) else ():
            if len(k) > 253 or not CONFIG_KEY.fullmatch(k):
                causes.append(_invalid(f"{f}[{k}]", k, CONFIG_KEY_MSG))
    if old is not None and old.get("immutable") is True:
        if obj.get("immutable") is not True:
            causes.append({"reason": "FieldValueForbidden", "field": "immutable", "message": IMMUTABLE_MSG})
        for f in ("data", "binaryData") if obj.get("kind") == "ConfigMap" else ("data",):
            if (obj.get(f) or {}) != (old.get(f) or {}):
                causes.append({"reason": "FieldValueForbidden", "field": f, "message": IMMUTABLE_MSG})
    return causes


def pod_spec_causes(spec: object, path: str) -> list[dict]:
    if not isinstance(spec, dict):
        return []
    causes = []
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            if not isinstance(c, dict):
                continue
            if not c.get("image"):
                causes.append({"reason": "FieldValueRequired", "field": f"{path}.{group}[{i}].image",
                               "message": "Required value"})
            for j, p in enumerate(c.get("ports") or []):
                port = p.get("containerPort") if isinstance(p, dict) else None
                if isinstance(port, int) and not 1 <= port <= 65535:
                    causes.append(_invalid(f"{path}.{group}[{i}].ports[{j}].containerPort", port,
                                           "must be between 1 and 65535, inclusive"))
    return causes


WORKLOADS = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
             ("batch", "Job")}


def causes_for(group: str, kind: str, obj: dict, old: dict | None) -> list[dict]:
    """Causes beyond defaults.apply_defaults' (run after it, on the defaulted object)."""
    causes = label_causes(obj.get("metadata") or {})
    if group == "" and kind in ("ConfigMap", "Secret"):
        causes += configmap_causes(obj, old)
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if (group, kind) in WORKLOADS:
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas < 0:
            causes.append(_invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
        causes += pod_spec_causes((spec.get("template") or {}).get("spec"), "spec.template.spec")
    elif (group, kind) == ("", "Pod"):
        causes += pod_spec_causes(spec, "spec")
    if (group, kind) == ("batch", "Job") and old is not None:
        tpl, old_tpl = spec.get("template"), (old.get("spec") or {}).get("template")
        if tpl != old_tpl and (tpl or {}).get("spec") != (old_tpl or {}).get("spec"):
            causes.append(_invalid("spec.template.spec", (tpl or {}).get("spec"), "field is immutable"))
    return causes



