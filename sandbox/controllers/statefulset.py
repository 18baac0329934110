"""StatefulSet controller: ordinal pods (OrderedReady or Parallel), volumeClaimTemplates, rolling updates
(highest ordinal first, partition), currentRevision/updateRevision naming ControllerRevisions (history.py)."""

from __future__ import annotations

import copy

from . import history
from .base import PODS, Controller, controller_ref, enqueue_owner, owned_by, pod_active, pod_ready
from .pods import ready_for

STS = ("apps", "statefulsets")
PVCS = ("", "persistentvolumeclaims")
REV_LABEL = "controller-revision-hash"   # on pods: the revision's name
HASH_LABEL = "controller.kubernetes.io/hash"  # on revisions (history.ControllerRevisionHashLabel)


def _ordinal(name: str, sts: str) -> int | None:
    suffix = name[len(sts) + 1:] if name.startswith(sts + "-") else ""
    return int(suffix) if suffix.isdigit() else None


class StatefulSetController(Controller):
    name = "statefulset"
    primary = STS
    watch_keys = (PODS, history.REVISIONS)

    def keys_for(self, ev):
        return super().keys_for(ev) if ev.key == STS else enqueue_owner(ev.obj, "StatefulSet")

    def reconcile(self, ns: str, name: str):  # noqa: PLR0912, PLR0915 - the steps of the StatefulSet controller's sync (ordinals, scale, rolling update, status) in its order
        sts = self.client.get(STS, ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        spec = sts["spec"]
        replicas = int(spec.get("replicas", 1))
        update, revisions = history.sync(self.client, sts, HASH_LABEL)
        update_rev = update["metadata"]["name"]
        status = sts.get("status") or {}
        current_rev = status.get("currentRevision") or update_rev
        uid = sts["metadata"]["uid"]
        pods = {}
        for p in self.client.list(PODS, ns):
            if owned_by(p, uid):
                i = _ordinal(p["metadata"]["name"], name)
                if i is not None:
                    pods[i] = p
        parallel = spec.get("podManagementPolicy") == "Parallel"
        # failed pods are recreated (once gone: a pod being deleted keeps its name until then)
        for i, p in list(pods.items()):
            if (p.get("status") or {}).get("phase") in ("Failed", "Succeeded") and \
                    not p["metadata"].get("deletionTimestamp"):
                self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
                left = self.client.get(PODS, ns, p["metadata"]["name"])
                if left is None or left["metadata"]["uid"] != p["metadata"]["uid"]:
                    del pods[i]
                else:
                    pods[i] = left
        acted = False
        for i in range(replicas):
            if i in pods:
                if not parallel and not pod_ready(pods[i]):
                    break
                continue
            rev = current_rev if i < int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {})
                                         .get("partition") or 0) else update_rev
            self._create_pod(sts, i, rev)
            acted = True
            if not parallel:
                break
        if not acted:
            extra = sorted((i for i in pods if i >= replicas), reverse=True)
            if extra and (parallel or all(pod_ready(pods[i]) for i in pods if i < replicas)):
                # OrderedReady: one at a time, the next once the previous is gone
                for i in extra if parallel else extra[:1]:
                    p = pods.pop(i)
                    if p["metadata"].get("deletionTimestamp"):
                        continue
                    self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
                    self.recorder.normal(sts, "SuccessfulDelete",
                                         f"delete Pod {p['metadata']['name']} in StatefulSet {name} successful")
                acted = True
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0)
        if not acted and strategy == "RollingUpdate" and len(pods) == replicas and \
                all(pod_ready(p) for p in pods.values()):
            for i in sorted(pods, reverse=True):
                if i < partition:
                    break
                p = pods[i]
                if (p["metadata"].get("labels") or {}).get(REV_LABEL) != update_rev:
                    self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
                    self.recorder.normal(sts, "SuccessfulDelete",
                                         f"delete Pod {p['metadata']['name']} in StatefulSet {name} successful")
                    pods.pop(i)
                    break
        live = [p for p in pods.values() if pod_active(p)]
        ready = sum(1 for p in live if pod_ready(p))
        available = sum(1 for p in live if ready_for(p, int(spec.get("minReadySeconds") or 0)))
        updated = sum(1 for p in live if (p["metadata"].get("labels") or {}).get(REV_LABEL) == update_rev)
        current = sum(1 for p in live if (p["metadata"].get("labels") or {}).get(REV_LABEL) == current_rev)
        if updated == replicas and ready == replicas and len(live) == replicas:
            current_rev, current = update_rev, updated
        gen = int(sts["metadata"].get("generation", 1))
        history.prune(self.client, sts, revisions, {current_rev, update_rev} | {
            (p["metadata"].get("labels") or {}).get(REV_LABEL) for p in pods.values()})

        def change(o):
            st = {"observedGeneration": gen, "replicas": len(live), "readyReplicas": ready,
                  "availableReplicas": available, "currentReplicas": current, "updatedReplicas": updated,
                  "currentRevision": current_rev, "updateRevision": update_rev, "collisionCount": 0}
            o["status"] = {k: v for k, v in st.items() if v != 0 or k in ("replicas", "observedGeneration",
                                                                          "availableReplicas", "collisionCount")}
        self.client.mutate(STS, ns, name, change, "status")
        return None

    def _create_pod(self, sts: dict, i: int, rev: str) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        tpl = copy.deepcopy(sts["spec"].get("template") or {})
        m = tpl.get("metadata") or {}
        pod_name = f"{name}-{i}"
        labels = dict(m.get("labels") or {}, **{REV_LABEL: rev, "statefulset.kubernetes.io/pod-name": pod_name,
                                                "apps.kubernetes.io/pod-index": str(i)})
        spec = tpl.get("spec") or {}
        spec.setdefault("hostname", pod_name)
        if sts["spec"].get("serviceName"):
            spec.setdefault("subdomain", sts["spec"]["serviceName"])
        vols = spec.setdefault("volumes", [])
        for vct in sts["spec"].get("volumeClaimTemplates") or []:
            cname = f"{vct['metadata']['name']}-{pod_name}"
            if self.client.get(PVCS, ns, cname) is None:
                claim = {"metadata": {"name": cname, "namespace": ns,
                                      "labels": dict((sts["spec"].get("selector") or {}).get("matchLabels") or {})},
                         "spec": copy.deepcopy(vct.get("spec") or {})}
                self.client.create(PVCS, ns, claim)
                self.recorder.normal(sts, "SuccessfulCreate",
                                     f"create Claim {cname} Pod {pod_name} in StatefulSet {name} success")
            if not any(v.get("name") == vct["metadata"]["name"] for v in vols):
                vols.append({"name": vct["metadata"]["name"], "persistentVolumeClaim": {"claimName": cname}})
        if not vols:
            spec.pop("volumes")
        body = {"metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                             "ownerReferences": [controller_ref(sts)]}, "spec": spec}
        if m.get("annotations"):
            body["metadata"]["annotations"] = m["annotations"]
        self.client.create(PODS, ns, body)
        self.recorder.normal(sts, "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {name} successful")
