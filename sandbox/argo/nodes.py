"""Node phases and the small helpers that the parts of the Workflow controller (`sandbox.argo.workflow`) share."""

from __future__ import annotations

from .template import to_str

FULFILLED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
FAILED = ("Failed", "Error")
LEAF = ("container", "script", "resource")
KIND_PLURAL = {"WorkflowTemplate": "workflowtemplates.argoproj.io",
               "ClusterWorkflowTemplate": "clusterworkflowtemplates.argoproj.io"}


def fulfilled(node: dict | None) -> bool:
    return bool(node) and node.get("phase") in FULFILLED


def duration_seconds(v) -> float:
    """Argo durations: a number of seconds or a Go duration like ``30s``, ``2m``, ``1h30m``."""
    if v is None or v == "":
        return 0.0
    if isinstance(v, (int, float)):
        return float(v)
    s, total, num = str(v).strip(), 0.0, ""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if s.startswith("ms", i) else ch
        if unit not in units or not num:
            raise ValueError(f"invalid duration {v!r}")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    return total + (float(num) if num else 0.0)


def param_value(p: dict) -> str | None:
    if p.get("value") is not None:
        return to_str(p["value"])
    vf = p.get("valueFrom") or {}
    if vf.get("default") is not None:
        return to_str(vf["default"])
    if p.get("default") is not None:
        return to_str(p["default"])
    return None
