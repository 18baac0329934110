"""What a fresh cluster has: the initial namespaces and the default RBAC roles and bindings."""

from __future__ import annotations

from .errors import ApiError
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


def _ensure(objects: Objects, group: str, plural: str, ns: str, body: dict, *, ctx: Ctx) -> None:
    kind = objects.kind_for_key((group, plural))
    if objects.store.get(kind.key, ns, body["metadata"]["name"]) is not None:
        return
    try:
        objects.create(kind, ns, body, ctx)
    except ApiError as e:
        if e.code != 409:
            raise


def bootstrap(objects: Objects, ctx: Ctx) -> None:
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
