"""DaemonSet controller for the sandbox's single node: one pod per DaemonSet, replaced on template change."""

from __future__ import annotations

import copy

from .apps import template_hash
from .base import NODE_NAME, PODS, Controller, controller_ref, enqueue_owner, owned_by, pod_active, pod_ready
from .pods import ready_for

DS = ("apps", "daemonsets")
REV_LABEL = "controller-revision-hash"


class DaemonSetController(Controller):
    name = "daemonset"
    primary = DS
    watch_keys = (PODS,)

    def keys_for(self, ev):
        return super().keys_for(ev) if ev.key == DS else enqueue_owner(ev.obj, "DaemonSet")

    def reconcile(self, ns: str, name: str):
        ds = self.client.get(DS, ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        rev = template_hash(ds["spec"].get("template") or {})
        gen = int(ds["metadata"].get("generation", 1))
        pods = [p for p in self.client.list(PODS, ns) if owned_by(p, ds["metadata"]["uid"]) and pod_active(p)]
        ondelete = (ds["spec"].get("updateStrategy") or {}).get("type") == "OnDelete"
        for p in pods[1:]:
            self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
            self.recorder.normal(ds, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
        pods = pods[:1]
        if pods and not ondelete and (pods[0]["metadata"].get("labels") or {}).get(REV_LABEL) != rev:
            p = pods.pop()
            self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
            self.recorder.normal(ds, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
        if not pods:
            tpl = copy.deepcopy(ds["spec"].get("template") or {})
            m = tpl.get("metadata") or {}
            body = {"metadata": {"generateName": f"{name}-", "namespace": ns,
                                 "labels": dict(m.get("labels") or {}, **{REV_LABEL: rev,
                                                                          "pod-template-generation": str(gen)}),
                                 "ownerReferences": [controller_ref(ds)]},
                    "spec": dict(tpl.get("spec") or {}, nodeName=NODE_NAME)}
            if m.get("annotations"):
                body["metadata"]["annotations"] = m["annotations"]
            pod = self.client.create(PODS, ns, body)
            self.recorder.normal(ds, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            pods = [pod]
        p = pods[0]
        updated = int((p["metadata"].get("labels") or {}).get(REV_LABEL) == rev)
        ready = int(pod_ready(p))
        available = int(ready_for(p, int(ds["spec"].get("minReadySeconds") or 0)))

        def change(o):
            o["status"] = {"currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0,
                           "numberReady": ready, "numberAvailable": available, "numberUnavailable": 1 - available,
                           "updatedNumberScheduled": updated, "observedGeneration": gen}
            for k in ("numberAvailable", "numberUnavailable"):
                if not o["status"][k]:
                    del o["status"][k]
        self.client.mutate(DS, ns, name, change, "status")
        return None
