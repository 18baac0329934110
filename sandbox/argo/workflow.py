"""The Workflow controller of the sandbox's Argo Workflows 3.5 (see docs/dev/argo.md).

Like upstream's operator, every reconcile walks the workflow's template tree from the entrypoint, finding the
nodes it made before in ``status.nodes`` (by node name -> `common.node_id`) and making the next ones: Steps /
StepGroup / DAG / Retry / Suspend / Skipped nodes in the status, and a pod per container, script and resource
node (run by `sandbox.argo.executor`, which reports outputs through a WorkflowTaskResult named after the node ID).
It acts only while a workflow-controller Deployment is Available (`common.is_controller_deployment`), honouring
its ``--namespaced --managed-namespace NS`` and ``--executor-image`` args.

Supported: parameters (value/default/enum), steps, dag (dependencies, depends), suspend (duration, or resumed by
setting the node Succeeded), templateRef (WorkflowTemplate / ClusterWorkflowTemplate), workflowTemplateRef,
when, withItems / withParam, retryStrategy (limit, retryPolicy, backoff), activeDeadlineSeconds (workflow and
template), onExit, parallelism (workflow and template), shutdown (Stop / Terminate), serviceAccountName,
volumes, volumeClaimTemplates (+ volumeClaimGC), podGC, ttlStrategy, Events. Not supported: artifacts,
``{{=expressions}}``, withSequence, memoization, synchronization, hooks, daemons, containerSet, http/plugin.
"""

from __future__ import annotations

import copy
import json
import logging
import time

from ..controllers.base import PODS, Controller, controller_ref, now, owned_by, parse_ts
from ..machinery.errors import ApiError
from . import common
from .execution import TemplateExecution
from .nodes import FAILED, FULFILLED, KIND_PLURAL, fulfilled, param_value
from .pods import PodAssessment, PodBuilding
from .template import TemplateError, to_str
from .validation import Validation

log = logging.getLogger("sandbox.argo.workflow")
PVCS = ("", "persistentvolumeclaims")
WF_PHASE = {"Pending": "Pending", "Running": "Running", "Succeeded": "Succeeded", "Skipped": "Succeeded",
            "Omitted": "Succeeded", "Failed": "Failed", "Error": "Error"}


