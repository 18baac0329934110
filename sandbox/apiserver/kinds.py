"""Declarative table of the resource kinds the emulator serves, and the run-time registry (CRDs add kinds)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import conversion
from . import node_columns as nodecol
from .meta import human_age

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    value: Callable[[dict], Any]
    priority: int = 0
    description: str = ""
    format: str = ""


@dataclass
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    generation: bool = False
    crd: bool = False
    schema: dict | None = None          # openAPIV3Schema for CRDs
    scale_paths: dict = field(default_factory=dict)  # CRD scale subresource paths
    storage_version: str = ""          # the version objects are stored as, when several are served
    conversion: dict | None = None     # CRDs: spec.conversion when its strategy is Webhook
    # another API's storage this kind is a view of (events.k8s.io Events are stored as core Events), with the
    # conversions to and from the stored form
    storage_key: tuple[str, str] | None = None
    to_storage: Callable[[dict], dict] | None = None
    from_storage: Callable[[dict], dict] | None = None

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: every served version of a resource shares one collection."""
        return self.storage_key or (self.group, self.plural)

    @property
    def gvk(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.kind)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def dig(obj: Any, path: str, default: Any = None) -> Any:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def _col(name, path, type_="string", priority=0, default="<none>"):
    return Column(name, type_, lambda o: dig(o, path, default), priority)


def _count(path):
    return lambda o: len(dig(o, path, None) or {})


def _ports(o):
    out = []
    for p in dig(o, "spec.ports", []) or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _selector(o):
    sel = dig(o, "spec.selector", None) or {}
    if "matchLabels" in sel or "matchExpressions" in sel:
        sel = sel.get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"


def _restartable_init(spec_inits: list, name: str) -> bool:
    return any(c.get("name") == name and c.get("restartPolicy") == "Always" for c in spec_inits)


