"""DaemonSet controller: one pod on each node that should run it (the template's nodeSelector and required node
affinity, its tolerations plus the DaemonSet's default ones against the node's taints), replaced on template
change; pods on nodes that no longer match are deleted. A ControllerRevision per template (history.py), so that
`kubectl rollout history|undo` work."""

from __future__ import annotations

import copy

from . import history
from .base import PODS, Controller, controller_ref, enqueue_owner, owned_by, pod_active, pod_ready
from .node import NODES
from .pods import ready_for
from .scheduling import matches_node, node_taints, untolerated

DS = ("apps", "daemonsets")
REV_LABEL = "controller-revision-hash"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"  # set by the API server's strategy
# the tolerations the DaemonSet controller adds to its pods (util.AddOrUpdateDaemonPodTolerations)
DEFAULT_TOLERATIONS = [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": e} for k, e in (
    ("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
    ("memory-pressure", "NoSchedule"), ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule"))]


def should_run(spec: dict, node: dict) -> bool:
    """The node matches the pod template's node selection and its taints are tolerated (nodeShouldRunDaemonPod;
    a DaemonSet pod ignores `unschedulable`)."""
    tolerations = (spec.get("tolerations") or []) + DEFAULT_TOLERATIONS
    return matches_node(spec, node) and untolerated(node_taints(node), tolerations) is None


class DaemonSetController(Controller):
    name = "daemonset"
    primary = DS
    watch_keys = (PODS, NODES, history.REVISIONS)

    def keys_for(self, ev):
        if ev.key == NODES:   # labels or taints may have changed: every DaemonSet looks again
            return [] if ev.type == "MODIFIED" and _selection(ev.obj) == _selection(ev.old) else \
                [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in self.client.list(DS)]
        return super().keys_for(ev) if ev.key == DS else enqueue_owner(ev.obj, "DaemonSet")

    def reconcile(self, ns: str, name: str):
        ds = self.client.get(DS, ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        current, revisions = history.sync(self.client, ds, REV_LABEL)
        rev = current["metadata"]["labels"][REV_LABEL]
        gen = int(ds["metadata"].get("generation", 1))
        template_gen = (ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION, "1")
        owned = [p for p in self.client.list(PODS, ns) if owned_by(p, ds["metadata"]["uid"])]
        pods = [p for p in owned if pod_active(p)]
        ondelete = (ds["spec"].get("updateStrategy") or {}).get("type") == "OnDelete"
        tpl_spec = (ds["spec"].get("template") or {}).get("spec") or {}
        wanted = [n["metadata"]["name"] for n in self.client.list(NODES) if should_run(tpl_spec, n)]
        on: dict[str, dict] = {}
        for p in pods:
            node = p["spec"].get("nodeName") or ""
            outdated = not ondelete and (p["metadata"].get("labels") or {}).get(REV_LABEL) != rev
            if node in on or node not in wanted or outdated:   # a duplicate, misscheduled or outdated pod
                self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
                self.recorder.normal(ds, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
            else:
                on[node] = p
        for node in wanted:
            if node not in on:
                on[node] = self._create_pod(ds, rev, template_gen, node)
        mine = list(on.values())
        # cleanupHistory: the revisions of pods still there (terminating ones too) are kept
        history.prune(self.client, ds, revisions, {current["metadata"]["name"]} | {
            f"{name}-{(p['metadata'].get('labels') or {}).get(REV_LABEL)}" for p in owned + mine})
        updated = sum(int((p["metadata"].get("labels") or {}).get(REV_LABEL) == rev) for p in mine)
        ready = sum(int(pod_ready(p)) for p in mine)
        available = sum(int(ready_for(p, int(ds["spec"].get("minReadySeconds") or 0))) for p in mine)
        desired = len(wanted)

        def change(o):
            o["status"] = {"currentNumberScheduled": len(mine), "desiredNumberScheduled": desired,
                           "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": available,
                           "numberUnavailable": desired - available,
                           "updatedNumberScheduled": updated, "observedGeneration": gen}
            for k in ("numberAvailable", "numberUnavailable"):
                if not o["status"][k]:
                    del o["status"][k]
        self.client.mutate(DS, ns, name, change, "status")
        return None

    def _create_pod(self, ds: dict, rev: str, template_gen: str, node: str) -> dict:
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        tpl = copy.deepcopy(ds["spec"].get("template") or {})
        m = tpl.get("metadata") or {}
        body = {"metadata": {"generateName": f"{name}-", "namespace": ns,
                             "labels": dict(m.get("labels") or {}, **{REV_LABEL: rev,
                                                                      "pod-template-generation": template_gen}),
                             "ownerReferences": [controller_ref(ds)]},
                "spec": dict(tpl.get("spec") or {}, nodeName=node)}
        if m.get("annotations"):
            body["metadata"]["annotations"] = m["annotations"]
        pod = self.client.create(PODS, ns, body)
        self.recorder.normal(ds, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        return pod


def _selection(node: dict | None):
    return None if node is None else (node["metadata"].get("labels"), (node.get("spec") or {}).get("taints"))
