"""What a fresh cluster has: the initial namespaces and the default RBAC roles and bindings."""

from __future__ import annotations

from .errors import ApiError
from .meta import now
from .objects import Ctx, Objects

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
RBAC = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
GROUPS = ["", "apps", "batch", "autoscaling", "networking.k8s.io", "policy", "coordination.k8s.io"]
VIEWABLE = ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
            "pods/log", "pods/status", "replicationcontrollers", "services", "services/status", "serviceaccounts",
            "events", "limitranges", "resourcequotas", "namespaces", "deployments", "deployments/scale",
            "deployments/status", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale",
            "daemonsets", "jobs", "cronjobs", "ingresses", "leases", "poddisruptionbudgets",
            "horizontalpodautoscalers"]
_view = [{"apiGroups": GROUPS, "resources": VIEWABLE, "verbs": READ}]
_edit = [*_view,
         {"apiGroups": GROUPS, "resources": [r for r in VIEWABLE if r != "namespaces"] + ["secrets"], "verbs": WRITE},
         {"apiGroups": [""], "resources": ["secrets"], "verbs": READ},
         {"apiGroups": [""], "resources": ["serviceaccounts/token", "pods/eviction"], "verbs": ["create"]}]
_admin = [*_edit, {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": READ + WRITE},
          {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]}]
_discovery = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/",
              "/openapi", "/openapi/*"]

CLUSTER_ROLES = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "admin": _admin,
    "edit": _edit,
    "view": _view,
    "system:discovery": [{"nonResourceURLs": _discovery, "verbs": ["get"]}],
    "system:public-info-viewer": [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                                   "verbs": ["get"]}],
    "system:basic-user": [{"apiGroups": ["authorization.k8s.io"],
                           "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                          {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
                           "verbs": ["create"]}],
}
CLUSTER_ROLE_BINDINGS = {
    "cluster-admin": ("cluster-admin", "system:masters"),
    "system:discovery": ("system:discovery", "system:authenticated"),
    "system:public-info-viewer": ("system:public-info-viewer", "system:authenticated"),
    "system:basic-user": ("system:basic-user", "system:authenticated"),
}
_BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
# the aggregator's local APIServices (kube-aggregator.kubernetes.io/automanaged: onstart), as kube-apiserver v1.37
# registers them: group, version, groupPriorityMinimum, versionPriority
LOCAL_APISERVICES = (
    ("", "v1", 18000, 1), ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("apiextensions.k8s.io", "v1", 16700, 15), ("apps", "v1", 17800, 15), ("authentication.k8s.io", "v1", 17700, 15),
    ("authorization.k8s.io", "v1", 17600, 15), ("autoscaling", "v1", 17500, 15), ("autoscaling", "v2", 17500, 30),
    ("batch", "v1", 17400, 15), ("certificates.k8s.io", "v1", 17300, 15), ("coordination.k8s.io", "v1", 16500, 15),
    ("discovery.k8s.io", "v1", 16200, 15), ("events.k8s.io", "v1", 17750, 15),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21), ("networking.k8s.io", "v1", 17200, 15),
    ("node.k8s.io", "v1", 16300, 15), ("policy", "v1", 17100, 15), ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("resource.k8s.io", "v1", 16200, 21), ("scheduling.k8s.io", "v1", 16600, 15), ("storage.k8s.io", "v1", 16800, 15),
    ("storagemigration.k8s.io", "v1", 15800, 15))
# `kubectl get componentstatuses`: the emulator's controllers, scheduler and store are in its own process
COMPONENTS = ("controller-manager", "scheduler", "etcd-0")


def _ensure(objects: Objects, group: str, plural: str, ns: str, body: dict, *, ctx: Ctx) -> None:
    kind = objects.kind_for_key((group, plural))
    if objects.store.get(kind.key, ns, body["metadata"]["name"]) is not None:
        return
    try:
        objects.create(kind, ns, body, ctx)
    except ApiError as e:
        if e.code != 409:
            raise


def _local_apiservices(objects: Objects, ctx: Ctx) -> None:
    kind = objects.kind_for_key(("apiregistration.k8s.io", "apiservices"))
    for group, version, group_priority, version_priority in LOCAL_APISERVICES:
        name = f"{version}.{group}"
        if objects.store.get(kind.key, "", name) is not None:
            continue
        spec = {"group": group, "version": version, "groupPriorityMinimum": group_priority,
                "versionPriority": version_priority}
        obj = objects.create(kind, "", {"metadata": {
            "name": name, "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": {k: v for k, v in spec.items() if v}}, ctx)
        obj["status"] = {"conditions": [{"type": "Available", "status": "True", "lastTransitionTime": now(),
                                         "reason": "Local", "message": "Local APIServices are always available"}]}
        objects.update(kind, "", name, obj, ctx, sub="status")


def bootstrap(objects: Objects, ctx: Ctx) -> None:
    _local_apiservices(objects, ctx)
    for name in COMPONENTS:
        _ensure(objects, "", "componentstatuses", "", {"metadata": {"name": name}, "conditions": [
            {"type": "Healthy", "status": "True", "message": "ok"}]}, ctx=ctx)
    for ns in INITIAL_NAMESPACES:
        _ensure(objects, "", "namespaces", "", {"metadata": {"name": ns}}, ctx=ctx)
    _ensure(objects, "", "services", "default", {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                      "targetPort": 6443}]}}, ctx=ctx)
    for name, rules in CLUSTER_ROLES.items():
        _ensure(objects, RBAC, "clusterroles", "", {"metadata": {"name": name, "labels": _BOOTSTRAP},
                                                    "rules": rules}, ctx=ctx)
    for name, (role, group) in CLUSTER_ROLE_BINDINGS.items():
        _ensure(objects, RBAC, "clusterrolebindings", "", {
            "metadata": {"name": name, "labels": _BOOTSTRAP},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": group}]}, ctx=ctx)
