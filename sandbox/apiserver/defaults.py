"""Defaulting and a little validation of built-in kinds (the parts clients notice)."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import threading

from . import admission

_ip_lock = threading.Lock()
_ip_counter = itertools.count(10)


# a random start: the sandbox's NodePorts listen on 127.0.0.1 (sandbox/gateway/nodeports.py), and two sandboxes on
# one machine must not both begin at the same port
_node_port_counter = itertools.count(random.randrange(2768))  # noqa: S311 - not a secret


def _next_node_port() -> int:
    with _ip_lock:
        n = next(_node_port_counter)
    return 30000 + (n * 7919 + 2311) % 2768  # spread over 30000-32767 like the random allocator


def _next_cluster_ip() -> str:
    with _ip_lock:
        n = next(_ip_counter)
    return f"10.96.{(n // 250) % 250}.{n % 250 + 1}"


def image_tag(image: str) -> str:
    """The tag of an image reference as the kubelet's parser sees it: "latest" when there is neither a tag nor
    a digest, "" for a digest-only reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", maxsplit=1)[-1]
    if ":" in last:
        return last.rsplit(":", maxsplit=1)[1]
    return "" if digest else "latest"


def _probe(probe: object) -> None:
    if not isinstance(probe, dict):
        return
    for f, v in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        probe.setdefault(f, v)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


def _volumes(spec: dict) -> None:
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        for src in ("secret", "configMap", "downwardAPI", "projected"):
            if isinstance(v.get(src), dict):
                v[src].setdefault("defaultMode", 420)
        if isinstance(v.get("hostPath"), dict):
            v["hostPath"].setdefault("type", "")
        if isinstance(v.get("downwardAPI"), dict):
            for item in v["downwardAPI"].get("items") or []:
                if isinstance(item, dict) and isinstance(item.get("fieldRef"), dict):
                    item["fieldRef"].setdefault("apiVersion", "v1")