class WorkflowController(Controller):
    name = "argo-workflow-controller"
    primary = common.WORKFLOWS
    watch_keys = (PODS, common.TASK_RESULTS, common.DEPLOYS, common.WORKFLOW_TEMPLATES,
                  common.CLUSTER_WORKFLOW_TEMPLATES)
    user = "system:serviceaccount:argo:argo"
    manager = "workflow-controller"
    component = "workflow-controller"
    settings = ("delay", "image_pull_grace", "outputs_grace")
    resync = 20.0

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        self.image_pull_grace = 3.0     # seconds a step may wait on ErrImagePull/ImagePullBackOff before Error
        self.outputs_grace = 2.0        # seconds to wait for the task result of a step that declares no outputs
        self.pull_waits: dict[str, float] = {}

    # -- which workflows an event concerns --
    def keys_for(self, ev):
        m = ev.obj["metadata"]
        ns = m.get("namespace", "")
        if ev.key == common.WORKFLOWS:
            yield ns, m["name"]
        elif ev.key in (PODS, common.TASK_RESULTS):
            wf = (m.get("labels") or {}).get(common.LABEL_WORKFLOW)
            if wf:
                yield ns, wf
        elif ev.key == common.DEPLOYS:
            if common.is_controller_deployment(ev.obj) or (ev.old is not None and
                                                           common.is_controller_deployment(ev.old)):
                was = ev.old is not None and common.deployment_available(ev.old)
                is_ = ev.type != "DELETED" and common.deployment_available(ev.obj)
                if was != is_ or ev.type != "MODIFIED":
                    yield from self._all()
        else:   # a (Cluster)WorkflowTemplate appeared: workflows still waiting for it
            for wf in self.client.list(common.WORKFLOWS):
                if not (wf.get("status") or {}).get("phase"):
                    yield wf["metadata"].get("namespace", ""), wf["metadata"]["name"]

    def _all(self):
        for o in self.client.list(common.WORKFLOWS):
            yield o["metadata"].get("namespace", ""), o["metadata"]["name"]

    def config_for(self, ns: str) -> common.ControllerConfig | None:
        return common.controller_for(self.client.list(common.DEPLOYS), ns)

    # -- reconcile --
    def reconcile(self, ns: str, name: str):
        wf = self.client.get(common.WORKFLOWS, ns, name)
        if wf is None or wf["metadata"].get("deletionTimestamp"):
            return None
        cfg = self.config_for(ns)
        if cfg is None:
            return None
        if (wf["metadata"].get("labels") or {}).get(common.LABEL_COMPLETED) == "true":
            return self._completed(wf)
        op = Operation(self, wf, cfg)
        again = op.operate()
        op.persist()
        return again

    def _completed(self, wf: dict):
        """Garbage collection of a finished workflow: pods (podGC), the workflow itself (ttlStrategy)."""
        ns, name = wf["metadata"]["namespace"], wf["metadata"]["name"]
        st, spec = wf.get("status") or {}, wf.get("spec") or {}
        phase = st.get("phase")
        pods = [p for p in self.client.list(PODS, ns) if owned_by(p, wf["metadata"]["uid"])]
        strategy = (spec.get("podGC") or {}).get("strategy")
        for p in pods:
            labels = p["metadata"].get("labels") or {}
            if labels.get(common.LABEL_COMPLETED) != "true" and p["status"].get("phase") in ("Succeeded", "Failed"):
                self.client.mutate(PODS, ns, p["metadata"]["name"], lambda o: o["metadata"].setdefault(
                    "labels", {}).__setitem__(common.LABEL_COMPLETED, "true"))
            pod_phase = p["status"].get("phase")
            collect = strategy == "OnWorkflowCompletion" or (strategy == "OnWorkflowSuccess" and phase == "Succeeded") \
                or (strategy == "OnPodCompletion" and pod_phase in ("Succeeded", "Failed")) \
                or (strategy == "OnPodSuccess" and pod_phase == "Succeeded")
            if collect and not p["metadata"].get("deletionTimestamp"):
                self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
        ttl = spec.get("ttlStrategy") or {}
        seconds = ttl.get("secondsAfterSuccess") if phase == "Succeeded" else \
            ttl.get("secondsAfterFailure") if phase in FAILED else None
        if seconds is None:
            seconds = ttl.get("secondsAfterCompletion")
        if seconds is None:
            return None
        finished = parse_ts(st.get("finishedAt")) or time.time()
        left = finished + int(seconds) - time.time()
        if left > 0:
            return left + 0.05
        self.client.delete(common.WORKFLOWS, ns, name, "Background", uid=wf["metadata"]["uid"])
        return None