def _terminated_reason(term: dict, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod_summary(o: dict) -> tuple[int, int, str, int, str]:
    """(ready containers, containers, STATUS, restarts, last restart time) as kubectl's pod printer derives
    them from the container statuses."""
    spec, status = o.get("spec") or {}, o.get("status") or {}
    inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    total = len(spec.get("containers") or []) + sum(1 for c in inits if c.get("restartPolicy") == "Always")
    reason = status.get("reason") or status.get("phase") or ""
    conds = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    sched = conds.get("PodScheduled") or {}
    if sched.get("status") == "False" and sched.get("reason") == "SchedulingGated":
        reason = "SchedulingGated"
    ready = restarts = sidecar_restarts = 0
    last_restart = ""

    def note_restart(cs: dict) -> None:
        nonlocal last_restart
        t = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""
        last_restart = max(last_restart, t)

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        note_restart(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        sidecar = _restartable_init(inits, cs.get("name", ""))
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
        if term and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(inits)}"
        initializing = True
        break
    if not initializing or (conds.get("Initialized") or {}).get("status") == "True":
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            note_restart(cs)
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated") is not None:
                reason = _terminated_reason(state["terminated"])
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if (conds.get("Ready") or {}).get("status") == "True" else "NotReady"
    meta = o.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return ready, total, reason, restarts, last_restart


def _ready_pod(o):
    ready, total, _, _, _ = pod_summary(o)
    return f"{ready}/{total}"


def _pod_restarts(o):
    _, _, _, restarts, last = pod_summary(o)
    if restarts and last:
        return f"{restarts} ({human_age(last)} ago)"
    return str(restarts)


def _containers(attr):
    return lambda o: ",".join(str(c.get(attr, "")) for c in dig(o, "spec.template.spec.containers", []) or [])


def _replicas_ready(o):
    return f"{dig(o, 'status.readyReplicas', 0) or 0}/{dig(o, 'spec.replicas', 1)}"


def _endpoints(o):
    out = []
    for sub in o.get("subsets") or []:
        for a in sub.get("addresses") or []:
            for p in sub.get("ports") or [{}]:
                out.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip"))
    return ",".join(out) or "<none>"


def _access(o):
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    modes = dig(o, "spec.accessModes", None) or dig(o, "status.accessModes", None) or []
    return ",".join(short.get(m, m) for m in modes)


def _claim(o):
    ref = dig(o, "spec.claimRef", None)
    return f"{ref.get('namespace')}/{ref.get('name')}" if ref else ""


def _role_ref(o):
    ref = o.get("roleRef") or {}
    return f"{ref.get('kind')}/{ref.get('name')}"


def _hosts(o):
    hosts = [r.get("host") for r in dig(o, "spec.rules", []) or [] if r.get("host")]
    return ",".join(hosts) or "*"


def _job_completions(o):
    return f"{dig(o, 'status.succeeded', 0) or 0}/{dig(o, 'spec.completions', 1)}"


def _involved(o):
    ref = o.get("involvedObject") or o.get("regarding") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _event_columns(message: str) -> tuple[Column, ...]:
    """Like kube-apiserver's event table: the Name column comes last and only with -o wide."""
    def last_seen(o):  # as kubectl's event printer: series, else lastTimestamp, else eventTime
        return dig(o, "series.lastObservedTime") or o.get("lastTimestamp") or o.get("deprecatedLastTimestamp") or \
            o.get("eventTime") or dig(o, "metadata.creationTimestamp")
    return (Column("Last Seen", "date", last_seen), _col("Type", "type"), _col("Reason", "reason"),
            Column("Object", "string", _involved), _col("Message", message),
            Column("Name", "string", lambda o: o["metadata"]["name"], 1, format="name"))


AGE = "__age__"          # column value computed by the table layer from creationTimestamp
CREATED_AT = "__created__"

_age = Column("Age", "string", lambda o: AGE)
_created = Column("Created At", "date", lambda o: CREATED_AT)

BUILTINS: tuple[Kind, ...] = (
    Kind("", "v1", "Namespace", "namespaces", False, ("ns",), (), ("status", "finalize"),
         (_col("Status", "status.phase"), _age), verbs=("create", "delete", "get", "list", "patch", "update",
                                                          "watch")),
    Kind("", "v1", "ConfigMap", "configmaps", True, ("cm",), (), (), (Column("Data", "string", _count("data")), _age)),
    Kind("", "v1", "Secret", "secrets", True, (), (), (),
         (_col("Type", "type"), Column("Data", "string", _count("data")), _age)),
    Kind("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), (), ("token",),
         (Column("Secrets", "string", lambda o: len(o.get("secrets") or [])), _age)),
    Kind("", "v1", "Service", "services", True, ("svc",), ("all",), ("proxy", "status"),
         (_col("Type", "spec.type"), _col("Cluster-IP", "spec.clusterIP"),
          Column("External-IP", "string", lambda o: ",".join(dig(o, "spec.externalIPs", []) or []) or "<none>"),
          Column("Port(s)", "string", _ports), _age, Column("Selector", "string", _selector, 1))),
    Kind("", "v1", "Endpoints", "endpoints", True, ("ep",), (), (), (Column("Endpoints", "string", _endpoints), _age)),
    Kind("", "v1", "Pod", "pods", True, ("po",), ("all",), ("status", "log", "eviction", "binding", "proxy"),
         (Column("Ready", "string", _ready_pod), Column("Status", "string", lambda o: pod_summary(o)[2]),
          Column("Restarts", "string", _pod_restarts), _age,
          _col("IP", "status.podIP", priority=1), _col("Node", "spec.nodeName", priority=1))),
    Kind("", "v1", "Node", "nodes", False, ("no",), (), ("status", "proxy"),
         (Column("Status", "string", nodecol.status), Column("Roles", "string", nodecol.roles), _age,
          Column("Version", "string", nodecol.version),
          Column("Internal-IP", "string", nodecol.address("InternalIP"), 1),
          Column("External-IP", "string", nodecol.address("ExternalIP"), 1),
          Column("OS-Image", "string", nodecol.info("osImage"), 1),
          Column("Kernel-Version", "string", nodecol.kernel, 1),
          Column("Container-Runtime", "string", nodecol.info("containerRuntimeVersion"), 1))),
    Kind("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), (), ("status",),
         (_col("Capacity", "spec.capacity.storage", default=""), Column("Access Modes", "string", _access),
          _col("Reclaim Policy", "spec.persistentVolumeReclaimPolicy", default=""), _col("Status", "status.phase"),
          Column("Claim", "string", _claim), _col("StorageClass", "spec.storageClassName", default=""), _age)),
    Kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), (), ("status",),
         (_col("Status", "status.phase"), _col("Volume", "spec.volumeName", default=""),
          _col("Capacity", "status.capacity.storage", default=""), Column("Access Modes", "string", _access),
          _col("StorageClass", "spec.storageClassName", default=""), _age)),
    Kind("", "v1", "Event", "events", True, ("ev",), (), (), _event_columns("message")),
    Kind("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",), (), ("status",), (_age,)),
    Kind("", "v1", "LimitRange", "limitranges", True, ("limits",), (), (), (_created,)),
    Kind("events.k8s.io", "v1", "Event", "events", True, ("ev",), (), (), _event_columns("note"),
         storage_key=("", "events"), to_storage=conversion.event_to_core, from_storage=conversion.event_from_core),
    Kind("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",), ("status", "scale"),
         (Column("Ready", "string", _replicas_ready), _col("Up-to-date", "status.updatedReplicas", "integer", 0, 0),
          _col("Available", "status.availableReplicas", "integer", 0, 0), _age,
          Column("Containers", "string", _containers("name"), 1), Column("Images", "string", _containers("image"), 1),
          Column("Selector", "string", _selector, 1)), generation=True),
    Kind("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",), ("status", "scale"),
         (_col("Desired", "spec.replicas", "integer", 0, 1), _col("Current", "status.replicas", "integer", 0, 0),
          _col("Ready", "status.readyReplicas", "integer", 0, 0), _age), generation=True),
    Kind("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), ("status", "scale"),
         (Column("Ready", "string", _replicas_ready), _age), generation=True),
    Kind("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",), ("status",),
         (_col("Desired", "status.desiredNumberScheduled", "integer", 0, 0),
          _col("Current", "status.currentNumberScheduled", "integer", 0, 0),
          _col("Ready", "status.numberReady", "integer", 0, 0), _age), generation=True),
    Kind("batch", "v1", "Job", "jobs", True, (), ("all",), ("status",),
         (Column("Completions", "string", _job_completions), _age), generation=True),
    Kind("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("all",), ("status",),
         (_col("Schedule", "spec.schedule"), _col("Suspend", "spec.suspend", "boolean", 0, False),
          Column("Active", "integer", lambda o: len(dig(o, "status.active", []) or [])),
          _col("Last Schedule", "status.lastScheduleTime"), _age), generation=True),
    Kind("rbac.authorization.k8s.io", "v1", "Role", "roles", True, (), (), (), (_created,)),
    Kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, (), (), (), (_created,)),
    Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, (), (), (),
         (Column("Role", "string", _role_ref), _age)),
    Kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False, (), (), (),
         (Column("Role", "string", _role_ref), _age)),
    Kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
         ("crd", "crds"), ("api-extensions",), ("status",), (_created,), generation=True),
    Kind("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",), (), (),
         (_col("Provisioner", "provisioner"), _col("ReclaimPolicy", "reclaimPolicy", default="Delete"),
          _col("VolumeBindingMode", "volumeBindingMode", default="Immediate"),
          _col("AllowVolumeExpansion", "allowVolumeExpansion", "boolean", 0, False), _age)),
    Kind("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), (), ("status",),
         (_col("Class", "spec.ingressClassName"), Column("Hosts", "string", _hosts),
          Column("Address", "string", lambda o: ",".join(
              i.get("ip") or i.get("hostname", "") for i in dig(o, "status.loadBalancer.ingress", []) or [])),
          Column("Ports", "string", lambda o: "80, 443" if dig(o, "spec.tls") else "80"), _age), generation=True),
    Kind("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False, (), (), (),
         (_col("Controller", "spec.controller"), _col("Parameters", "spec.parameters.name"), _age)),
    Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), (), ("status",),
         (_col("Min Available", "spec.minAvailable", default="N/A"),
          _col("Max Unavailable", "spec.maxUnavailable", default="N/A"),
          _col("Allowed Disruptions", "status.disruptionsAllowed", "integer", 0, 0), _age), generation=True),
    Kind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",), (), (),
         (_col("Value", "value", "integer", 0, 0), _col("Global-Default", "globalDefault", "boolean", 0, False), _age,
          _col("PreemptionPolicy", "preemptionPolicy", default="")), generation=True),
    Kind("coordination.k8s.io", "v1", "Lease", "leases", True, (), (), (),
         (_col("Holder", "spec.holderIdentity"), _age)),
    Kind("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
         False, (), ("api-extensions",), (), (Column("Webhooks", "integer", lambda o: len(o.get("webhooks") or [])),
                                              _age), generation=True),
    Kind("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
         False, (), ("api-extensions",), (), (Column("Webhooks", "integer", lambda o: len(o.get("webhooks") or [])),
                                              _age), generation=True),
    Kind("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
         verbs=CREATE_ONLY),
    Kind("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False, verbs=CREATE_ONLY),
    Kind("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=CREATE_ONLY),
    Kind("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
         verbs=CREATE_ONLY),
    Kind("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, verbs=CREATE_ONLY),
    Kind("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=CREATE_ONLY),
)

# ----- the other built-in resources of kube-apiserver v1.37 (issue 22). Served as stored objects: unless
# defaults.py/validation.py name them, no defaulting or validation beyond the OpenAPI schema, and no controller
# (an HPA never scales, a CSR is never signed). Columns: pkg/printers/internalversion/printers.go. -----
def _join(path, default="<none>", limit=0):
    def value(o):
        items = [str(x) for x in dig(o, path, None) or []]
        if limit and len(items) > limit:
            return ",".join(items[:limit]) + f" + {len(items) - limit} more..."
        return ",".join(items) or default
    return value


def _labels(path):
    return lambda o: ",".join(f"{k}={v}" for k, v in (dig(o, path, None) or {}).items()) or "<none>"


def _label_selector(o):  # metav1.FormatLabelSelector
    sel = dig(o, "spec.podSelector", None) or {}
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        op, vals = e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{e.get('key')} in ({vals})", "NotIn": f"{e.get('key')} notin ({vals})",
                      "Exists": e.get("key"), "DoesNotExist": f"!{e.get('key')}"}.get(op, ""))
    return ",".join(parts) or "<none>"


def _tpl_containers(attr):
    return lambda o: ",".join(str(c.get(attr, "")) for c in dig(o, "template.spec.containers", []) or [])


def _controller(o):
    ref = next((r for r in dig(o, "metadata.ownerReferences", []) or [] if r.get("controller")), None)
    if not ref:
        return "<none>"
    group = ref.get("apiVersion", "").rpartition("/")[0]
    return f"{ref.get('kind', '').lower()}{'.' + group if group else ''}/{ref.get('name')}"


def _hpa_metrics(o):  # formatHPAMetrics (of the v2 form; the v1 view converts back)
    if o.get("apiVersion") == "autoscaling/v1":
        o = conversion.hpa_to_v2(o)
    specs, current = dig(o, "spec.metrics", []) or [], dig(o, "status.currentMetrics", []) or []
    if not specs:
        return "<none>"
    out = []
    for i, m in enumerate(specs):
        kind = m.get("type", "")
        field = kind[:1].lower() + kind[1:]
        spec, cur = m.get(field) or {}, ((current[i] if i < len(current) else {}) or {}).get(field) or {}
        target, now = spec.get("target") or {}, cur.get("current") or {}
        if "averageUtilization" in target or target.get("type") == "Utilization":
            shown = f"{now['averageUtilization']}%" if "averageUtilization" in now else "<unknown>"
            value = f"{shown}/{target.get('averageUtilization', '<auto>')}%"
        else:
            key = "averageValue" if "averageValue" in target else "value"
            value = f"{now.get(key, '<unknown>')}/{target.get(key, '<unknown>')}"
        if kind in ("Resource", "ContainerResource"):
            value = f"{spec.get('name')}: {value}"
        out.append(value)
    return ", ".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


def _param_ref(o):
    ref = dig(o, "spec.paramRef", None)
    if not ref:
        return "<unset>"
    name = ref.get("name") or ("*" if ref.get("selector") is not None else "")
    return f"{ref['namespace']}/{name}" if ref.get("namespace") else name


def _param_kind(o):
    pk = dig(o, "spec.paramKind", None)
    return f"{pk.get('apiVersion')}/{pk.get('kind')}" if pk else "<unset>"


def _csr_condition(o):
    types = [c.get("type") for c in dig(o, "status.conditions", []) or []]
    return ",".join(types) or "Pending"


def _apiservice_service(o):
    svc = dig(o, "spec.service", None)
    return f"{svc.get('namespace')}/{svc.get('name')}" if svc else "Local"


def _condition_status(kind, reason=True, default="Unknown"):
    def value(o):
        c = next((c for c in dig(o, "status.conditions", []) or [] if c.get("type") == kind), None)
        if not c:
            return default
        return f"{c['status']} ({c['reason']})" if reason and c.get("status") != "True" and c.get("reason") \
            else c.get("status")
    return value


def _claim_state(o):
    state = ["allocated"] if dig(o, "status.allocation") else ["pending"]
    if dig(o, "status.reservedFor"):
        state.append("reserved")
    if dig(o, "metadata.deletionTimestamp"):
        state.insert(0, "deleted")
    return ",".join(state)


def _ip_parent(o):
    ref = dig(o, "spec.parentRef", None) or {}
    resource = ref.get("resource", "") + (f".{ref['group']}" if ref.get("group") else "")
    return "/".join(x for x in (resource, ref.get("namespace"), ref.get("name")) if x) or "<none>"


def _migration_status(o):
    return next((c.get("type") for c in reversed(dig(o, "status.conditions", []) or []) if c.get("status") == "True"),
                "")


def _plc(path):  # PriorityLevelConfiguration cells: only for Limited levels that queue
    return lambda o: dig(o, path, "<none>") if dig(o, "spec.type") == "Limited" else "<none>"


def _binding_kinds(group, prefix):
    return (Kind(group, "v1", f"{prefix}AdmissionPolicy", f"{prefix.lower()}admissionpolicies", False, (),
                 ("api-extensions",), ("status",) if prefix == "Validating" else (),
                 (Column("Validations" if prefix == "Validating" else "Mutations", "integer",
                         lambda o: len(dig(o, "spec.validations" if prefix == "Validating" else "spec.mutations", [])
                                       or [])), Column("ParamKind", "string", _param_kind), _age), generation=True),
            Kind(group, "v1", f"{prefix}AdmissionPolicyBinding", f"{prefix.lower()}admissionpolicybindings", False,
                 (), ("api-extensions",), (), (_col("PolicyName", "spec.policyName"),
                                               Column("ParamRef", "string", _param_ref), _age), generation=True))


_hpa_columns = (Column("Reference", "string", lambda o: f"{dig(o, 'spec.scaleTargetRef.kind')}/"
                                                          f"{dig(o, 'spec.scaleTargetRef.name')}"),
                Column("Targets", "string", _hpa_metrics),
                Column("MinPods", "string", lambda o: str(dig(o, "spec.minReplicas", "<unset>"))),
                _col("MaxPods", "spec.maxReplicas", "string", 0, 0),
                _col("Replicas", "status.currentReplicas", "string", 0, 0), _age)

BUILTINS += (
    Kind("", "v1", "PodTemplate", "podtemplates", True, (), (), (),
         (Column("Containers", "string", _tpl_containers("name")), Column("Images", "string", _tpl_containers("image")),
          Column("Pod Labels", "string", _labels("template.metadata.labels"))), generation=True),
    Kind("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",), ("all",), ("scale", "status"),
         (_col("Desired", "spec.replicas", "integer", 0, 1), _col("Current", "status.replicas", "integer", 0, 0),
          _col("Ready", "status.readyReplicas", "integer", 0, 0), _age,
          Column("Containers", "string", _containers("name"), 1), Column("Images", "string", _containers("image"), 1),
          Column("Selector", "string", _selector, 1)), generation=True),
    Kind("", "v1", "ComponentStatus", "componentstatuses", False, ("cs",), verbs=("get", "list"),
         columns=(Column("Status", "string", lambda o: next(
             ("Healthy" if c.get("status") == "True" else "Unhealthy" for c in o.get("conditions") or []
              if c.get("type") == "Healthy"), "Unknown")),
                  Column("Message", "string", lambda o: next((c.get("message", "") for c in o.get("conditions") or []),
                                                             "")),
                  Column("Error", "string", lambda o: next((c.get("error", "") for c in o.get("conditions") or []),
                                                           "")))),
    Kind("", "v1", "Binding", "bindings", True, verbs=CREATE_ONLY),
    Kind("apps", "v1", "ControllerRevision", "controllerrevisions", True, (), (), (),
         (Column("Controller", "string", _controller), _col("Revision", "revision", "string", 0, 0), _age)),
    Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("all",),
         ("status",), _hpa_columns, generation=True, storage_version="v2"),
    Kind("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("all",),
         ("status",), _hpa_columns, generation=True, storage_version="v2",
         storage_key=("autoscaling", "horizontalpodautoscalers"),
         to_storage=conversion.hpa_to_v2, from_storage=conversion.hpa_from_v2),
    Kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, (), (), (),
         (_col("AddressType", "addressType"), Column("Ports", "string", lambda o: _join("ports", "<unset>", 3)(
             {"ports": [p.get("port", "<unset>") for p in o.get("ports") or []]})),
          Column("Endpoints", "string", lambda o: _join("addresses", "<unset>", 3)(
              {"addresses": [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]})), _age),
         generation=True),
    Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",), (), (),
         (Column("Pod-Selector", "string", _label_selector), _age), generation=True),
    Kind("networking.k8s.io", "v1", "IPAddress", "ipaddresses", False, ("ip",), (), (),
         (Column("ParentRef", "string", _ip_parent),)),
    Kind("networking.k8s.io", "v1", "ServiceCIDR", "servicecidrs", False, (), (), ("status",),
         (Column("CIDRs", "string", _join("spec.cidrs")), _age)),
    *_binding_kinds("admissionregistration.k8s.io", "Validating"),
    *_binding_kinds("admissionregistration.k8s.io", "Mutating"),
    Kind("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, (), ("api-extensions",), ("status",),
         (Column("Service", "string", _apiservice_service), Column("Available", "string", _condition_status(
             "Available")), _age)),
    Kind("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False, ("csr",), (),
         ("approval", "status"), (_age, _col("SignerName", "spec.signerName"), _col("Requestor", "spec.username"),
                                  _col("RequestedDuration", "spec.expirationSeconds"),
                                  Column("Condition", "string", _csr_condition))),
    Kind("certificates.k8s.io", "v1", "ClusterTrustBundle", "clustertrustbundles", False, (), (), (),
         (_col("SignerName", "spec.signerName"),)),
    Kind("certificates.k8s.io", "v1", "PodCertificateRequest", "podcertificaterequests", True, (), (), ("status",),
         (_col("PodName", "spec.podName"), _col("ServiceAccountName", "spec.serviceAccountName"),
          _col("NodeName", "spec.nodeName"), _col("SignerName", "spec.signerName"),
          Column("State", "string", lambda o: _csr_condition(o) if dig(o, "status.conditions") else "Pending"),
          Column("UnverifiedUserAnnotations", "string", _labels("spec.unverifiedUserAnnotations")))),
    Kind("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False, (), (), (), (_col("Handler", "handler"), _age)),
    Kind("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False, (), (), (),
         (_col("AttachRequired", "spec.attachRequired", "boolean", 0, True),
          _col("PodInfoOnMount", "spec.podInfoOnMount", "boolean", 0, False),
          _col("StorageCapacity", "spec.storageCapacity", "boolean", 0, False),
          Column("TokenRequests", "string", lambda o: ",".join(
              t.get("audience", "") for t in dig(o, "spec.tokenRequests", []) or []) or "<unset>"),
          _col("RequiresRepublish", "spec.requiresRepublish", "boolean", 0, False),
          Column("Modes", "string", _join("spec.volumeLifecycleModes", "Persistent")), _age)),
    Kind("storage.k8s.io", "v1", "CSINode", "csinodes", False, (), (), ("status",),
         (Column("Drivers", "integer", lambda o: len(dig(o, "spec.drivers", []) or [])), _age)),
    Kind("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", True),
    Kind("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False, (), (), ("status",),
         (Column("Attacher", "string", lambda o: dig(o, "spec.attacher", ""), format="name"),
          _col("PV", "spec.source.persistentVolumeName", default=""), _col("Node", "spec.nodeName"),
          _col("Attached", "status.attached", "boolean", 0, False), _age)),
    Kind("storage.k8s.io", "v1", "VolumeAttributesClass", "volumeattributesclasses", False, ("vac",), (), (),
         (_col("DriverName", "driverName"), _age)),
    Kind("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", False, (), (), ("status",),
         (_col("PriorityLevel", "spec.priorityLevelConfiguration.name"),
          _col("MatchingPrecedence", "spec.matchingPrecedence", "string", 0, 1000),
          _col("DistinguisherMethod", "spec.distinguisherMethod.type"), _age,
          Column("MissingPL", "string", _condition_status("Dangling", False, "?"))), generation=True),
    Kind("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", False, (),
         (), ("status",), (_col("Type", "spec.type"),
                           Column("NominalConcurrencyShares", "string", _plc("spec.limited.nominalConcurrencyShares")),
                           Column("Queues", "string", _plc("spec.limited.limitResponse.queuing.queues")),
                           Column("HandSize", "string", _plc("spec.limited.limitResponse.queuing.handSize")),
                           Column("QueueLengthLimit", "string",
                                  _plc("spec.limited.limitResponse.queuing.queueLengthLimit")), _age),
         generation=True),
    Kind("resource.k8s.io", "v1", "DeviceClass", "deviceclasses", False, (), (), (), (_age,), generation=True),
    Kind("resource.k8s.io", "v1", "DeviceTaintRule", "devicetaintrules", False, (), (), ("status",),
         (_col("Key", "spec.taint.key"), _col("Value", "spec.taint.value"), _col("Effect", "spec.taint.effect"),
          _col("TimeAdded", "spec.taint.timeAdded"), _age), generation=True),
    Kind("resource.k8s.io", "v1", "ResourceClaim", "resourceclaims", True, (), (), ("status",),
         (Column("State", "string", _claim_state), _age)),
    Kind("resource.k8s.io", "v1", "ResourceClaimTemplate", "resourceclaimtemplates", True, (), (), (), (_age,)),
    Kind("resource.k8s.io", "v1", "ResourceSlice", "resourceslices", False, (), (), (),
         (_col("Node", "spec.nodeName"), _col("Driver", "spec.driver"), _col("Pool", "spec.pool.name"), _age),
         generation=True),
    Kind("storagemigration.k8s.io", "v1", "StorageVersionMigration", "storageversionmigrations", False, (), (),
         ("status",), (Column("Name", "string", lambda o: o["metadata"]["name"]),
                       Column("Resource", "string", lambda o: ".".join(
                           x for x in (dig(o, "spec.resource.resource"), dig(o, "spec.resource.group")) if x)),
                       Column("Status", "string", _migration_status))),
)
# ----- end of the issue 22 block -----