def _pod_spec(spec: dict) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    _volumes(spec)
    for c in itertools.chain(spec.get("containers") or [], spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        c.setdefault("imagePullPolicy", "Always" if image_tag(str(c.get("image", ""))) == "latest"
                     else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            _probe(c.get(probe))
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("fieldRef") if isinstance(e, dict) else None
            if isinstance(ref, dict):
                ref.setdefault("apiVersion", "v1")


def _template(obj: dict) -> None:
    tpl = (obj.get("spec") or {}).get("template")
    if isinstance(tpl, dict):
        _pod_spec(tpl.setdefault("spec", {}))


def _namespace(obj: dict, old: dict | None) -> list[dict]:
    # the strategy owns spec.finalizers: ["kubernetes"] on create, unchanged by updates (only /finalize edits it)
    spec = obj["spec"] = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    spec["finalizers"] = list(((old or {}).get("spec") or {}).get("finalizers") or []) if old is not None \
        else ["kubernetes"]
    if not spec["finalizers"]:
        del spec["finalizers"]
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
    stype = spec.get("type")
    if stype != "ExternalName":
        if old_spec.get("clusterIP") and not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIP"):
            spec["clusterIP"] = _next_cluster_ip()
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    old_node_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                      for p in old_spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")}
    causes = []
    for i, p in enumerate(spec.get("ports") or []):
        if not isinstance(p, dict):
            continue
        p.setdefault("protocol", "TCP")
        wants_node_port = stype == "NodePort" or (stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts"))
        if wants_node_port and not p.get("nodePort"):
            p["nodePort"] = old_node_ports.get((p.get("port"), p["protocol"])) or _next_node_port()
        if "port" not in p:
            causes.append({"reason": "FieldValueRequired", "field": f"spec.ports[{i}].port",
                           "message": "Required value"})
        else:
            p.setdefault("targetPort", p["port"])
    lb = obj.setdefault("status", {}).setdefault("loadBalancer", {})
    for ing in (lb.get("ingress") or []) if isinstance(lb, dict) else []:
        if isinstance(ing, dict) and ing.get("ip"):
            ing.setdefault("ipMode", "VIP")  # SetDefaults_LoadBalancerIngress
    if stype != "LoadBalancer" and isinstance(lb, dict) and lb.get("ingress"):
        causes.append({"reason": "FieldValueForbidden", "field": "status.loadBalancer.ingress",
                       "message": "Forbidden: may only be used when `spec.type` is 'LoadBalancer'"})
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
    if old is None:
        _pod_admission(spec)
    return causes


NOT_READY_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]


def _pod_admission(spec: dict) -> None:
    """What a new Pod gets from SetDefaults_Pod and the default admission plugins (ServiceAccount, Priority,
    DefaultTolerationSeconds); the token volume the ServiceAccount plugin mounts is left out."""
    spec.setdefault("enableServiceLinks", True)
    for c in itertools.chain(spec.get("containers") or [], spec.get("initContainers") or []):
        res = c.get("resources") if isinstance(c, dict) else None
        if isinstance(res, dict) and isinstance(res.get("limits"), dict):  # requests default to limits
            req = res.setdefault("requests", {})
            if isinstance(req, dict):
                for k, v in res["limits"].items():
                    req.setdefault(k, v)
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = sa
    if not spec.get("priorityClassName"):
        spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        for t in NOT_READY_TOLERATIONS:
            if not any(isinstance(x, dict) and x.get("key") == t["key"] and x.get("effect") in ("NoExecute", None, "")
                       for x in tolerations):
                tolerations.append(dict(t))


def _claim_template(pvc: object) -> None:
    if isinstance(pvc, dict):
        if isinstance(pvc.get("spec"), dict):
            pvc["spec"].setdefault("volumeMode", "Filesystem")
        pvc.setdefault("status", {}).setdefault("phase", "Pending")


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
                           "message": f"Invalid value: {json.dumps(labels, separators=(',', ':'), sort_keys=True)}: "
                                      "`selector` does not match template `labels`"})
    kind = obj["kind"]
    if kind != "DaemonSet":
        spec.setdefault("replicas", 1)
    if kind != "ReplicaSet":
        spec.setdefault("revisionHistoryLimit", 10)
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.get("strategy")
        if not isinstance(strategy, dict):
            strategy = spec["strategy"] = {}
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if isinstance(ru, dict):
                ru.setdefault("maxUnavailable", "25%")
                ru.setdefault("maxSurge", "25%")
    elif kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        _update_strategy(spec, {"partition": 0})
        policy = spec.get("persistentVolumeClaimRetentionPolicy")
        if not isinstance(policy, dict):
            policy = spec["persistentVolumeClaimRetentionPolicy"] = {}
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")
        for pvc in spec.get("volumeClaimTemplates") or []:
            _claim_template(pvc)
    elif kind == "DaemonSet":
        _update_strategy(spec, {"maxUnavailable": 1, "maxSurge": 0})
    _template(obj)
    if kind == "DaemonSet":
        _template_generation(obj, old)
    return causes


DS_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _template_generation(obj: dict, old: dict | None) -> None:
    """The DaemonSet strategy's spec.templateGeneration, which apps/v1 shows as an annotation: 1 on create, one more
    whenever spec.template changes; what a client writes there is ignored."""
    gen = 1
    if old is not None:
        before = (old["metadata"].get("annotations") or {}).get(DS_TEMPLATE_GENERATION, "1")
        gen = int(before) if str(before).isdigit() else 1
        if (old.get("spec") or {}).get("template") != obj["spec"].get("template"):
            gen += 1
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    meta["annotations"][DS_TEMPLATE_GENERATION] = str(gen)


def _update_strategy(spec: dict, rolling: dict) -> None:
    """StatefulSet / DaemonSet spec.updateStrategy: RollingUpdate with `rolling` unless OnDelete."""
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = spec["updateStrategy"] = {}
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            ru = strategy["rollingUpdate"] = {}
        for k, v in rolling.items():
            ru.setdefault(k, v)


JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def _job_spec(spec: dict) -> None:
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")


