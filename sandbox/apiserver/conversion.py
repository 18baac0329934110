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

import json

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


# autoscaling/v1 HorizontalPodAutoscalers are a view of the autoscaling/v2 storage (pkg/apis/autoscaling/v1
# conversion): the CPU utilization target is v2's `cpu` Resource metric; v2's conditions are shown in an annotation.
# Other v2 metrics (and behavior) have no v1 field and are not carried through a v1 write (the real server keeps
# them in annotations).
HPA_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"


def _cpu_utilization(metrics: list | None, target: str) -> int | None:
    for m in metrics or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            return (res.get(target) or {}).get("averageUtilization")
    return None


def hpa_from_v2(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = dict(obj.get("metadata") or {})
    out_spec = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    cpu = _cpu_utilization(spec.get("metrics"), "target")
    if cpu is not None:
        out_spec["targetCPUUtilizationPercentage"] = cpu
    out_status = {k: status[k] for k in ("observedGeneration", "lastScaleTime") if k in status}
    out_status["currentReplicas"] = status.get("currentReplicas", 0)
    out_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current = _cpu_utilization(status.get("currentMetrics"), "current")
    if current is not None:
        out_status["currentCPUUtilizationPercentage"] = current
    if status.get("conditions"):
        meta["annotations"] = dict(meta.get("annotations") or {}, **{
            HPA_CONDITIONS: json.dumps(status["conditions"], separators=(",", ":"))})
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "metadata": meta, "spec": out_spec,
            "status": out_status}


def hpa_to_v2(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = dict(obj.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    conditions = annotations.pop(HPA_CONDITIONS, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out_spec = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    out_spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": spec.get("targetCPUUtilizationPercentage", 80)}}}]
    out_status = {k: status[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                         "desiredReplicas") if k in status}
    if "currentCPUUtilizationPercentage" in status:
        out_status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    if conditions:
        out_status["conditions"] = json.loads(conditions)
    out = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2", "metadata": meta, "spec": out_spec}
    if "status" in obj:
        out["status"] = out_status
    return out
