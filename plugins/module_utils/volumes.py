# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PersistentVolumeClaims: manifest, resize rules, StorageClass lookups and the Bound wait."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils import managed, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, WaitTimeout, ref
from ansible_collections.mlops.k8s.plugins.module_utils.names import check_label, check_subdomain
from ansible_collections.mlops.k8s.plugins.module_utils.quantity import format_bytes, parse_quantity
from ansible_collections.mlops.k8s.plugins.module_utils.service import public_object

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
ACCESS_MODE_ALIASES = {"RWO": "ReadWriteOnce", "ROX": "ReadOnlyMany", "RWX": "ReadWriteMany",
                       "RWOP": "ReadWriteOncePod"}


def normalize_access_modes(modes):
    out = []
    for mode in modes or ["ReadWriteOnce"]:
        full = ACCESS_MODE_ALIASES.get(str(mode).upper(), mode)
        if full not in ACCESS_MODES:
            raise K8sError("access_modes: %r is not an access mode (use %s, or RWO, ROX, RWX, RWOP)"
                           % (mode, ", ".join(ACCESS_MODES)))
        if full not in out:
            out.append(full)
    return out


def build_pvc(name, namespace, size, *, access_modes, storage_class=None, volume_mode=None, labels=None,
              annotations=None):
    if parse_quantity(size, "size") <= 0:
        raise K8sError("size must be larger than zero, got %r" % size)
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    labels.update(managed.MANAGED_BY)
    meta = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    spec = {"accessModes": list(access_modes), "resources": {"requests": {"storage": str(size)}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    if volume_mode:
        spec["volumeMode"] = volume_mode
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def requested_size(pvc):
    return (((pvc or {}).get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")


def plan_resize(live, wanted_size, storage_class_obj, class_name):
    """Compare the live request with ``wanted_size``.

    Returns the size string to send (the live one when equal, so ``2Gi`` vs ``2048Mi`` is no change) and
    ``"same"|"grow"``; raises K8sError for a shrink, or a grow the StorageClass does not allow.
    """
    current = requested_size(live)
    if current is None:
        return wanted_size, "grow"
    what = ref("PersistentVolumeClaim", live["metadata"].get("namespace"), live["metadata"].get("name"))
    cur, new = parse_quantity(current), parse_quantity(wanted_size, "size")
    if new == cur:
        return current, "same"
    if new < cur:
        raise K8sError(
            "refusing to shrink %s from %s to %s: Kubernetes cannot shrink a PersistentVolumeClaim (the API server "
            "rejects a smaller storage request, and the data on the volume may not fit); keep size at %s or larger, "
            "or create a new claim and copy the data" % (what, current, wanted_size, current))
    if storage_class_obj is None:
        raise K8sError(
            "cannot grow %s from %s to %s: %s, so volume expansion cannot be checked; only claims of a StorageClass "
            "with allowVolumeExpansion: true can grow"
            % (what, current, wanted_size,
               "it has no StorageClass" if not class_name else "StorageClass %s does not exist" % class_name))
    if storage_class_obj.get("allowVolumeExpansion") is not True:
        raise K8sError(
            "cannot grow %s from %s to %s (+%s): StorageClass %s does not allow volume expansion "
            "(allowVolumeExpansion is not true); ask the cluster admin to enable it on the class, or create a "
            "larger claim and copy the data"
            % (what, current, wanted_size, format_bytes(new - cur), class_name))
    return wanted_size, "grow"


IMMUTABLE = (("accessModes", "access_modes"), ("storageClassName", "storage_class"), ("volumeMode", "volume_mode"))


def check_immutable(live, wanted):
    """Fail before writing when an immutable field of an existing claim would change."""
    live_spec, spec = live.get("spec") or {}, wanted.get("spec") or {}
    problems = []
    for field, option in IMMUTABLE:
        if field not in spec:
            continue
        have = live_spec.get(field)
        want = spec[field]
        if field == "accessModes":
            same = sorted(have or []) == sorted(want)
        elif field == "volumeMode":
            same = (have or "Filesystem") == want
        else:
            same = (have or "") == (want or "")
        if not same:
            problems.append("%s is %r, wanted %r" % (option, have, want))
    if problems:
        meta = live.get("metadata") or {}
        raise K8sError("%s: %s; these fields cannot change once a claim exists (delete and recreate the claim to "
                       "change them)" % (ref("PersistentVolumeClaim", meta.get("namespace"), meta.get("name")),
                                         "; ".join(problems)))


def find_storage_class(client, name):
    """(class name, StorageClass dict or None): ``name`` or, when None, the cluster's default class."""
    resource = client.find_resource("storage.k8s.io/v1", "StorageClass")
    if resource is None:
        return name, None
    if name:
        return name, client.get(resource, name)
    if name == "":
        return "", None
    for item in client.list(resource).get("items") or []:
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        if any(str(annotations.get(a, "")).lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS):
            return item["metadata"]["name"], item
    return None, None


def binding_mode(storage_class_obj):
    if storage_class_obj is None:
        return None
    return storage_class_obj.get("volumeBindingMode") or "Immediate"


def phase(pvc):
    return ((pvc or {}).get("status") or {}).get("phase")


def bound_check():
    def check(obj):
        if obj is None:
            return False, "the claim does not exist"
        current = phase(obj)
        if current == "Bound":
            return True, "Bound to %s" % ((obj.get("spec") or {}).get("volumeName") or "a volume")
        return False, "phase=%s" % (current or "not reported yet")

    return check


def lost_failure(obj):
    if phase(obj) == "Lost":
        return "phase Lost: its PersistentVolume %s is gone" % ((obj.get("spec") or {}).get("volumeName") or "")
    return None


# -- the mlops.k8s.pvc module -----------------------------------------------------------------------------------
WFFC_NOTE = ("StorageClass %s has volumeBindingMode WaitForFirstConsumer: the claim stays Pending until a pod that "
             "uses it is scheduled, then binds on that pod's node; not waiting for Bound")


def run_pvc(module):
    params = module.params
    name, namespace = params["name"], params["namespace"]
    check_subdomain(name, "name")
    check_label(namespace, "namespace")
    client = None
    if params["state"] == "absent":
        client = module.client
        obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": namespace}}
        result = managed.delete(module, client, obj, "pvc", wait=params["wait"], wait_timeout=params["wait_timeout"])
        return managed.outcome([result], module.diff_mode)

    if not params["size"]:
        raise K8sError("size is required when state=present (for example size: 10Gi)")
    wanted = build_pvc(name, namespace, params["size"], access_modes=normalize_access_modes(params["access_modes"]),
                       storage_class=params["storage_class"], volume_mode=params["volume_mode"],
                       labels=params["labels"], annotations=params["annotations"])
    client = module.client
    item = managed.manifest(client, wanted, "pvc")
    live = client.get(item.resource, name, namespace)
    class_name = params["storage_class"]
    if live is not None:
        check_immutable(live, wanted)
        class_name = (live.get("spec") or {}).get("storageClassName")
    class_name, sc = find_storage_class(client, class_name)
    if live is not None:
        size, _how = plan_resize(live, params["size"], sc, class_name)
        wanted["spec"]["resources"]["requests"]["storage"] = size
    result = managed.apply(module, client, wanted, "pvc")
    obj = result.get("object") or {}
    mode = binding_mode(sc)
    extra = {"storage_class": class_name, "binding_mode": mode, "phase": phase(obj)}
    if params["wait_bound"] and not module.check_mode and phase(obj) != "Bound":
        if mode == "WaitForFirstConsumer":
            module.warn(WFFC_NOTE % class_name)
            extra["bound"] = False
            extra["msg"] = WFFC_NOTE % class_name
        else:
            try:
                outcome = waiter.wait_for(client, item.resource, name, namespace, check=bound_check(),
                                          failure=lost_failure, timeout=params["wait_timeout"],
                                          description="phase Bound")
            except WaitTimeout as err:
                hint = ("no StorageClass (and no default class): only a pre-created PersistentVolume can bind it"
                        if sc is None else "check that the provisioner of StorageClass %s (%s) is running"
                        % (class_name, sc.get("provisioner")))
                raise WaitTimeout("%s; %s" % (err.msg, hint)) from None
            obj = public_object(outcome.object)
            extra.update(phase="Bound", waited=round(outcome.elapsed, 3))
    extra["bound"] = phase(obj) == "Bound"
    extra["pvc"] = obj
    return managed.outcome([result], module.diff_mode, extra)