def _job(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [{"reason": "FieldValueRequired", "field": "spec", "message": "Required value"}]
    _job_spec(spec)
    meta = obj["metadata"]
    tpl = spec.get("template")
    if not isinstance(tpl, dict):
        return [{"reason": "FieldValueRequired", "field": "spec.template", "message": "Required value"}]
    tpl_meta = tpl.setdefault("metadata", {})
    labels = tpl_meta.get("labels")
    if not isinstance(labels, dict):
        labels = tpl_meta["labels"] = {}
    causes = []
    if not spec.get("manualSelector"):
        # the registry strategy generates a selector on the Job's uid and labels the pod template to match
        uid = meta.get("uid", "")
        old_sel = ((old or {}).get("spec") or {}).get("selector")
        if spec.get("selector") is None and old_sel is not None:
            spec["selector"] = old_sel
        if old is None or spec.get("selector") is None:
            spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: uid}}
            for k in JOB_UID_LABELS:
                labels[k] = uid
            for k in JOB_NAME_LABELS:
                labels[k] = meta.get("name", "")
    elif not isinstance(spec.get("selector"), dict):
        causes.append({"reason": "FieldValueRequired", "field": "spec.selector", "message": "Required value"})
    if not meta.get("labels") and labels:  # defaulting copies the template labels to an unlabelled Job
        meta["labels"] = dict(labels)
    _template(obj)
    return causes


def _cronjob(obj: dict, old: dict | None) -> list[dict]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [{"reason": "FieldValueRequired", "field": "spec", "message": "Required value"}]
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    causes = []
    if not spec.get("schedule"):
        causes.append({"reason": "FieldValueRequired", "field": "spec.schedule", "message": "Required value"})
    tpl = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if isinstance(tpl, dict):
        _pod_spec(tpl.setdefault("spec", {}))
    else:
        causes.append({"reason": "FieldValueRequired", "field": "spec.jobTemplate.spec.template",
                       "message": "Required value"})
    return causes


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


def _limit_range(obj: dict, old: dict | None) -> list[dict]:
    """SetDefaults_LimitRangeItem: a Container item's default limit is its max, its default request the default
    (else the min)."""
    for item in (obj.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        default = dict(item.get("default") or {})
        for k, v in (item.get("max") or {}).items():
            default.setdefault(k, v)
        request = dict(item.get("defaultRequest") or {})
        for k, v in default.items():
            request.setdefault(k, v)
        for k, v in (item.get("min") or {}).items():
            request.setdefault(k, v)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request
    return []


def _hpa(obj: dict, old: dict | None) -> list[dict]:
    """autoscaling SetDefaults_HorizontalPodAutoscaler: minReplicas 1; CPU utilization 80% (v1
    targetCPUUtilizationPercentage, v2 a metric when there is none)."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)
        if obj.get("apiVersion") == "autoscaling/v1":
            spec.setdefault("targetCPUUtilizationPercentage", 80)
        elif not spec.get("metrics"):
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}}]
    return []


def _priority_class(obj: dict, old: dict | None) -> list[dict]:
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return []


def _pod_template(obj: dict, old: dict | None) -> list[dict]:
    tpl = obj.get("template")
    if isinstance(tpl, dict):
        _pod_spec(tpl.setdefault("spec", {}))
    return []


def _replication_controller(obj: dict, old: dict | None) -> list[dict]:
    """SetDefaults_ReplicationController: selector and labels from the template's labels, replicas 1."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if labels:
        spec.setdefault("selector", dict(labels))
        meta = obj.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    _template(obj)
    return []


# the SetDefaults_* of kinds with no other defaulting here: path -> value, `[]` for every item of a list
_FIELD_DEFAULTS: dict[tuple[str, str], dict[str, object]] = {
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): {
        "spec.failurePolicy": "Fail", "spec.matchConstraints.matchPolicy": "Equivalent",
        "spec.matchConstraints.namespaceSelector": {}, "spec.matchConstraints.objectSelector": {},
        "spec.matchConstraints.resourceRules[].scope": "*",
        "spec.matchConstraints.excludeResourceRules[].scope": "*"},
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"): {
        "spec.failurePolicy": "Fail", "spec.matchConstraints.matchPolicy": "Equivalent",
        "spec.matchConstraints.namespaceSelector": {}, "spec.matchConstraints.objectSelector": {},
        "spec.matchConstraints.resourceRules[].scope": "*",
        "spec.matchConstraints.excludeResourceRules[].scope": "*"},
    ("discovery.k8s.io", "EndpointSlice"): {"endpoints[].conditions": {}},
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): {"spec.limited.lendablePercent": 0},
    ("resource.k8s.io", "ResourceClaim"): {"spec.devices.requests[].exactly.allocationMode": "ExactCount",
                                           "spec.devices.requests[].exactly.count": 1},
    ("resource.k8s.io", "ResourceClaimTemplate"): {
        "spec.metadata": {}, "spec.spec.devices.requests[].exactly.allocationMode": "ExactCount",
        "spec.spec.devices.requests[].exactly.count": 1},
    ("storage.k8s.io", "CSIDriver"): {
        "spec.attachRequired": True, "spec.podInfoOnMount": False, "spec.requiresRepublish": False,
        "spec.storageCapacity": False, "spec.seLinuxMount": False, "spec.preventPodSchedulingIfMissing": False,
        "spec.fsGroupPolicy": "ReadWriteOnceWithFSType", "spec.volumeLifecycleModes": ["Persistent"]},
    ("storage.k8s.io", "CSINode"): {"spec.drivers[].topologyKeys": None},
    ("storage.k8s.io", "VolumeAttachment"): {"status.attached": False},
}