class Operation(Validation, TemplateExecution, PodBuilding, PodAssessment):
    """One reconcile of one Workflow (upstream's wfOperationCtx): walks the templates, writes nodes and pods.

    Its parts by concern are mixins: `Validation` (validation.py), `TemplateExecution` (execution.py),
    `PodBuilding` and `PodAssessment` (pods.py)."""

    def __init__(self, ctrl: WorkflowController, wf: dict, cfg: common.ControllerConfig):
        self.ctrl, self.client, self.cfg = ctrl, ctrl.client, cfg
        self.wf = wf
        self.orig_status = wf.get("status") or {}
        self.status = copy.deepcopy(self.orig_status)
        self.nodes: dict = self.status.setdefault("nodes", {})
        self.ns, self.name, self.uid = wf["metadata"]["namespace"], wf["metadata"]["name"], wf["metadata"]["uid"]
        self.labels: dict = {}
        self.requeue: list[float] = []
        self.t = time.time()
        self.spec: dict = {}
        self.globals: dict = {}
        self.pods = {p["metadata"]["name"]: p for p in self.client.list(PODS, self.ns)
                     if owned_by(p, self.uid)}
        self.results = {r["metadata"]["name"]: r for r in self.client.list(common.TASK_RESULTS, self.ns)
                        if (r["metadata"].get("labels") or {}).get(common.LABEL_WORKFLOW) == self.name}
        self.events: list[tuple[str, str, str]] = []
        self.limits: dict[str, int] = {}

    # ------------------------------------------------------------------ nodes
    def nid(self, name: str) -> str:
        return common.node_id(self.name, name)

    def node(self, name: str) -> dict | None:
        return self.nodes.get(self.nid(name))

    def init_node(self, name: str, ntype: str, holder: dict, boundary: str, phase: str, message: str = "",
                  display: str | None = None) -> dict:
        n = {"id": self.nid(name), "name": name, "displayName": display or name, "type": ntype, "phase": phase,
             "startedAt": now()}
        if holder.get("templateRef"):
            n["templateRef"] = holder["templateRef"]
            n["templateScope"] = "local/" + self.name
        elif holder.get("template"):
            n["templateName"] = holder["template"]
            n["templateScope"] = "local/" + self.name
        if boundary:
            n["boundaryID"] = boundary
        if message:
            n["message"] = message
        if phase in FULFILLED:
            n["finishedAt"] = n["startedAt"]
        self.nodes[n["id"]] = n
        return n

    def mark(self, node: dict, phase: str, message: str | None = None) -> dict:
        node["phase"] = phase
        if message is not None:
            if message:
                node["message"] = message
            else:
                node.pop("message", None)
        if phase in FULFILLED and not node.get("finishedAt"):
            node["finishedAt"] = now()
        return node

    def add_child(self, parent: str, child: str) -> None:
        p = self.node(parent)
        cid = self.nid(child)
        if p is not None and cid in self.nodes and cid not in p.setdefault("children", []):
            p["children"].append(cid)

    def outbound(self, node: dict) -> list[str]:
        if node.get("type") in ("Steps", "DAG", "TaskGroup") and node.get("outboundNodes"):
            return list(node["outboundNodes"])
        if node.get("type") == "Retry" and node.get("children"):
            return [node["children"][-1]]
        return [node["id"]]

    # ------------------------------------------------------------------ spec, validation, globals
    def exec_spec(self) -> dict:
        """The spec to run: the workflow's, over its workflowTemplateRef's (kept in status once resolved)."""
        spec = copy.deepcopy(self.wf.get("spec") or {})
        ref = spec.get("workflowTemplateRef")
        if not ref:
            return spec
        stored = self.status.get("storedWorkflowTemplateSpec")
        if stored is None:
            key = common.CLUSTER_WORKFLOW_TEMPLATES if ref.get("clusterScope") else common.WORKFLOW_TEMPLATES
            tpl = self.client.get(key, "" if ref.get("clusterScope") else self.ns, ref.get("name", ""))
            if tpl is None:
                kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
                raise TemplateError(f'{KIND_PLURAL[kind]} "{ref.get("name")}" not found')
            stored = copy.deepcopy(tpl.get("spec") or {})
            self.status["storedWorkflowTemplateSpec"] = stored
        merged = copy.deepcopy(stored)
        for k, v in spec.items():
            if k == "arguments":
                mine = {p["name"]: p for p in (v or {}).get("parameters") or []}
                base = [mine.pop(p["name"], p) for p in (merged.get("arguments") or {}).get("parameters") or []]
                merged["arguments"] = {**(merged.get("arguments") or {}), **(v or {}),
                                       "parameters": base + list(mine.values())}
            elif k != "workflowTemplateRef":
                merged[k] = v
        return merged

    def arguments(self) -> dict[str, str]:
        out = {}
        for p in (self.spec.get("arguments") or {}).get("parameters") or []:
            v = param_value(p)
            prefix = f"spec.arguments.{p.get('name')}"
            if v is None:
                raise TemplateError(f"{prefix}.value is required")
            if p.get("enum") and v not in [to_str(e) for e in p["enum"]]:
                raise TemplateError(f"{prefix}.value should be present in {prefix}.enum list")
            out[p["name"]] = v
        return out

    def make_globals(self, args: dict[str, str]) -> None:
        m = self.wf["metadata"]
        g = {"workflow.name": self.name, "workflow.namespace": self.ns, "workflow.uid": self.uid,
             "workflow.serviceAccountName": self.spec.get("serviceAccountName") or "default",
             "workflow.creationTimestamp": m.get("creationTimestamp", ""),
             "workflow.mainEntrypoint": self.spec.get("entrypoint", ""),
             "workflow.status": self.status.get("phase") or "Running",
             "workflow.parameters": json.dumps([{"name": k, "value": v} for k, v in args.items()]),
             "workflow.labels": json.dumps(m.get("labels") or {}),
             "workflow.annotations": json.dumps(m.get("annotations") or {})}
        for k, v in args.items():
            g[f"workflow.parameters.{k}"] = v
        for k, v in (m.get("labels") or {}).items():
            g[f"workflow.labels.{k}"] = v
        for k, v in (m.get("annotations") or {}).items():
            g[f"workflow.annotations.{k}"] = v
        started = parse_ts(self.status.get("startedAt"))
        g["workflow.duration"] = f"{(self.t - started) if started else 0.0:f}"
        self.globals = g

    # ------------------------------------------------------------------ the workflow
    def operate(self) -> float | None:
        first = not self.status.get("phase")
        try:
            self.spec = self.exec_spec()
        except TemplateError as e:
            self.finish("Error", str(e))
            return None
        try:
            if first:
                self.validate()
            args = self.arguments()
        except TemplateError as e:
            self.finish("Failed", f"invalid spec: {e}")
            return None
        self.make_globals(args)
        if first:
            self.set_phase("Running")
            self.status["startedAt"] = now()
            try:
                self.create_pvcs()
            except ApiError as e:
                self.finish("Error", f"pvc create error: {e}")
                return None
        local = {t.get("name"): t for t in self.spec.get("templates") or []}
        root_args = {"parameters": [{"name": k, "value": v} for k, v in args.items()]}
        root = self.execute(self.name, {"template": self.spec.get("entrypoint")}, local, root_args, "")
        if root is None or not fulfilled(root):
            return self.next_requeue(1.0)
        wf_phase = WF_PHASE.get(root["phase"], "Failed")
        exit_node = None
        shutdown = (self.wf.get("spec") or {}).get("shutdown")
        if self.spec.get("onExit") and shutdown != "Terminate":
            self.globals["workflow.status"] = wf_phase
            self.globals["workflow.failures"] = json.dumps(self.failures())
            exit_node = self.execute(f"{self.name}.onExit", {"template": self.spec["onExit"]}, local,
                                     {"parameters": []}, "", display=f"{self.name}.onExit", on_exit=True)
            if exit_node is None or not fulfilled(exit_node):
                return self.next_requeue(1.0)
        message = root.get("message", "")
        if wf_phase in FAILED and shutdown:
            message = f"Stopped with strategy '{shutdown}'"
        if wf_phase == "Succeeded" and exit_node is not None and exit_node["phase"] in FAILED:
            wf_phase, message = exit_node["phase"], exit_node.get("message", "")
        if wf_phase in ("Succeeded", "Failed", "Error"):
            self.status["outputs"] = copy.deepcopy(root.get("outputs")) if root.get("outputs") else None
            if not self.status["outputs"]:
                self.status.pop("outputs")
            self.finish(wf_phase, message)
            return 0.0
        return self.next_requeue(1.0)

    def next_requeue(self, default: float) -> float:
        return max(0.05, min(self.requeue)) if self.requeue else default

    def failures(self) -> list[dict]:
        return [{"displayName": n.get("displayName"), "message": n.get("message", ""),
                 "templateName": n.get("templateName", ""), "phase": n["phase"],
                 "podName": common.pod_name(self.name, n["name"], n.get("templateName", "")),
                 "finishedAt": n.get("finishedAt")}
                for n in self.nodes.values() if n.get("phase") in FAILED]

    def set_phase(self, phase: str, message: str = "") -> None:
        if self.status.get("phase") != phase:
            self.status["phase"] = phase
            reason = {"Running": ("Normal", "WorkflowRunning", "Workflow Running"),
                      "Succeeded": ("Normal", "WorkflowSucceeded", "Workflow completed")}.get(
                phase, ("Warning", "WorkflowFailed", message))
            if phase != "Pending":
                self.events.append(reason)
        self.labels[common.LABEL_PHASE] = phase
        self.labels.setdefault(common.LABEL_COMPLETED, "false")
        if message:
            self.status["message"] = message
        else:
            self.status.pop("message", None)

    def finish(self, phase: str, message: str) -> None:
        self.set_phase(phase, message)
        self.status.setdefault("startedAt", now())
        self.status["finishedAt"] = now()
        self.labels[common.LABEL_COMPLETED] = "true"
        root = self.nodes.get(self.name)
        if phase == "Error" and root is not None and root.get("phase") == "Running":
            self.mark(root, "Error", "Workflow operation error")
        for p in list(self.pods.values()):
            if p["status"].get("phase") not in ("Succeeded", "Failed") and \
                    not p["metadata"].get("deletionTimestamp"):
                self.client.delete(PODS, self.ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
        gc = (self.spec.get("volumeClaimGC") or {}).get("strategy") or "OnWorkflowCompletion"
        if gc == "OnWorkflowCompletion" or (gc == "OnWorkflowSuccess" and phase == "Succeeded"):
            for claim in self.spec.get("volumeClaimTemplates") or []:
                self.client.delete(PVCS, self.ns, f"{self.name}-{claim['metadata']['name']}")

    def create_pvcs(self) -> None:
        vols = []
        for claim in self.spec.get("volumeClaimTemplates") or []:
            body = copy.deepcopy(claim)
            cname = body["metadata"]["name"]
            body["metadata"] = {**body["metadata"], "name": f"{self.name}-{cname}", "namespace": self.ns,
                                "ownerReferences": [controller_ref(self.wf)]}
            body.setdefault("apiVersion", "v1")
            body.setdefault("kind", "PersistentVolumeClaim")
            body.pop("status", None)
            try:
                self.client.create(PVCS, self.ns, body)
            except ApiError as e:
                if e.code != 409:
                    raise
            vols.append({"name": cname, "persistentVolumeClaim": {"claimName": f"{self.name}-{cname}"}})
        if vols:
            self.status["persistentVolumeClaims"] = vols

    # ------------------------------------------------------------------ writing
    def summarize(self) -> None:
        pods = [n for n in self.nodes.values() if n.get("type") == "Pod"]
        if pods:
            done = sum(1 for n in pods if n["phase"] == "Succeeded")
            self.status["progress"] = f"{done}/{len(pods)}"
        elif self.status.get("phase"):
            self.status["progress"] = "0/0"
        conds = [c for c in self.status.get("conditions") or [] if c.get("type") not in ("PodRunning", "Completed")]
        if self.status.get("phase") and self.status["phase"] != "Pending":
            running = any(n["phase"] == "Running" for n in pods)
            conds.append({"type": "PodRunning", "status": "True" if running else "False"})
        if self.labels.get(common.LABEL_COMPLETED) == "true":
            conds.append({"type": "Completed", "status": "True"})
        if conds:
            self.status["conditions"] = conds
        if not self.nodes:
            self.status.pop("nodes", None)

    def persist(self) -> None:
        self.summarize()
        status, labels, uid = self.status, dict(self.labels), self.uid

        def change(o):
            if o["metadata"]["uid"] != uid:
                return False
            o["status"] = copy.deepcopy(status)
            o["metadata"]["labels"] = {**(o["metadata"].get("labels") or {}), **labels}
            return None
        out = self.client.mutate(common.WORKFLOWS, self.ns, self.name, change)
        kind = self.client.kind(common.WORKFLOWS)
        if kind.has_status:
            out = self.client.mutate(common.WORKFLOWS, self.ns, self.name, change, "status") or out
        target = out or self.wf
        for etype, reason, message in self.events:
            self.ctrl.recorder.event(target, etype, reason, message)
        self.node_events(target)

    def node_events(self, target: dict) -> None:
        old = self.orig_status.get("nodes") or {}
        for nid, n in self.nodes.items():
            prev = (old.get(nid) or {}).get("phase")
            ph = n.get("phase")
            if prev == ph or n.get("type") in ("StepGroup", "TaskGroup", "Skipped"):
                continue
            if ph in ("Succeeded", "Failed", "Error") and prev in (None, "Pending"):
                self.node_event(target, n, "Running")
            if ph in ("Running", "Succeeded", "Failed", "Error"):
                self.node_event(target, n, ph)

    def node_event(self, target: dict, n: dict, phase: str) -> None:
        message = f"{phase} node {n['name']}"
        if n.get("message") and phase != "Running":
            message += f": {n['message']}"
        self.ctrl.recorder.event(target, "Normal" if phase in ("Running", "Succeeded") else "Warning",
                                 f"WorkflowNode{phase}", message)