PREFERRED_GROUP_ORDER = ("", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
                         "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io",
                         "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
                         "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
                         "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "resource.k8s.io",
                         "flowcontrol.apiserver.k8s.io", "storagemigration.k8s.io")


class Registry:
    """Kinds by (group, version, plural); CRDs add and remove kinds at run time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str, str], Kind] = {}
        self._crd_owned: dict[str, list[tuple[str, str, str]]] = {}
        for k in BUILTINS:
            self._kinds[(k.group, k.version, k.plural)] = k
        self.generation = 0  # bumps whenever discovery changes

    def get(self, group: str, version: str, plural: str) -> Kind | None:
        return self._kinds.get((group, version, plural))

    def all(self) -> list[Kind]:
        with self._lock:
            return list(self._kinds.values())

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred (storage/first) first."""
        out: dict[str, list[str]] = {}
        for k in self.all():
            versions = out.setdefault(k.group, [])
            if k.version not in versions:
                versions.append(k.version)
        for g, versions in out.items():
            pref = next((k.storage_version for k in self.all() if k.group == g and k.storage_version), None)
            versions.sort(key=lambda v: (v != pref, _version_priority(v)))
        order = {g: i for i, g in enumerate(PREFERRED_GROUP_ORDER)}
        return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def in_group_version(self, group: str, version: str) -> list[Kind]:
        return [k for k in self.all() if k.group == group and k.version == version]

    def by_kind(self, group: str, kind: str) -> list[Kind]:
        return [k for k in self.all() if k.group == group and k.kind == kind]

    def set_crd(self, crd_name: str, kinds: list[Kind]) -> None:
        with self._lock:
            for key in self._crd_owned.pop(crd_name, []):
                self._kinds.pop(key, None)
            keys = []
            for k in kinds:
                key = (k.group, k.version, k.plural)
                self._kinds[key] = k
                keys.append(key)
            self._crd_owned[crd_name] = keys
            self.generation += 1

    def remove_crd(self, crd_name: str) -> None:
        self.set_crd(crd_name, [])
        with self._lock:
            self._crd_owned.pop(crd_name, None)


def _version_priority(v: str) -> tuple:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    import re
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, v)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -major, -minor)