def _set_default(node: object, parts: list[str], value: object) -> None:
    """Sets `value` at `parts` under `node` where absent; only inside dicts and lists that are there."""
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        for item in node.get(head[:-2]) or []:
            if rest:
                _set_default(item, rest, value)
        return
    if not rest:
        if head not in node:
            node[head] = json.loads(json.dumps(value))
        return
    _set_default(node.get(head), rest, value)


def _field_defaults(obj: dict, old: dict | None) -> list[dict]:
    for path, value in _FIELD_DEFAULTS.get((obj.get("apiVersion", "").rpartition("/")[0], obj.get("kind")),
                                           {}).items():
        _set_default(obj, path.split("."), value)
    return []


BY_KIND = {("", "Namespace"): _namespace, ("", "LimitRange"): _limit_range, ("", "Secret"): _secret,
           ("", "ConfigMap"): _configmap,
           ("", "Service"): _service, ("", "Pod"): _pod, ("apps", "Deployment"): _workload,
           ("apps", "ReplicaSet"): _workload, ("apps", "StatefulSet"): _workload, ("apps", "DaemonSet"): _workload,
           ("batch", "Job"): _job, ("batch", "CronJob"): _cronjob, ("", "PersistentVolumeClaim"): _volume_claim,
           ("", "PersistentVolume"): _volume,
           ("autoscaling", "HorizontalPodAutoscaler"): _hpa, ("scheduling.k8s.io", "PriorityClass"): _priority_class,
           ("", "PodTemplate"): _pod_template, ("", "ReplicationController"): _replication_controller,
           **dict.fromkeys(_FIELD_DEFAULTS, _field_defaults),
           ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): admission.default_mutating,
           ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): admission.default_validating}

BY_KIND[("", "Node")] = lambda obj, old: _node(obj)


def _node(obj: dict) -> list[dict]:
    """SetDefaults_NodeStatus: allocatable is the capacity unless given."""
    st = obj.get("status")
    if isinstance(st, dict) and st.get("capacity") and "allocatable" not in st:
        st["allocatable"] = dict(st["capacity"])
    return []


def apply_defaults(kind: str, group: str, obj: dict, old: dict | None) -> list[dict]:
    """Mutates `obj` in place; returns validation causes (empty when valid)."""
    fn = BY_KIND.get((group, kind))
    return fn(obj, old) if fn else []
