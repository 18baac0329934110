"""PersistentVolume controller and a local "hostpath" provisioner.

At start it creates the StorageClasses `standard` (default, WaitForFirstConsumer) and `standard-immediate`
(Immediate) when absent. Claims of a class whose provisioner is ``sandbox.local/hostpath`` get a dynamically
provisioned PersistentVolume backed by ``DIR/volumes/<pv-name>/``; WaitForFirstConsumer claims are provisioned once
the scheduler picks them for a pod (annotation volume.kubernetes.io/selected-node). Pre-created volumes bind when
they satisfy a claim. Reclaim policy Delete removes the volume (and its directory) after the claim goes.
"""

from __future__ import annotations

import os
import re
import shutil

from ..machinery.errors import ApiError
from .base import Controller, client_for, now

PVCS = ("", "persistentvolumeclaims")
PVS = ("", "persistentvolumes")
SCS = ("storage.k8s.io", "storageclasses")
PODS = ("", "pods")
PROVISIONER = "sandbox.local/hostpath"
DEFAULT_ANN = "storageclass.kubernetes.io/is-default-class"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
          "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 0.001, "": 1}


def quantity(q) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)([a-zA-Z]*)\s*", str(q))
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"invalid quantity {q!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def default_classes() -> list[dict]:
    return [
        {"metadata": {"name": "standard", "annotations": {DEFAULT_ANN: "true"}}, "provisioner": PROVISIONER,
         "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True},
        {"metadata": {"name": "standard-immediate"}, "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
         "volumeBindingMode": "Immediate", "allowVolumeExpansion": True},
    ]


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder"
    primary = PVCS
    watch_keys = (PVS, SCS, PODS)
    component = "persistentvolume-controller"
    resync = 15.0
    settings = ("delay", "max_volume_size")

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        self.volumes_dir = os.path.join(sandbox.dir, "volumes")
        self.max_volume_size = "1Ti"
        self.provisioner = client_for(sandbox, "system:serviceaccount:kube-system:sandbox-hostpath-provisioner",
                                  "sandbox-hostpath-provisioner")
        self.protection = client_for(sandbox, "system:serviceaccount:kube-system:pvc-protection-controller")

    def start(self) -> None:
        os.makedirs(self.volumes_dir, exist_ok=True)
        addon = client_for(self.sb, "system:serviceaccount:kube-system:sandbox-addon-manager", "kubectl")
        for sc in default_classes():
            if self.client.get(SCS, "", sc["metadata"]["name"]) is None:
                try:
                    addon.create(SCS, "", sc)
                except ApiError as e:
                    if e.code != 409:
                        raise
        super().start()

    def keys_for(self, ev):
        m = ev.obj["metadata"]
        if ev.key == PVCS:
            yield m.get("namespace", ""), m["name"]
            if ev.type == "DELETED" and ev.obj["spec"].get("volumeName"):
                yield "", "pv:" + ev.obj["spec"]["volumeName"]
        elif ev.key == PVS:
            ref = ev.obj["spec"].get("claimRef") or {}
            if ref.get("name"):
                yield ref.get("namespace", ""), ref["name"]
            yield "", "pv:" + m["name"]
            if ev.type == "ADDED":
                for c in self.client.list(PVCS):
                    if (c.get("status") or {}).get("phase") != "Bound":
                        yield c["metadata"]["namespace"], c["metadata"]["name"]
        elif ev.key == SCS:
            for c in self.client.list(PVCS):
                if (c.get("status") or {}).get("phase") != "Bound":
                    yield c["metadata"]["namespace"], c["metadata"]["name"]
        elif ev.key == PODS:
            from .pods import pod_claims
            ns = m.get("namespace", "")
            for claim in set(pod_claims(ev.obj)):
                yield ns, claim

    def initial(self) -> None:
        super().initial()
        for pv in self.client.list(PVS):
            self.enqueue("", "pv:" + pv["metadata"]["name"])

    def reconcile(self, ns: str, name: str):  # noqa: PLR0911 - one return per outcome of the PV controller's sync of a claim (gone, deleted, bound, no class, static volume, external provisioner, WaitForFirstConsumer, provision)
        if not ns and name.startswith("pv:"):
            return self._volume(name[3:])
        pvc = self.client.get(PVCS, ns, name)
        if pvc is None:
            return None
        if pvc["metadata"].get("deletionTimestamp"):
            return self._release_protection(pvc)
        self._protect(pvc)
        if (pvc.get("status") or {}).get("phase") == "Bound":
            pv = self.client.get(PVS, "", pvc["spec"].get("volumeName") or "")
            if pv is None:
                self._claim_status(pvc, "Lost")
                self.recorder.warning(pvc, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the "
                                      "volume is lost!")
            return None
        spec = pvc["spec"]
        if "storageClassName" not in spec or spec.get("storageClassName") is None:
            default = next((sc for sc in self.client.list(SCS)
                            if (sc["metadata"].get("annotations") or {}).get(DEFAULT_ANN) == "true"), None)
            if default is not None:
                self.client.mutate(PVCS, ns, name, lambda o: o["spec"].__setitem__(
                    "storageClassName", default["metadata"]["name"]))
                return None
        cls_name = spec.get("storageClassName") or ""
        # a volume already chosen (pre-bound) or an existing one that fits
        pv = self._find_volume(pvc)
        if pv is not None:
            self._bind(pvc, pv)
            return None
        if not cls_name:
            self.recorder.normal(pvc, "FailedBinding", "no persistent volumes available for this claim and no "
                                                       "storage class is set")
            return None
        sc = self.client.get(SCS, "", cls_name)
        if sc is None:
            self.recorder.warning(pvc, "ProvisioningFailed", f'storageclass.storage.k8s.io "{cls_name}" not found')
            return None
        if sc.get("provisioner") != PROVISIONER:
            self.recorder.normal(pvc, "ExternalProvisioning", "Waiting for a volume to be created either by the "
                                 f"external provisioner '{sc.get('provisioner')}' or manually by the system "
                                 "administrator. If volume creation is delayed, please verify that the provisioner "
                                 "is running and correctly registered.")
            return None
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not (pvc["metadata"].get("annotations") or {})\
                .get("volume.kubernetes.io/selected-node"):
            self.recorder.normal(pvc, "WaitForFirstConsumer", "waiting for first consumer to be created before "
                                                              "binding")
            return None
        return self._provision(pvc, sc)

    # -- protection finalizer (kubernetes.io/pvc-protection) --
    def _protect(self, pvc: dict) -> None:
        fin = "kubernetes.io/pvc-protection"
        if fin not in (pvc["metadata"].get("finalizers") or []):
            self.protection.mutate(PVCS, pvc["metadata"]["namespace"], pvc["metadata"]["name"], lambda o: o[
                "metadata"].__setitem__("finalizers", [*(o["metadata"].get("finalizers") or []), fin]))

    def _release_protection(self, pvc: dict):
        from .pods import pod_claims
        ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        fin = "kubernetes.io/pvc-protection"
        if fin not in (pvc["metadata"].get("finalizers") or []):
            return None
        in_use = any(name in pod_claims(p) and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                     for p in self.client.list(PODS, ns))
        if in_use:
            return 1.0
        self.protection.mutate(PVCS, ns, name, lambda o: o["metadata"].__setitem__(
            "finalizers", [f for f in o["metadata"].get("finalizers") or [] if f != fin]))
        return None

    # -- binding --
    def _fits(self, pvc: dict, pv: dict) -> bool:  # noqa: PLR0911 - one return per binding rule the PV controller checks (class, access modes, volume mode, size, selector)
        ps, cs = pv["spec"], pvc["spec"]
        if (ps.get("storageClassName") or "") != (cs.get("storageClassName") or ""):
            return False
        if not set(cs.get("accessModes") or []) <= set(ps.get("accessModes") or []):
            return False
        if (ps.get("volumeMode") or "Filesystem") != (cs.get("volumeMode") or "Filesystem"):
            return False
        try:
            want = quantity(((cs.get("resources") or {}).get("requests") or {}).get("storage", "0"))
            have = quantity((ps.get("capacity") or {}).get("storage", "0"))
        except ValueError:
            return False
        if have < want:
            return False
        sel = cs.get("selector")
        if sel:
            from .base import selects
            if not selects(sel, pv["metadata"].get("labels")):
                return False
        return True

    def _find_volume(self, pvc: dict) -> dict | None:
        m = pvc["metadata"]
        vol = pvc["spec"].get("volumeName")
        if vol:
            pv = self.client.get(PVS, "", vol)
            return pv if pv is not None and self._fits(pvc, pv) else None
        for pv in self.client.list(PVS):
            ref = pv["spec"].get("claimRef")
            if ref and ref.get("uid") == m["uid"]:
                return pv
        candidates = []
        for pv in self.client.list(PVS):
            ref = pv["spec"].get("claimRef")
            if ref and not (ref.get("namespace") == m["namespace"] and ref.get("name") == m["name"]
                            and not ref.get("uid")):
                continue
            if (pv.get("status") or {}).get("phase") not in (None, "Available") or \
                    pv["metadata"].get("deletionTimestamp"):
                continue
            if self._fits(pvc, pv):
                candidates.append(pv)
        candidates.sort(key=lambda p: quantity((p["spec"].get("capacity") or {}).get("storage", "0")))
        return candidates[0] if candidates else None

    def _bind(self, pvc: dict, pv: dict) -> None:
        m = pvc["metadata"]
        ns, name = m["namespace"], m["name"]

        def pv_spec(o):
            o["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": ns, "name": name,
                                     "uid": m["uid"], "apiVersion": "v1", "resourceVersion": m["resourceVersion"]}
            o["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
        self.client.mutate(PVS, "", pv["metadata"]["name"], pv_spec)
        self.client.mutate(PVS, "", pv["metadata"]["name"], lambda o: o.setdefault("status", {}).update(
            {"phase": "Bound", "lastPhaseTransitionTime": now()}), "status")

        def pvc_spec(o):
            o["spec"]["volumeName"] = pv["metadata"]["name"]
            a = o["metadata"].setdefault("annotations", {})
            a["pv.kubernetes.io/bind-completed"] = "yes"
            a["pv.kubernetes.io/bound-by-controller"] = "yes"
        self.client.mutate(PVCS, ns, name, pvc_spec)

        def pvc_status(o):
            o["status"] = {"phase": "Bound", "accessModes": list(pv["spec"].get("accessModes") or []),
                           "capacity": dict(pv["spec"].get("capacity") or {})}
        self.client.mutate(PVCS, ns, name, pvc_status, "status")

    def _claim_status(self, pvc: dict, phase: str) -> None:
        self.client.mutate(PVCS, pvc["metadata"]["namespace"], pvc["metadata"]["name"],
                           lambda o: o.setdefault("status", {}).__setitem__("phase", phase), "status")

    def _provision(self, pvc: dict, sc: dict):  # noqa: PLR0911 - one return per reason a provisioner refuses a claim, each with its own ProvisioningFailed event
        m, spec = pvc["metadata"], pvc["spec"]
        ns, name = m["namespace"], m["name"]
        cls = sc["metadata"]["name"]

        def fail(msg):
            self.recorder.warning(pvc, "ProvisioningFailed", f'failed to provision volume with StorageClass "{cls}":'
                                                             f" {msg}")
        ann_fix = {"volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
                   "volume.kubernetes.io/storage-provisioner": PROVISIONER}
        if any((m.get("annotations") or {}).get(k) != v for k, v in ann_fix.items()):
            self.client.mutate(PVCS, ns, name, lambda o: o["metadata"].setdefault("annotations", {}).update(ann_fix))
        if spec.get("selector"):
            return fail("claim Selector is not supported")
        if spec.get("dataSource") or spec.get("dataSourceRef"):
            return fail("data sources are not supported by the sandbox hostpath provisioner")
        modes = spec.get("accessModes") or []
        if not modes:
            return fail("claim has no access modes")
        if spec.get("volumeMode") == "Block":
            return fail("block volumes are not supported by the sandbox hostpath provisioner")
        req = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if req is None:
            return fail("claim has no storage request")
        try:
            size = quantity(req)
            limit = quantity(self.max_volume_size)
        except ValueError as e:
            return fail(str(e))
        if size > limit:
            return fail(f"insufficient capacity: requested {req}, the sandbox provisioner allows at most "
                        f"{self.max_volume_size}")
        self.recorder.normal(pvc, "Provisioning", f'External provisioner is provisioning volume for claim '
                                                  f'"{ns}/{name}"')
        pv_name = f"pvc-{m['uid']}"
        path = os.path.join(self.volumes_dir, pv_name)
        os.makedirs(path, exist_ok=True)
        body = {"metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                             "finalizers": ["kubernetes.io/pv-protection"]},
                "spec": {"capacity": {"storage": str(req)}, "accessModes": list(modes),
                         "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                         "storageClassName": cls, "volumeMode": spec.get("volumeMode") or "Filesystem",
                         "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                         "claimRef": {"kind": "PersistentVolumeClaim", "namespace": ns, "name": name,
                                      "uid": m["uid"], "apiVersion": "v1", "resourceVersion": m["resourceVersion"]}}}
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer":
            body["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["sandbox-node"]}]}]}}
        try:
            pv = self.provisioner.create(PVS, "", body)
        except ApiError as e:
            if e.code != 409:
                return fail(str(e))
            pv = self.client.get(PVS, "", pv_name)
            if pv is None:
                return 0.2
        self.recorder.normal(pvc, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}")
        self._bind(pvc, pv)
        return None

    # -- volumes: release / reclaim --
    def _volume(self, pv_name: str):
        pv = self.client.get(PVS, "", pv_name)
        if pv is None:
            return None
        m = pv["metadata"]
        if m.get("deletionTimestamp"):
            if "kubernetes.io/pv-protection" in (m.get("finalizers") or []) and \
                    (pv.get("status") or {}).get("phase") != "Bound":
                self._remove_dir(pv)
                self.client.mutate(PVS, "", pv_name, lambda o: o["metadata"].__setitem__(
                    "finalizers", [f for f in o["metadata"].get("finalizers") or []
                                   if f != "kubernetes.io/pv-protection"]))
            return None
        ref = pv["spec"].get("claimRef")
        phase = (pv.get("status") or {}).get("phase")
        if not ref:
            if phase != "Available":
                self.client.mutate(PVS, "", pv_name, lambda o: o.setdefault("status", {}).update(
                    {"phase": "Available", "lastPhaseTransitionTime": now()}), "status")
            return None
        claim = self.client.get(PVCS, ref.get("namespace", ""), ref.get("name", ""))
        if claim is not None and (not ref.get("uid") or claim["metadata"]["uid"] == ref.get("uid")):
            return None
        if not ref.get("uid"):
            return None   # pre-bound to a claim that doesn't exist yet
        if phase == "Bound" or phase is None:
            self.client.mutate(PVS, "", pv_name, lambda o: o.setdefault("status", {}).update(
                {"phase": "Released", "lastPhaseTransitionTime": now()}), "status")
        policy = pv["spec"].get("persistentVolumeReclaimPolicy", "Retain")
        if policy == "Delete":
            self._remove_dir(pv)
            self.provisioner.delete(PVS, "", pv_name, uid=m["uid"])
        elif policy == "Recycle":
            self._remove_dir(pv, keep=True)
            self.client.mutate(PVS, "", pv_name, lambda o: o["spec"].pop("claimRef", None))
        return None

    def _remove_dir(self, pv: dict, keep: bool = False) -> None:
        path = ((pv["spec"].get("hostPath") or pv["spec"].get("local") or {}).get("path") or "")
        root = os.path.realpath(self.volumes_dir)
        if not path or not os.path.realpath(path).startswith(root + os.sep):
            return   # only directories the provisioner made
        if (pv["metadata"].get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            return
        shutil.rmtree(path, ignore_errors=True)
        if keep:
            os.makedirs(path, exist_ok=True)


class HostPathProvisioner(PersistentVolumeController):
    """The provisioner alone, as an external provisioner runs beside a real kube-controller-manager (which binds
    claims, protects them and marks volumes Released): it creates a volume for each claim that kube-controller-
    manager hands to ``sandbox.local/hostpath`` (annotation volume.kubernetes.io/storage-provisioner; for
    WaitForFirstConsumer once kube-scheduler has picked the node), pre-bound to the claim, and deletes the
    volumes it made when they are Released with reclaim policy Delete."""

    name = "hostpath-provisioner"
    user = "system:serviceaccount:kube-system:sandbox-hostpath-provisioner"
    manager = "sandbox-hostpath-provisioner"
    component = PROVISIONER

    def reconcile(self, ns: str, name: str):
        if not ns and name.startswith("pv:"):
            return self._volume(name[3:])
        pvc = self.client.get(PVCS, ns, name)
        if pvc is None or pvc["metadata"].get("deletionTimestamp") or pvc["spec"].get("volumeName"):
            return None
        ann = pvc["metadata"].get("annotations") or {}
        if ann.get("volume.kubernetes.io/storage-provisioner") != PROVISIONER:
            return None
        sc = self.client.get(SCS, "", pvc["spec"].get("storageClassName") or "")
        if sc is None or sc.get("provisioner") != PROVISIONER:
            return None
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not ann.get("volume.kubernetes.io/selected-node"):
            return None
        return self._provision(pvc, sc)

    def _bind(self, pvc: dict, pv: dict) -> None:
        """kube-controller-manager binds the claim to the pre-bound volume."""

    def _volume(self, pv_name: str):
        pv = self.client.get(PVS, "", pv_name)
        if pv is None or (pv["metadata"].get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") \
                != PROVISIONER or pv["metadata"].get("deletionTimestamp"):
            return None
        if (pv.get("status") or {}).get("phase") in ("Released", "Failed") and \
                pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            self._remove_dir(pv)
            self.provisioner.delete(PVS, "", pv_name, uid=pv["metadata"]["uid"])
        return None
