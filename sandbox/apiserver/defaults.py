"""Defaulting and a little validation of built-in kinds (the parts clients notice)."""

from __future__ import annotations

import base64
import binascii
import itertools
import threading

_ip_lock = threading.Lock()
_ip_counter = itertools.count(10)


def _next_cluster_ip() -> str:
    with _ip_lock:
        n = next(_ip_counter)
    return f"10.96.{(n // 250) % 250}.{n % 250 + 1}"


def _pod_spec(spec: dict) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for c in itertools.chain(spec.get("containers") or [], spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        image = str(c.get("image", ""))
        untagged = ":" not in image.rsplit("/", maxsplit=1)[-1]
        c.setdefault("imagePullPolicy", "Always" if untagged or image.endswith(":latest") else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def _template(obj: dict) -> None:
    tpl = (obj.get("spec") or {}).get("template")
    if isinstance(tpl, dict):
        _pod_spec(tpl.setdefault("spec", {}))


def _namespace(obj: dict, old: dict | None) -> list[dict]:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    return []


def _secret(obj: dict, old: dict | None) -> list[dict]:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    causes = []
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        return [{"reason": "FieldValueInvalid", "field": "data", "message": "Invalid value: must be a map"}]
    for k, v in (data or {}).items():
        try:
            base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            causes.append({"reason": "FieldValueInvalid", "field": f"data[{k}]",
                           "message": "Invalid value: illegal base64 data"})
    return causes


def _configmap(obj: dict, old: dict | None) -> list[dict]:
    data = obj.get("data")
    if data is not None and (not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values())):
        return [{"reason": "FieldValueInvalid", "field": "data", "message": "Invalid value: must be a map of string "
                                                                           "to string"}]
    return []


def _service(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    spec.setdefault("type", "ClusterIP")
    old_spec = (old or {}).get("spec") or {}
    if spec.get("type") != "ExternalName":
        if old_spec.get("clusterIP") and not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        spec.setdefault("clusterIP", _next_cluster_ip())
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    causes = []
    for i, p in enumerate(spec.get("ports") or []):
        if not isinstance(p, dict):
            continue
        p.setdefault("protocol", "TCP")
        if "port" not in p:
            causes.append({"reason": "FieldValueRequired", "field": f"spec.ports[{i}].port",
                           "message": "Required value"})
        else:
            p.setdefault("targetPort", p["port"])
    obj.setdefault("status", {}).setdefault("loadBalancer", {})
    return causes


def _pod(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if old is None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    if not isinstance(spec, dict) or not spec.get("containers"):
        return [{"reason": "FieldValueRequired", "field": "spec.containers", "message": "Required value"}]
    causes = []
    for i, c in enumerate(spec["containers"]):
        for f in ("name", "image"):
            if not isinstance(c, dict) or not c.get(f):
                causes.append({"reason": "FieldValueRequired", "field": f"spec.containers[{i}].{f}",
                               "message": "Required value"})
    _pod_spec(spec)
    return causes


def _workload(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [{"reason": "FieldValueRequired", "field": "spec", "message": "Required value"}]
    causes = []
    sel = spec.get("selector")
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        causes.append({"reason": "FieldValueRequired", "field": "spec.selector", "message": "Required value"})
    else:
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
            causes.append({"reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
                           "message": f"Invalid value: {labels!r}: `selector` does not match template `labels`"})
    if obj["kind"] != "DaemonSet":
        spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if obj["kind"] == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    _template(obj)
    return causes


def _job(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        _template(obj)
    return []


def _volume_claim(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    if old is None:
        obj["status"] = {"phase": "Pending"}
    return []


def _volume(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
    if old is None:
        obj["status"] = {"phase": "Available"}
    return []


BY_KIND = {("", "Namespace"): _namespace, ("", "Secret"): _secret, ("", "ConfigMap"): _configmap,
           ("", "Service"): _service, ("", "Pod"): _pod, ("apps", "Deployment"): _workload,
           ("apps", "ReplicaSet"): _workload, ("apps", "StatefulSet"): _workload, ("apps", "DaemonSet"): _workload,
           ("batch", "Job"): _job, ("", "PersistentVolumeClaim"): _volume_claim, ("", "PersistentVolume"): _volume}


def apply_defaults(kind: str, group: str, obj: dict, old: dict | None) -> list[dict]:
    """Mutates `obj` in place; returns validation causes (empty when valid)."""
    fn = BY_KIND.get((group, kind))
    return fn(obj, old) if fn else []
