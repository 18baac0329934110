"""Known fields of built-in kinds (top level and ObjectMeta): the server drops unknown ones, and
fieldValidation=Strict turns them into a 400 like kube-apiserver's strict decoding."""

from __future__ import annotations

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
}


def drop_unknown(group: str, kind: str, obj: dict, validation: str, warnings: list[str]) -> dict:
    """Remove unknown top-level and metadata fields; Strict -> 400, Warn -> warnings."""
    unknown = []
    allowed = TOP.get((group, kind))
    if allowed is not None:
        unknown += [k for k in obj if k not in allowed and k not in ("apiVersion", "kind", "metadata")]
    meta = obj.get("metadata") or {}
    unknown += [f"metadata.{k}" for k in meta if k not in META]
    if not unknown:
        return obj
    if validation == "Strict":
        raise ApiError(400, "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown),
                       "BadRequest")
    if validation == "Warn":
        warnings.extend(f'unknown field "{u}"' for u in unknown)
    for u in unknown:
        if u.startswith("metadata."):
            meta.pop(u[len("metadata."):], None)
        else:
            obj.pop(u, None)
    return obj
