"""Conversions between API versions that share one storage.

core/v1 Events and events.k8s.io/v1 Events are one resource in kube-apiserver (stored as core Events); the two
APIs are views with different field names (pkg/apis/events/v1 conversion):

    core/v1            events.k8s.io/v1
    involvedObject  <-> regarding
    message         <-> note
    reportingComponent <-> reportingController
    source          <-> deprecatedSource
    firstTimestamp  <-> deprecatedFirstTimestamp
    lastTimestamp   <-> deprecatedLastTimestamp
    count           <-> deprecatedCount
    (same name: reason, type, action, related, series, eventTime, reportingInstance, metadata)
"""

from __future__ import annotations

# core name -> events.k8s.io name
_RENAMED = (("involvedObject", "regarding"), ("message", "note"), ("reportingComponent", "reportingController"),
            ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
            ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"))
_SAME = ("reason", "type", "action", "related", "series", "eventTime", "reportingInstance")


def event_from_core(obj: dict) -> dict:
    """A stored (core/v1) Event as events.k8s.io/v1 presents it."""
    out = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": obj.get("metadata", {})}
    for core, new in _RENAMED:
        v = obj.get(core)
        if v not in (None, "", {}, 0):
            out[new] = v
    for f in _SAME:
        v = obj.get(f)
        if v not in (None, ""):
            out[f] = v
    out.setdefault("eventTime", None)  # required (non-omitempty) in events.k8s.io/v1
    return out


def event_to_core(obj: dict) -> dict:
    """An events.k8s.io/v1 Event in the core/v1 form it is stored in (with core's always-serialized fields)."""
    out = {"kind": "Event", "apiVersion": "v1", "metadata": obj.get("metadata", {})}
    for core, new in _RENAMED:
        v = obj.get(new)
        if v not in (None, ""):
            out[core] = v
    for f in _SAME:
        v = obj.get(f)
        if v not in (None, ""):
            out[f] = v
    out.setdefault("involvedObject", {})
    out.setdefault("source", {})
    for f in ("firstTimestamp", "lastTimestamp", "eventTime"):
        out.setdefault(f, None)
    out.setdefault("reportingComponent", "")
    out.setdefault("reportingInstance", "")
    return out


def validate_new_event(obj: dict) -> list[dict]:
    """events.k8s.io/v1 create validation (ValidateEventCreate for the v1 request version)."""
    causes = []

    def req(f: str) -> None:
        if not obj.get(f):
            causes.append({"reason": "FieldValueRequired", "field": f, "message": "Required value"})
    req("eventTime")
    if obj.get("type") not in ("Normal", "Warning"):
        causes.append({"reason": "FieldValueInvalid", "field": "type",
                       "message": f'Invalid value: "": has invalid value: {obj.get("type", "")}'})
    for f in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource"):
        if obj.get(f):
            causes.append({"reason": "FieldValueInvalid", "field": f, "message": 'Invalid value: "": needs to be '
                                                                                 "unset"})
    for f in ("reportingController", "reportingInstance", "action", "reason"):
        req(f)
    return causes
