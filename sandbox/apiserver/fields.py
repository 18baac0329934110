"""Unknown fields of built-in kinds: the server drops them, fieldValidation=Warn (the default) reports them in
`Warning` headers and Strict rejects the request like kube-apiserver's strict decoding (400 for create/update,
422 for patches). Kinds with a model in the `kubernetes` client are checked at every depth (builtin_schemas; the
status subtree is left alone); others only at the top level and in metadata (TOP, META)."""

from __future__ import annotations

from . import builtin_schemas
from .errors import ApiError

META = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields"}
_SPEC = {"spec", "status"}
TOP = {
    ("", "Namespace"): _SPEC, ("", "ConfigMap"): {"data", "binaryData", "immutable"},
    ("", "Secret"): {"data", "stringData", "type", "immutable"},
    ("", "ServiceAccount"): {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    ("", "Service"): _SPEC, ("", "Pod"): _SPEC, ("", "PersistentVolume"): _SPEC,
    ("", "PersistentVolumeClaim"): _SPEC, ("", "ResourceQuota"): _SPEC, ("", "LimitRange"): {"spec"},
    ("", "Endpoints"): {"subsets"},
    ("", "Event"): {"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
                    "type", "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"},
    ("events.k8s.io", "Event"): {"eventTime", "series", "reportingController", "reportingInstance", "action",
                                 "reason", "regarding", "related", "note", "type", "deprecatedSource",
                                 "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"},
    ("apps", "Deployment"): _SPEC, ("apps", "ReplicaSet"): _SPEC, ("apps", "StatefulSet"): _SPEC,
    ("apps", "DaemonSet"): _SPEC, ("batch", "Job"): _SPEC, ("batch", "CronJob"): _SPEC,
    ("rbac.authorization.k8s.io", "Role"): {"rules"},
    ("rbac.authorization.k8s.io", "ClusterRole"): {"rules", "aggregationRule"},
    ("rbac.authorization.k8s.io", "RoleBinding"): {"subjects", "roleRef"},
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): {"subjects", "roleRef"},
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _SPEC,
    ("storage.k8s.io", "StorageClass"): {"provisioner", "parameters", "reclaimPolicy", "mountOptions",
                                         "allowVolumeExpansion", "volumeBindingMode", "allowedTopologies"},
    ("networking.k8s.io", "Ingress"): _SPEC, ("networking.k8s.io", "IngressClass"): {"spec"},
    ("coordination.k8s.io", "Lease"): {"spec"},
    ("policy", "PodDisruptionBudget"): _SPEC,
    ("scheduling.k8s.io", "PriorityClass"): {"value", "globalDefault", "description", "preemptionPolicy"},
}


def drop_unknown(group: str, kind: str, obj: dict, validation: str, warnings: list[str], *, version: str = "v1",
                 patch: bool = False) -> dict:
    """Remove unknown fields; Strict -> 400 (422 for a patch), Warn -> warnings. `kind` "" = a custom resource
    (its schema is applied elsewhere): only metadata is checked."""
    unknown = builtin_schemas.unknown_fields(group, version, kind, obj, remove=False, skip=("status",)) \
        if kind else None
    if unknown is None:
        unknown = []
        allowed = TOP.get((group, kind))
        if allowed is not None:
            unknown += [k for k in obj if k not in allowed and k not in ("apiVersion", "kind", "metadata")]
        meta = obj.get("metadata") or {}
        unknown += [f"metadata.{k}" for k in meta if k not in META]
    if not unknown:
        return obj
    if validation == "Strict":
        detail = "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown)
        if patch:
            raise ApiError(422, f'patch: Invalid value: "{kind}": {detail}', "Invalid")
        raise ApiError(400, f'{kind or "object"} in version "{version}" cannot be handled as a {kind or "object"}: '
                       + detail, "BadRequest")
    if validation == "Warn":
        warnings.extend(f'unknown field "{u}"' for u in unknown)
    if kind and builtin_schemas.unknown_fields(group, version, kind, obj, remove=True, skip=("status",)) is not None:
        return obj
    meta = obj.get("metadata") or {}
    for u in unknown:
        if u.startswith("metadata."):
            meta.pop(u[len("metadata."):], None)
        else:
            obj.pop(u, None)
    return obj
