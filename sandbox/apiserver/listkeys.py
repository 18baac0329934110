"""List semantics (merge keys / list types) of built-in Kubernetes kinds.

Two views of the same Go struct tags are needed:

* server-side apply (structured-merge-diff) uses ``+listType`` / ``+listMapKey`` (``x-kubernetes-list-type`` /
  ``x-kubernetes-list-map-keys``): ``ListInfo.kind`` and ``ListInfo.keys``;
* strategic merge patch uses ``patchStrategy`` / ``patchMergeKey``: ``ListInfo.smp`` (``"merge"``, ``"replace"`` or
  ``"merge,retainKeys"``) and ``ListInfo.smp_key`` (``""`` for lists of scalars merged as sets).

``gvk`` is ``(group, version, kind)``; ``path`` is the field path of the list with list indices removed, e.g.
``("spec", "template", "spec", "containers", "env")`` for a Deployment's container env.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ATOMIC",
    "ListInfo",
    "is_atomic_struct",
    "is_builtin",
    "is_map_type",
    "key_defaults",
    "list_info",
    "schema_at",
]


class ListInfo(NamedTuple):
    kind: str  # "map" | "set" | "atomic"  (server-side apply)
    keys: tuple[str, ...] = ()
    smp: str = "replace"  # strategic merge patch strategy: "merge" | "replace" | "merge,retainKeys"
    smp_key: str = ""  # strategic merge patch merge key ("" for merge of primitives)


ATOMIC = ListInfo("atomic", ())


def _m(*keys: str, smp_key: str | None = None, smp: str = "merge") -> ListInfo:
    return ListInfo("map", tuple(keys), smp, keys[0] if smp_key is None else smp_key)


def _atomic_smp(smp_key: str) -> ListInfo:
    """Atomic for SSA, but merged by key in strategic merge patch (e.g. Job conditions)."""
    return ListInfo("atomic", (), "merge", smp_key)


_SET = ListInfo("set", (), "merge", "")

_CONTAINER: dict[tuple[str, ...], ListInfo] = {
    ("ports",): _m("containerPort", "protocol", smp_key="containerPort"),
    ("env",): _m("name"),
    ("volumeMounts",): _m("mountPath"),
    ("volumeDevices",): _m("devicePath"),
    ("resources", "claims"): ListInfo("map", ("name",), "replace", ""),
    ("resizePolicy",): ATOMIC,
}

_POD_SPEC: dict[tuple[str, ...], ListInfo] = {
    ("containers",): _m("name"),
    ("initContainers",): _m("name"),
    ("ephemeralContainers",): _m("name"),
    ("volumes",): _m("name", smp="merge,retainKeys"),
    ("imagePullSecrets",): _m("name"),
    ("hostAliases",): _m("ip"),
    ("topologySpreadConstraints",): _m("topologyKey", "whenUnsatisfiable", smp_key="topologyKey"),
    ("resourceClaims",): _m("name", smp="merge,retainKeys"),
    ("schedulingGates",): _m("name"),
    ("tolerations",): ATOMIC,
    ("readinessGates",): ATOMIC,
}
for _cname in ("containers", "initContainers", "ephemeralContainers"):
    for _sub, _info in _CONTAINER.items():
        _POD_SPEC[(_cname, *_sub)] = _info

_POD_STATUS: dict[tuple[str, ...], ListInfo] = {
    ("conditions",): _m("type"),
    ("podIPs",): _atomic_smp("ip"),
    ("hostIPs",): _atomic_smp("ip"),
}

_CONDITIONS_MAP = {("status", "conditions"): _m("type")}
_CONDITIONS_ATOMIC = {("status", "conditions"): _atomic_smp("type")}


def _prefixed(prefix: tuple[str, ...], table: dict[tuple[str, ...], ListInfo]) -> dict[tuple[str, ...], ListInfo]:
    return {prefix + k: v for k, v in table.items()}


_TEMPLATE = ("spec", "template", "spec")

_KINDS: dict[tuple[str, str], dict[tuple[str, ...], ListInfo]] = {
    ("", "Pod"): {**_prefixed(("spec",), _POD_SPEC), **_prefixed(("status",), _POD_STATUS)},
    ("", "PodTemplate"): _prefixed(("template", "spec"), _POD_SPEC),
    ("", "ReplicationController"): {**_prefixed(_TEMPLATE, _POD_SPEC), **_CONDITIONS_MAP},
    ("apps", "Deployment"): {**_prefixed(_TEMPLATE, _POD_SPEC), **_CONDITIONS_MAP},
    ("apps", "ReplicaSet"): {**_prefixed(_TEMPLATE, _POD_SPEC), **_CONDITIONS_MAP},
    ("apps", "DaemonSet"): {**_prefixed(_TEMPLATE, _POD_SPEC), **_CONDITIONS_MAP},
    ("apps", "StatefulSet"): {
        **_prefixed(_TEMPLATE, _POD_SPEC),
        **_CONDITIONS_MAP,
        ("spec", "volumeClaimTemplates"): ATOMIC,
    },
    ("batch", "Job"): {**_prefixed(_TEMPLATE, _POD_SPEC), **_CONDITIONS_ATOMIC},
    ("batch", "CronJob"): {
        **_prefixed(("spec", "jobTemplate", "spec", "template", "spec"), _POD_SPEC),
        ("status", "active"): ATOMIC,
    },
    ("", "Service"): {
        ("spec", "ports"): _m("port", "protocol", smp_key="port"),
        ("status", "conditions"): _m("type"),
    },
    ("", "Node"): {
        ("spec", "podCIDRs"): _SET,
        ("spec", "taints"): ATOMIC,
        ("status", "conditions"): _m("type"),
        ("status", "addresses"): _atomic_smp("type"),
    },
    ("", "Namespace"): {("spec", "finalizers"): ATOMIC, ("status", "conditions"): _m("type")},
    ("", "PersistentVolumeClaim"): {("status", "conditions"): _m("type")},
    ("", "ServiceAccount"): {("secrets",): _m("name", smp="merge"), ("imagePullSecrets",): ATOMIC},
    ("rbac.authorization.k8s.io", "Role"): {("rules",): ATOMIC},
    ("rbac.authorization.k8s.io", "ClusterRole"): {("rules",): ATOMIC},
    ("rbac.authorization.k8s.io", "RoleBinding"): {("subjects",): ATOMIC},
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): {("subjects",): ATOMIC},
    ("autoscaling", "HorizontalPodAutoscaler"): {("spec", "metrics"): ATOMIC, ("status", "conditions"): _m("type")},
    ("policy", "PodDisruptionBudget"): {("status", "conditions"): _m("type")},
    ("apiextensions.k8s.io", "CustomResourceDefinition"): {("status", "conditions"): _m("type")},
    ("apiregistration.k8s.io", "APIService"): {("status", "conditions"): _m("type")},
    ("networking.k8s.io", "Ingress"): {},
    ("coordination.k8s.io", "Lease"): {},
}

# the kinds served without a controller (issue 22): their +listType/+listMapKey and +structType=atomic fields
_KINDS.update({
    ("", "PodTemplate"): _prefixed(("template", "spec"), _POD_SPEC),
    ("apps", "ControllerRevision"): {},
    ("networking.k8s.io", "NetworkPolicy"): {},
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): {("status", "conditions"): _m("type")},
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): {("spec", "validationActions"): _SET},
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"): {},
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"): {},
    ("storage.k8s.io", "CSIDriver"): {("spec", "volumeLifecycleModes"): _SET},
    ("storage.k8s.io", "CSINode"): {("spec", "drivers"): _m("name")},
    ("resource.k8s.io", "ResourceClaim"): {},
    ("resource.k8s.io", "ResourceClaimTemplate"): {},
    ("resource.k8s.io", "ResourceSlice"): {},
    ("storage.k8s.io", "VolumeAttachment"): {},
})
_ATOMIC_PATHS: dict[tuple, frozenset[tuple[str, ...]]] = {
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): frozenset({("spec", "scaleTargetRef")}),
    ("apps", "ControllerRevision"): frozenset({("data",)}),  # runtime.RawExtension
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): frozenset({("spec", "matchConstraints")}),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"): frozenset({("spec", "matchConstraints")}),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): frozenset({("spec", "matchResources")}),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"): frozenset({("spec", "matchResources")}),
}

_METADATA: dict[tuple[str, ...], ListInfo] = {
    ("metadata", "ownerReferences"): _m("uid"),
    ("metadata", "finalizers"): _SET,
    ("metadata", "managedFields"): ATOMIC,
}

# Structs / maps that server-side apply treats as a single value (+structType=atomic / +mapType=atomic).
_LABEL_SELECTOR_PATHS = {
    ("spec", "selector"),
}
_ATOMIC_STRUCT_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("valueFrom", "secretKeyRef"),
    ("valueFrom", "configMapKeyRef"),
    ("valueFrom", "fieldRef"),
    ("valueFrom", "resourceFieldRef"),
    ("configMapRef",),
    ("secretRef",),
    ("labelSelector",),
    ("namespaceSelector",),
    ("podSelector",),
    ("nodeSelectorTerms",),
    ("requiredDuringSchedulingIgnoredDuringExecution",),
)


_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy"})


def _builtin(group: str, kind: str) -> bool:
    return (group, kind) in _KINDS


def is_builtin(gvk: tuple[str, str, str], schema: dict | None = None) -> bool:
    """Kinds described by the tables here (built-in API groups), as opposed to custom resources."""
    group, _version, kind = gvk
    if (group, kind) in _KINDS or (group, kind) in _ROOT_MAPS:
        return True
    return schema is None and (group in _BUILTIN_GROUPS or group.endswith(".k8s.io"))


def schema_at(schema: dict | None, path: tuple[str, ...]) -> dict | None:
    """Walk an openAPIV3Schema along a field path (list indices removed); ``None`` when not described."""
    node = schema
    for name in path:
        if not isinstance(node, dict):
            return None
        # descend through list items transparently: paths carry no indices
        while node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = node["items"]
        props = node.get("properties")
        if isinstance(props, dict) and name in props:
            node = props[name]
            continue
        addl = node.get("additionalProperties")
        if isinstance(addl, dict):
            node = addl
            continue
        return None
    return node if isinstance(node, dict) else None


def _from_schema(node: dict | None) -> ListInfo:
    if not node:
        return ATOMIC
    lt = node.get("x-kubernetes-list-type")
    if lt == "map":
        keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
        return ListInfo("map", keys, "merge", keys[0] if keys else "")
    if lt == "set":
        return _SET
    return ATOMIC


def list_info(gvk: tuple[str, str, str], path: tuple[str, ...], schema: dict | None = None) -> ListInfo:
    """List semantics of the list at ``path`` in objects of kind ``gvk``.

    For unknown kinds (custom resources) the CRD ``schema`` (openAPIV3Schema) extensions are used; without a schema
    (or when the schema says nothing) lists are atomic, as in Kubernetes.
    """
    group, _version, kind = gvk
    path = tuple(path)
    if path in _METADATA:
        return _METADATA[path]
    table = _KINDS.get((group, kind))
    if table is not None:
        info = table.get(path)
        if info is not None:
            return info
        if schema is None:
            return ATOMIC
    if schema is not None:
        return _from_schema(schema_at(schema, path))
    return ATOMIC


def is_atomic_struct(gvk: tuple[str, str, str], path: tuple[str, ...], schema: dict | None = None) -> bool:
    """True when the map/struct at ``path`` is owned as a whole by server-side apply."""
    group, _version, kind = gvk
    path = tuple(path)
    if schema is not None and not _builtin(group, kind):
        node = schema_at(schema, path)
        if node is None:
            return False
        return node.get("x-kubernetes-map-type") == "atomic"
    if not _builtin(group, kind):
        return False
    if path[:1] == ("metadata",):
        return False
    if path in _ATOMIC_PATHS.get((group, kind), ()) or path in _ATOMIC_PATHS.get(gvk, ()):
        return True
    if path in _LABEL_SELECTOR_PATHS and kind != "Service":
        return True
    if kind == "Service" and path == ("spec", "selector"):
        return True
    if path[-1:] in (("nodeSelector",), ("selector",)) and path[-2:-1] in (("spec",), ("jobTemplate",)):
        return True
    return any(path[-len(suf) :] == suf for suf in _ATOMIC_STRUCT_SUFFIXES)




# Fields whose value is a map[string]X (every key is a member of its own in managedFields) rather than a struct.
_MAP_TYPED_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("metadata", "labels"),
    ("metadata", "annotations"),
    ("resources", "limits"),
    ("resources", "requests"),
    ("status", "capacity"),
    ("status", "allocatable"),
    ("spec", "overhead"),
    ("spec", "hard"),
    ("status", "hard"),
    ("status", "used"),
    ("csi", "volumeAttributes"),
    ("status", "allocatedResources"),
)
_ROOT_MAPS: dict[tuple[str, str], frozenset[str]] = {
    ("", "ConfigMap"): frozenset({"data", "binaryData"}),
    ("", "Secret"): frozenset({"data", "stringData"}),
    ("storage.k8s.io", "StorageClass"): frozenset({"parameters"}),
}


def is_map_type(gvk: tuple[str, str, str], path: tuple[str, ...], schema: dict | None = None) -> bool:
    """True when the object at ``path`` is a map (``additionalProperties``), not a struct with declared fields.

    For custom resources without a schema (or under ``x-kubernetes-preserve-unknown-fields`` without properties)
    every map is treated as a map, as structured-merge-diff does for deduced types.
    """
    group, _version, kind = gvk
    path = tuple(path)
    if path[-2:] in (("metadata", "labels"), ("metadata", "annotations")):
        return True
    if path[:1] == ("metadata",) or not path:
        return False
    if is_builtin(gvk, schema):
        if len(path) == 1 and path[0] in _ROOT_MAPS.get((group, kind), ()):
            return True
        return any(path[-len(s) :] == s for s in _MAP_TYPED_SUFFIXES) or path[-1:] in (("nodeSelector",),)
    if schema is None:
        return True
    node = schema_at(schema, path)
    if node is None:
        return True
    if isinstance(node.get("additionalProperties"), dict):
        return True
    return not node.get("properties") and bool(node.get("x-kubernetes-preserve-unknown-fields"))


_KEY_DEFAULTS = {"protocol": "TCP"}


def key_defaults(gvk: tuple[str, str, str], path: tuple[str, ...], schema: dict | None = None) -> dict:
    """Default values of associative-list key fields (``protocol`` defaults to ``TCP`` for ports)."""
    group, _version, kind = gvk
    if (group, kind) in _KINDS and schema is None:
        return _KEY_DEFAULTS
    node = schema_at(schema, path) if schema else None
    if not node or not isinstance(node.get("items"), dict):
        return {}
    props = node["items"].get("properties") or {}
    return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}
