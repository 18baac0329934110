"""meta.k8s.io/v1 Table rendering (what `kubectl get` asks for)."""

from __future__ import annotations

import json

from .kinds import AGE, CREATED_AT, Column, Kind
from .meta import human_age

TABLE_MEDIA = "as=Table"
_NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
         "description": "Name must be unique within a namespace. Is required when creating resources, although some "
                        "resources may allow a client to request the generation of an appropriate name "
                        "automatically."}
_DEFAULT = (Column("Created At", "date", lambda o: CREATED_AT,
                   description="CreationTimestamp is a timestamp representing the server time when this object was "
                               "created."),)


def wants_table(accept: str) -> bool:
    first = next((p.strip() for p in accept.split(",") if p.strip()), "")
    return TABLE_MEDIA in first.replace(" ", "") and "g=meta.k8s.io" in first


def _cell(col: Column, obj: dict):
    try:
        v = col.value(obj)
    except Exception:
        v = None
    if v == AGE or (col.type == "date" and v not in (CREATED_AT, None)):
        return human_age(obj.get("metadata", {}).get("creationTimestamp") if v == AGE else v)
    if v == CREATED_AT:
        return obj.get("metadata", {}).get("creationTimestamp")
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if v is None:
        return "<none>" if col.type == "string" else None
    return v


def _row_object(obj: dict, include: str):
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(kind: Kind, objs: list[dict], query: dict, list_meta: dict | None = None, columns: bool = True) -> dict:
    cols = kind.columns or _DEFAULT
    own_name = any(c.name == "Name" for c in cols)
    include = query.get("includeObject", "Metadata")
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {}}
    if columns:
        out["columnDefinitions"] = ([] if own_name else [_NAME]) + [
            {"name": c.name, "type": "string" if c.type == "date" and c.name != "Created At" else c.type,
             "format": c.format, "description": c.description or c.name, "priority": c.priority} for c in cols]
    else:
        out["columnDefinitions"] = []
    out["rows"] = [{"cells": ([] if own_name else [o["metadata"].get("name")]) + [_cell(c, o) for c in cols],
                    "object": _row_object(o, include)} for o in objs]
    return out
