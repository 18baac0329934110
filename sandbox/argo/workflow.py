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
from .template import (
    TemplateError,
    depends_tasks,
    evaluate_bool,
    expand_depends,
    item_scope,
    references,
    substitute,
    task_results,
    to_str,
)

log = logging.getLogger("sandbox.argo.workflow")
PVCS = ("", "persistentvolumeclaims")
FULFILLED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
FAILED = ("Failed", "Error")
LEAF = ("container", "script", "resource")
IMAGE_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
WF_PHASE = {"Pending": "Pending", "Running": "Running", "Succeeded": "Succeeded", "Skipped": "Succeeded",
            "Omitted": "Succeeded", "Failed": "Failed", "Error": "Error"}
KIND_PLURAL = {"WorkflowTemplate": "workflowtemplates.argoproj.io",
               "ClusterWorkflowTemplate": "clusterworkflowtemplates.argoproj.io"}


def fulfilled(node: dict | None) -> bool:
    return bool(node) and node.get("phase") in FULFILLED


def duration_seconds(v) -> float:
    """Argo durations: a number of seconds or a Go duration like ``30s``, ``2m``, ``1h30m``."""
    if v is None or v == "":
        return 0.0
    if isinstance(v, (int, float)):
        return float(v)
    s, total, num = str(v).strip(), 0.0, ""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if s.startswith("ms", i) else ch
        if unit not in units or not num:
            raise ValueError(f"invalid duration {v!r}")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    return total + (float(num) if num else 0.0)


def param_value(p: dict) -> str | None:
    if p.get("value") is not None:
        return to_str(p["value"])
    vf = p.get("valueFrom") or {}
    if vf.get("default") is not None:
        return to_str(vf["default"])
    if p.get("default") is not None:
        return to_str(p["default"])
    return None


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


class Operation:
    """One reconcile of one Workflow (upstream's wfOperationCtx): walks the templates, writes nodes and pods."""

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

    def validate(self) -> None:
        """Upstream's one-time validation (messages as upstream's, without the "invalid spec: " prefix)."""
        spec = self.spec
        entry = spec.get("entrypoint")
        if not entry:
            raise TemplateError("spec.entrypoint is required")
        local = {t.get("name"): t for t in spec.get("templates") or []}
        for holder in ({"template": entry}, {"template": spec.get("onExit")}):
            if holder["template"]:
                tmpl = self.check_holder(holder, local, "", args=(spec.get("arguments") or {}))
                self.check_template(tmpl, local)
        strategy = (spec.get("podGC") or {}).get("strategy")
        if strategy and strategy not in ("OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion",
                                         "OnWorkflowSuccess"):
            raise TemplateError(f"podGC.strategy unknown strategy '{strategy}'")
        for name, tmpl in local.items():
            try:
                self.check_template(tmpl, local)
            except TemplateError as e:
                raise TemplateError(f"templates.{name} {e}") from None

    def check_holder(self, holder: dict, templates: dict, prefix: str, args: dict | None = None) -> dict:
        try:
            tmpl, _ = self.resolve(holder, templates)
        except TemplateError as e:
            raise TemplateError(f"{prefix}{e}") from None
        if args is not None:
            given = {p.get("name") for p in args.get("parameters") or []}
            for ip in (tmpl.get("inputs") or {}).get("parameters") or []:
                if ip.get("name") not in given and ip.get("value") is None and ip.get("default") is None:
                    raise TemplateError(f"{prefix}templates.{tmpl.get('name')} inputs.parameters."
                                        f"{ip.get('name')} was not supplied")
        return tmpl

    def check_template(self, tmpl: dict, templates: dict) -> None:
        kinds = [k for k in ("container", "script", "resource", "steps", "dag", "suspend") if k in tmpl]
        if not kinds:
            raise TemplateError("template type unspecified. choose one of: container, containerSet, steps, "
                                "script, resource, dag, suspend, template, template ref")
        if len(kinds) > 1:
            raise TemplateError("multiple template types specified. choose one of: container, containerSet, "
                                "steps, script, resource, dag, suspend, template, template ref")
        name = tmpl.get("name")
        for i, group in enumerate(tmpl.get("steps") or []):
            for step in group if isinstance(group, list) else (group or {}).get("steps") or []:
                holder = step if step.get("templateRef") or step.get("inline") else {"template": step.get("template")}
                self.check_holder(holder, templates, f"templates.{name}.steps[{i}].{step.get('name')} ",
                                  args=step.get("arguments") or {})
        tasks = {t.get("name"): t for t in (tmpl.get("dag") or {}).get("tasks") or []}
        if "dag" in tmpl and not tasks:
            raise TemplateError("must have at least one task")
        for tname, task in tasks.items():
            holder = task if task.get("templateRef") or task.get("inline") else {"template": task.get("template")}
            self.check_holder(holder, templates, f"templates.{name}.tasks.{tname} ", args=task.get("arguments") or {})
            deps = depends_tasks(task["depends"]) if task.get("depends") else task.get("dependencies") or []
            for d in deps:
                if d not in tasks:
                    raise TemplateError(f"templates.{name}.tasks.{tname} dependency '{d}' not defined")
        if any(k in tmpl for k in LEAF):
            declared = {f"inputs.parameters.{p.get('name')}" for p in (tmpl.get("inputs") or {}).get("parameters")
                        or []}
            body = {k: tmpl.get(k) for k in (*LEAF, "volumes", "metadata")}
            for ref in references(body):
                if ref.startswith("inputs.") and ref not in declared:
                    raise TemplateError(f"templates.{name}: failed to resolve {{{{{ref}}}}}")

    # ------------------------------------------------------------------ template resolution
    def resolve(self, holder: dict, templates: dict) -> tuple[dict, dict]:
        """(template, the templates its own references resolve in) of a step/task/entrypoint."""
        if holder.get("inline"):
            return copy.deepcopy(holder["inline"]), templates
        ref = holder.get("templateRef")
        if ref:
            cluster = bool(ref.get("clusterScope"))
            key = common.CLUSTER_WORKFLOW_TEMPLATES if cluster else common.WORKFLOW_TEMPLATES
            kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
            obj = self.client.get(key, "" if cluster else self.ns, ref.get("name", ""))
            if obj is None:
                raise TemplateError(f'{KIND_PLURAL[kind]} "{ref.get("name")}" not found')
            found = {t.get("name"): t for t in (obj.get("spec") or {}).get("templates") or []}
            if ref.get("template") not in found:
                raise TemplateError(f"template reference {ref.get('name')}.{ref.get('template')} not found")
            return copy.deepcopy(found[ref["template"]]), found
        name = holder.get("template")
        if name not in templates:
            raise TemplateError(f"template name '{name}' undefined")
        return copy.deepcopy(templates[name]), templates

    def process_inputs(self, tmpl: dict, args: dict) -> tuple[dict, dict]:
        """The template with its input parameters' values set, and the local scope (globals + inputs)."""
        given = {p.get("name"): p for p in (args or {}).get("parameters") or []}
        scope = dict(self.globals)
        params = []
        for ip in (tmpl.get("inputs") or {}).get("parameters") or []:
            v = to_str(ip["default"]) if ip.get("default") is not None else None
            if ip.get("value") is not None:
                v = to_str(ip["value"])
            if ip.get("name") in given and param_value(given[ip["name"]]) is not None:
                v = param_value(given[ip["name"]])
            if v is None:
                raise TemplateError(f"inputs.parameters.{ip.get('name')} was not supplied")
            if ip.get("enum") and v not in [to_str(e) for e in ip["enum"]]:
                raise TemplateError(f"inputs.parameters.{ip['name']} value {v!r} is not in the enum list")
            params.append({**{k: x for k, x in ip.items() if k != "default"}, "value": v})
            scope[f"inputs.parameters.{ip['name']}"] = v
        if params:
            tmpl.setdefault("inputs", {})["parameters"] = params
            scope["inputs.parameters"] = json.dumps([{"name": p["name"], "value": p["value"]} for p in params])
        body = {k: v for k, v in tmpl.items() if k not in ("steps", "dag", "outputs")}
        tmpl.update(substitute(body, scope, strict=False))
        return tmpl, scope

    # ------------------------------------------------------------------ execution
    def execute(self, name: str, holder: dict, templates: dict, args: dict, boundary: str,
                display: str | None = None, on_exit: bool = False, retry_child: bool = False) -> dict | None:
        node = self.node(name)
        if fulfilled(node):
            return node
        try:
            tmpl, tctx = self.resolve(holder, templates)
            tmpl, scope = self.process_inputs(tmpl, args)
        except TemplateError as e:
            return self.error_node(node, name, holder, boundary, str(e), display)
        if node is None:
            stop = self.stop_reason(on_exit)
            if stop:
                return self.init_node(name, "Skipped" if not any(k in tmpl for k in LEAF) else "Pod", holder,
                                      boundary, "Failed", stop, display)
            if not retry_child and not self.may_start(boundary):
                return None
        retry = tmpl.get("retryStrategy") or self.spec.get("retryStrategy")
        if retry and not retry_child:
            return self.execute_retry(name, holder, tmpl, tctx, args, boundary, retry, display, on_exit)
        if "steps" in tmpl:
            return self.execute_steps(name, holder, tmpl, tctx, scope, boundary, display, on_exit)
        if "dag" in tmpl:
            return self.execute_dag(name, holder, tmpl, tctx, scope, boundary, display, on_exit)
        if "suspend" in tmpl:
            return self.execute_suspend(name, holder, tmpl, boundary, display)
        if any(k in tmpl for k in LEAF):
            return self.execute_pod(name, holder, tmpl, scope, boundary, display, on_exit)
        return self.error_node(node, name, holder, boundary, f"template '{tmpl.get('name')}' has no type", display)

    def error_node(self, node, name, holder, boundary, message, display=None) -> dict:
        if node is None:
            return self.init_node(name, "Skipped", holder, boundary, "Error", message, display)
        return self.mark(node, "Error", message)

    def stop_reason(self, on_exit: bool) -> str | None:
        shutdown = (self.wf.get("spec") or {}).get("shutdown")
        if shutdown == "Terminate" or (shutdown == "Stop" and not on_exit):
            return f"Stopped with strategy '{shutdown}'"
        if not on_exit and self.deadline_passed():
            return "Step exceeded its deadline"
        return None

    def deadline_passed(self) -> bool:
        ads = self.spec.get("activeDeadlineSeconds")
        started = parse_ts(self.status.get("startedAt"))
        if ads is None or started is None:
            return False
        left = started + int(ads) - self.t
        if left > 0:
            self.requeue.append(left + 0.05)
        return left <= 0

    def active_in(self, boundary: str) -> int:
        return sum(1 for n in self.nodes.values() if n.get("boundaryID") == boundary and not fulfilled(n)
                   and n.get("type") not in ("StepGroup", "TaskGroup"))

    def may_start(self, boundary: str) -> bool:
        limit = self.spec.get("parallelism")
        if limit is not None and sum(1 for n in self.nodes.values() if n.get("type") == "Pod"
                                     and not fulfilled(n)) >= int(limit):
            return False
        return not (boundary in self.limits and self.active_in(boundary) >= self.limits[boundary])

    def inputs_of(self, tmpl: dict) -> dict | None:
        params = (tmpl.get("inputs") or {}).get("parameters")
        return {"parameters": [{"name": p["name"], "value": p["value"]} for p in params]} if params else None

    # -- retries --
    def execute_retry(self, name, holder, tmpl, tctx, args, boundary, retry, display, on_exit):
        node = self.node(name) or self.init_node(name, "Retry", holder, boundary, "Running", display=display)
        if self.inputs_of(tmpl):
            node["inputs"] = self.inputs_of(tmpl)
        kids = [self.nodes[c] for c in node.get("children") or [] if c in self.nodes]
        last = kids[-1] if kids else None
        if last is not None and not fulfilled(last):
            self.execute(last["name"], holder, tctx, args, boundary, last.get("displayName"), on_exit, True)
        if last is not None and not fulfilled(last):
            return node
        if last is not None:
            if last["phase"] not in FAILED:
                if last.get("outputs"):
                    node["outputs"] = copy.deepcopy(last["outputs"])
                return self.mark(node, last["phase"], "")
            policy = retry.get("retryPolicy") or "OnFailure"
            wanted = policy == "Always" or (policy == "OnFailure" and last["phase"] == "Failed") or \
                (policy == "OnError" and last["phase"] == "Error")
            if not wanted:
                return self.mark(node, last["phase"], last.get("message", ""))
            stop = self.stop_reason(on_exit)
            if stop:
                return self.mark(node, last["phase"], stop)
            limit = retry.get("limit")
            if limit is not None and len(kids) > int(limit):
                return self.mark(node, last["phase"], "No more retries left")
            backoff = retry.get("backoff") or {}
            if backoff:
                first = parse_ts(kids[0].get("startedAt")) or self.t
                if backoff.get("maxDuration") and self.t > first + duration_seconds(backoff["maxDuration"]):
                    return self.mark(node, last["phase"], "Max duration limit exceeded")
                wait = duration_seconds(backoff.get("duration")) * float(backoff.get("factor") or 1) ** (len(kids) - 1)
                left = (parse_ts(last.get("finishedAt")) or self.t) + wait - self.t
                if left > 0:
                    self.requeue.append(left + 0.05)
                    return node
        child = f"{name}({len(kids)})"
        self.globals["retries"] = str(len(kids))
        made = self.execute(child, holder, tctx, args, boundary, f"{display or name}({len(kids)})", on_exit, True)
        self.globals.pop("retries", None)
        if made is not None:
            self.add_child(name, child)
        return node

    # -- suspend --
    def execute_suspend(self, name, holder, tmpl, boundary, display):
        node = self.node(name) or self.init_node(name, "Suspend", holder, boundary, "Running", display=display)
        if self.inputs_of(tmpl):
            node["inputs"] = self.inputs_of(tmpl)
        stop = self.stop_reason(False)
        if stop:
            return self.mark(node, "Failed", stop)
        dur = (tmpl.get("suspend") or {}).get("duration")
        if dur not in (None, ""):
            try:
                left = (parse_ts(node.get("startedAt")) or self.t) + duration_seconds(dur) - self.t
            except ValueError as e:
                return self.mark(node, "Error", str(e))
            if left <= 0:
                return self.mark(node, "Succeeded")
            self.requeue.append(left + 0.05)
        return node

    # -- steps --
    def execute_steps(self, name, holder, tmpl, tctx, scope, boundary, display, on_exit):
        node = self.node(name) or self.init_node(name, "Steps", holder, boundary, "Running", display=display)
        if self.inputs_of(tmpl):
            node["inputs"] = self.inputs_of(tmpl)
        if tmpl.get("parallelism") is not None:
            self.limits[node["id"]] = int(tmpl["parallelism"])
        last_sg = None
        for i, group in enumerate(tmpl.get("steps") or []):
            steps = group if isinstance(group, list) else (group or {}).get("steps") or []
            sg_name = f"{name}[{i}]"
            if self.node(sg_name) is None:
                self.init_node(sg_name, "StepGroup", {}, node["id"], "Running", display=f"[{i}]")
            if last_sg is None:
                self.add_child(name, sg_name)
            else:
                prev = self.node(last_sg)
                if not prev.get("children"):
                    self.add_child(last_sg, sg_name)
                for cid in list(prev.get("children") or []):
                    for out in self.outbound(self.nodes[cid]):
                        self.add_child(self.nodes[out]["name"], sg_name)
            last_sg = sg_name
            sg = self.execute_step_group(steps, sg_name, scope, tctx, node["id"], on_exit)
            if not fulfilled(sg):
                return node
            if sg["phase"] in FAILED:
                node["outboundNodes"] = self.group_outbound(sg)
                return self.mark(node, "Failed", sg.get("message", ""))
            for step in steps:
                self.add_scope(scope, f"steps.{step['name']}", f"{sg_name}.{step['name']}", node["id"])
        if last_sg is not None:
            node["outboundNodes"] = self.group_outbound(self.node(last_sg))
        return self.finish_with_outputs(node, tmpl, scope)

    def group_outbound(self, sg: dict) -> list[str]:
        out = []
        for cid in sg.get("children") or []:
            out += self.outbound(self.nodes[cid])
        return out or [sg["id"]]

    def finish_with_outputs(self, node: dict, tmpl: dict, scope: dict) -> dict:
        params = []
        try:
            for p in (tmpl.get("outputs") or {}).get("parameters") or []:
                vf = p.get("valueFrom") or {}
                if vf.get("parameter") is not None:
                    value = substitute(vf["parameter"], scope)
                elif p.get("value") is not None:
                    value = substitute(to_str(p["value"]), scope)
                elif vf.get("default") is not None:
                    value = to_str(vf["default"])
                else:
                    continue
                params.append({"name": p["name"], "value": value})
        except TemplateError as e:
            return self.mark(node, "Error", str(e))
        if params:
            node["outputs"] = {"parameters": params}
        return self.mark(node, "Succeeded")

    def add_scope(self, scope: dict, prefix: str, child_name: str, boundary: str) -> None:
        child = self.node(child_name)
        if child is not None:
            scope[f"{prefix}.status"] = child["phase"]
            scope[f"{prefix}.id"] = child["id"]
            out = child.get("outputs") or {}
            for p in out.get("parameters") or []:
                scope[f"{prefix}.outputs.parameters.{p['name']}"] = to_str(p.get("value", ""))
            if "result" in out:
                scope[f"{prefix}.outputs.result"] = out["result"]
            if "exitCode" in out:
                scope[f"{prefix}.outputs.exitCode"] = out["exitCode"]
            return
        kids = sorted((n for n in self.nodes.values() if n.get("boundaryID") == boundary
                       and n["name"].startswith(child_name + "(") and n.get("type") != "Skipped"),
                      key=lambda n: int(n["name"][len(child_name) + 1:].split(":", 1)[0].rstrip(")") or 0))
        if not kids:
            return
        params = [{p["name"]: to_str(p.get("value", "")) for p in (k.get("outputs") or {}).get("parameters") or []}
                  for k in kids]
        scope[f"{prefix}.outputs.parameters"] = json.dumps(params, separators=(",", ":"))
        results = [(k.get("outputs") or {}).get("result") for k in kids]
        if any(r is not None for r in results):
            scope[f"{prefix}.outputs.result"] = json.dumps(results, separators=(",", ":"))

    @staticmethod
    def resolve_refs(step: dict, scope: dict) -> dict:
        """A step/task with the references of its arguments and `when` resolved (strictly)."""
        out = {k: v for k, v in step.items() if k not in ("withItems", "withParam", "dependencies", "depends")}
        for k in ("arguments", "when"):
            if k in out:
                out[k] = substitute(out[k], scope)
        return out

    def expand(self, item_holder: dict, name: str, scope: dict) -> list[tuple[str, dict, str]] | None:
        """[(node name suffix, the step/task with references resolved, display name)]; None: no loop."""
        if "withItems" not in item_holder and "withParam" not in item_holder:
            return None
        if "withItems" in item_holder:
            items = substitute(item_holder["withItems"], scope)
        else:
            raw = substitute(item_holder["withParam"], scope)
            try:
                items = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError as e:
                raise TemplateError(f"withParam value could not be parsed as a JSON list: {raw}") from e
            if not isinstance(items, list):
                raise TemplateError(f"withParam value could not be parsed as a JSON list: {raw}")
        out = []
        for i, item in enumerate(items):
            label = ",".join(f"{k}:{to_str(v)}" for k, v in sorted(item.items())) if isinstance(item, dict) \
                else to_str(item)
            resolved = self.resolve_refs(item_holder, {**scope, **item_scope(item)})
            out.append((f"{name}({i}:{label})", resolved, f"{name}({i}:{label})"))
        return out

    def execute_step_group(self, steps, sg_name, scope, tctx, boundary, on_exit) -> dict:
        sg = self.node(sg_name)
        if fulfilled(sg):
            return sg
        waiting = False
        for step in steps:
            child_name = f"{sg_name}.{step['name']}"
            try:
                expanded = self.expand(step, step["name"], scope)
                runs = [(child_name, self.resolve_refs(step, scope), step["name"])] if expanded is None else \
                    [(f"{sg_name}.{suffix}", s, disp) for suffix, s, disp in expanded]
            except TemplateError as e:
                self.error_node(self.node(child_name), child_name, step, boundary, str(e), step["name"])
                self.add_child(sg_name, child_name)
                return self.mark(sg, "Error", str(e))
            if expanded == [] and self.node(child_name) is None:
                self.init_node(child_name, "Skipped", step, boundary, "Skipped", "Skipped, empty params",
                               step["name"])
                self.add_child(sg_name, child_name)
            for run_name, s, disp in runs:
                if self.node(run_name) is None and s.get("when"):
                    try:
                        go = evaluate_bool(s["when"])
                    except TemplateError as e:
                        self.error_node(None, run_name, s, boundary, str(e), disp)
                        self.add_child(sg_name, run_name)
                        return self.mark(sg, "Error", str(e))
                    if not go:
                        self.init_node(run_name, "Skipped", s, boundary, "Skipped",
                                       f"when '{s['when']}' evaluated false", disp)
                        self.add_child(sg_name, run_name)
                        continue
                holder = s if s.get("templateRef") or s.get("inline") else {"template": s.get("template")}
                child = self.execute(run_name, holder, tctx, s.get("arguments") or {}, boundary, disp, on_exit)
                if child is None:
                    waiting = True
                else:
                    self.add_child(sg_name, run_name)
        if waiting:
            return sg
        kids = [self.nodes[c] for c in sg.get("children") or [] if c in self.nodes]
        if not all(fulfilled(k) for k in kids):
            return sg
        by_name = {s["name"]: s for s in steps}
        for k in kids:
            step = by_name.get(k["displayName"].split("(", 1)[0]) or {}
            if k["phase"] in FAILED and not self.continues(step, k["phase"]):
                return self.mark(sg, "Failed", f"child '{k['id']}' failed")
        return self.mark(sg, "Succeeded")

    @staticmethod
    def continues(step: dict, phase: str) -> bool:
        c = step.get("continueOn") or {}
        return bool(c.get("failed") if phase == "Failed" else c.get("error"))

    # -- dag --
    def execute_dag(self, name, holder, tmpl, tctx, scope, boundary, display, on_exit):
        node = self.node(name) or self.init_node(name, "DAG", holder, boundary, "Running", display=display)
        if self.inputs_of(tmpl):
            node["inputs"] = self.inputs_of(tmpl)
        if tmpl.get("parallelism") is not None:
            self.limits[node["id"]] = int(tmpl["parallelism"])
        tasks = {t["name"]: t for t in (tmpl.get("dag") or {}).get("tasks") or []}

        def deps(t):
            return depends_tasks(t["depends"]) if t.get("depends") else list(t.get("dependencies") or [])
        needed = {d for t in tasks.values() for d in deps(t)}
        target = (tmpl.get("dag") or {}).get("target")
        targets = target.split() if target else [t for t in tasks if t not in needed]
        visited: set[str] = set()

        def task_node(tname):
            return self.node(f"{name}.{tname}")

        def logic(t):
            if t.get("depends"):
                return expand_depends(t["depends"])
            parts = []
            for d in deps(t):
                c = tasks.get(d, {}).get("continueOn") or {}
                extra = (" || " + d + ".Failed" if c.get("failed") else "") + \
                    (" || " + d + ".Errored" if c.get("error") else "")
                parts.append(f"({d}.Succeeded || {d}.Skipped || {d}.Daemoned{extra})")
            return " && ".join(parts)

        def connect(tnode_name, t):
            ds = deps(t)
            if not ds:
                self.add_child(name, tnode_name)
            for d in ds:
                dn = task_node(d)
                for out in self.outbound(dn) if dn else []:
                    self.add_child(self.nodes[out]["name"], tnode_name)

        def run(tname):
            if tname in visited or tname not in tasks:
                return
            visited.add(tname)
            t = tasks[tname]
            tnode_name = f"{name}.{tname}"
            n = task_node(tname)
            if fulfilled(n):
                return
            for d in deps(t):
                run(d)
            if n is None and deps(t):
                dnodes = {d: task_node(d) for d in deps(t)}
                if not all(fulfilled(x) for x in dnodes.values()):
                    return
                variables = {}
                for d, dn in dnodes.items():
                    kids = [self.nodes[c]["phase"] for c in dn.get("children") or [] if c in self.nodes] \
                        if dn.get("type") == "TaskGroup" else []
                    variables.update(task_results(d, dn["phase"], kids))
                try:
                    go = evaluate_bool(logic(t), variables)
                except TemplateError as e:
                    self.init_node(tnode_name, "Skipped", t, node["id"], "Error", str(e), tname)
                    connect(tnode_name, t)
                    return
                if not go:
                    self.init_node(tnode_name, "Skipped", t, node["id"], "Omitted",
                                   "omitted: depends condition not met", tname)
                    connect(tnode_name, t)
                    return
            local = dict(scope)
            for other in tasks:
                self.add_scope(local, f"tasks.{other}", f"{name}.{other}", node["id"])
            try:
                expanded = self.expand(t, tname, local)
                runs = [(tnode_name, self.resolve_refs(t, local), tname)] if expanded is None else \
                    [(f"{name}.{suffix}", s, disp) for suffix, s, disp in expanded]
            except TemplateError as e:
                self.error_node(n, tnode_name, t, node["id"], str(e), tname)
                connect(tnode_name, t)
                return
            if expanded is not None:
                if not expanded:
                    if n is None:
                        self.init_node(tnode_name, "Skipped", t, node["id"], "Skipped", "Skipped, empty params",
                                       tname)
                        connect(tnode_name, t)
                    return
                if n is None:
                    n = self.init_node(tnode_name, "TaskGroup", t, node["id"], "Running", display=tname)
                    connect(tnode_name, t)
            for run_name, s, disp in runs:
                child = None
                if self.node(run_name) is None and s.get("when"):
                    try:
                        if not evaluate_bool(s["when"]):
                            child = self.init_node(run_name, "Skipped", s, node["id"], "Skipped",
                                                   f"when '{s['when']}' evaluated false", disp)
                    except TemplateError as e:
                        child = self.init_node(run_name, "Skipped", s, node["id"], "Error", str(e), disp)
                if child is None:
                    h = s if s.get("templateRef") or s.get("inline") else {"template": s.get("template")}
                    child = self.execute(run_name, h, tctx, s.get("arguments") or {}, node["id"], disp, on_exit)
                if child is not None:
                    if expanded is None:
                        connect(run_name, t)
                    else:
                        self.add_child(tnode_name, run_name)
            if expanded is not None:
                kids = [self.nodes[c] for c in n.get("children") or [] if c in self.nodes]
                if len(kids) == len(runs) and all(fulfilled(k) for k in kids):
                    bad = [k for k in kids if k["phase"] in FAILED]
                    self.mark(n, bad[-1]["phase"] if bad else "Succeeded")
                    n["outboundNodes"] = [o for k in kids for o in self.outbound(k)]

        for tname in targets:
            run(tname)
        phase, culprit = self.dag_phase(tasks, targets, task_node, deps)
        if phase is None:
            return node
        node["outboundNodes"] = [o for tn in targets if task_node(tn) for o in self.outbound(task_node(tn))]
        if phase in FAILED:
            return self.mark(node, phase, f"child '{culprit}' failed" if culprit else "")
        local = dict(scope)
        for other in tasks:
            self.add_scope(local, f"tasks.{other}", f"{name}.{other}", node["id"])
        return self.finish_with_outputs(node, tmpl, local)

    def dag_phase(self, tasks, targets, task_node, deps) -> tuple[str | None, str | None]:
        """(phase or None while running, the ID of the node that failed it)."""
        for tname in tasks:
            n = task_node(tname)
            if n is not None and not fulfilled(n):
                return None, None
        memo: dict[str, tuple[str, str | None]] = {}

        def branch(tname) -> tuple[str, str | None]:
            if tname in memo:
                return memo[tname]
            n = task_node(tname)
            if n is None:
                result: tuple[str, str | None] = ("Running", None)
            elif n["phase"] == "Omitted":
                result = ("Succeeded", None)
                for d in deps(tasks.get(tname, {})):
                    ph, who = branch(d)
                    if ph in FAILED or ph == "Running":
                        result = (ph, who)
                        break
            else:
                result = (n["phase"], n["id"])
            memo[tname] = result
            return result
        worst: tuple[str, str | None] = ("Succeeded", None)
        for tname in targets:
            ph, who = branch(tname)
            if ph == "Running":
                return None, None
            if ph in FAILED and not self.continues(tasks.get(tname, {}), ph) and worst[0] not in FAILED:
                worst = (ph, who)
        return worst

    # -- pods --
    def execute_pod(self, name, holder, tmpl, scope, boundary, display, on_exit):
        node = self.node(name)
        tname = tmpl.get("name") or holder.get("template") or (holder.get("templateRef") or {}).get("template", "")
        pod_name = common.pod_name(self.name, name, tname)
        if node is None:
            node = self.init_node(name, "Pod", holder, boundary, "Pending", display=display)
            if self.inputs_of(tmpl):
                node["inputs"] = self.inputs_of(tmpl)
        if "templateName" not in node and "templateRef" not in node and tname:
            node["templateName"] = tname
        pod = self.pods.get(pod_name)
        if pod is None and node["phase"] == "Pending":
            try:
                body = self.pod_body(name, pod_name, tmpl, {**scope, "pod.name": pod_name}, on_exit)
            except TemplateError as e:
                return self.mark(node, "Error", str(e))
            try:
                pod = self.client.create(PODS, self.ns, body)
            except ApiError as e:
                if e.code != 409:
                    return self.mark(node, "Error", str(e))
                pod = self.client.get(PODS, self.ns, pod_name)
            if pod is not None:
                self.pods[pod_name] = pod
        return self.assess_pod(node, pod, tmpl, on_exit)

    def assess_pod(self, node: dict, pod: dict | None, tmpl: dict, on_exit: bool) -> dict:
        stop = self.stop_reason(on_exit)
        ads = tmpl.get("activeDeadlineSeconds")
        if not stop and ads not in (None, ""):
            left = (parse_ts(node.get("startedAt")) or self.t) + int(ads) - self.t
            if left <= 0:
                stop = "Step exceeded its deadline"
            else:
                self.requeue.append(left + 0.05)
        if pod is None:
            if stop:
                return self.mark(node, "Failed", stop)
            return self.mark(node, "Error", "pod deleted") if node["phase"] != "Pending" else node
        st = pod.get("status") or {}
        phase = st.get("phase") or "Pending"
        if stop and phase not in ("Succeeded", "Failed"):
            self.client.delete(PODS, self.ns, pod["metadata"]["name"], uid=pod["metadata"]["uid"])
            return self.done(node, pod, "Failed", stop)
        if phase == "Pending":
            message, fatal = self.pending_reason(pod)
            if fatal:
                return self.done(node, pod, "Error", message)
            node["phase"] = "Pending"
            if message:
                node["message"] = message
            return node
        if phase == "Running":
            self.ctrl.pull_waits.pop(pod["metadata"]["uid"], None)
            return self.mark(node, "Running", "" if node.get("phase") == "Pending" else None)
        result = self.results.get(node["id"])
        outputs = copy.deepcopy((result or {}).get("outputs") or {})
        code = self.main_exit_code(pod)
        if code is not None:
            outputs["exitCode"] = str(code)
        if phase == "Succeeded":
            reported = ((result or {}).get("metadata", {}).get("labels") or {}).get(
                common.LABEL_REPORT_OUTPUTS_COMPLETED) == "true"
            declares = "script" in tmpl or bool((tmpl.get("outputs") or {}).get("parameters")) or \
                bool((tmpl.get("outputs") or {}).get("result"))
            if not reported:
                finished = self.pod_finished_at(pod) or self.t
                left = finished + (self.ctrl.outputs_grace * (5 if declares else 1)) - self.t
                if left > 0:
                    self.requeue.append(min(left, 0.5) + 0.05)
                    node["phase"] = "Running"
                    return node
                if declares:
                    return self.done(node, pod, "Error", "the step's outputs were never reported (no "
                                                         "WorkflowTaskResult)", outputs)
            return self.done(node, pod, "Succeeded", "", outputs)
        ph, message = self.failed_reason(pod)
        return self.done(node, pod, ph, message, outputs)

    def done(self, node: dict, pod: dict, phase: str, message: str, outputs: dict | None = None) -> dict:
        if outputs:
            node["outputs"] = outputs
            if "exitCode" in outputs:
                node["exitCode"] = outputs["exitCode"]
        self.ctrl.pull_waits.pop(pod["metadata"]["uid"], None)
        labels = pod["metadata"].get("labels") or {}
        if labels.get(common.LABEL_COMPLETED) != "true" and not pod["metadata"].get("deletionTimestamp"):
            try:
                self.client.mutate(PODS, self.ns, pod["metadata"]["name"], lambda o: o["metadata"].setdefault(
                    "labels", {}).__setitem__(common.LABEL_COMPLETED, "true"))
            except ApiError as e:
                log.debug("labelling pod %s: %s", pod["metadata"]["name"], e)
        strategy = (self.spec.get("podGC") or {}).get("strategy")
        if strategy == "OnPodCompletion" or (strategy == "OnPodSuccess" and phase == "Succeeded"):
            self.client.delete(PODS, self.ns, pod["metadata"]["name"], uid=pod["metadata"]["uid"])
        return self.mark(node, phase, message)

    def pending_reason(self, pod: dict) -> tuple[str, bool]:
        st = pod.get("status") or {}
        for cs in st.get("containerStatuses") or []:
            w = (cs.get("state") or {}).get("waiting")
            if w:
                reason = w.get("reason") or ""
                message = f"{reason}: {w['message']}" if w.get("message") else reason
                if reason in IMAGE_PULL:
                    uid = pod["metadata"]["uid"]
                    first = self.ctrl.pull_waits.setdefault(uid, time.monotonic())
                    left = first + self.ctrl.image_pull_grace - time.monotonic()
                    if left <= 0:
                        return message, True
                    self.requeue.append(left + 0.05)
                return message, False
        for c in st.get("conditions") or []:
            if c.get("reason") == "Unschedulable":
                return (f"Unschedulable: {c['message']}" if c.get("message") else "Unschedulable"), False
        return "", False

    @staticmethod
    def main_exit_code(pod: dict) -> int | None:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            t = (cs.get("state") or {}).get("terminated")
            if cs.get("name") == common.MAIN_CONTAINER and t:
                return int(t.get("exitCode") or 0)
        return None

    @staticmethod
    def pod_finished_at(pod: dict) -> float | None:
        times = [parse_ts(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
                 for cs in (pod.get("status") or {}).get("containerStatuses") or []]
        times = [t for t in times if t]
        return max(times) if times else None

    @staticmethod
    def failed_reason(pod: dict) -> tuple[str, str]:
        """Upstream's inferFailedReason: the pod's message, else main's, wait's, then other containers'."""
        st = pod.get("status") or {}
        if st.get("reason") == "DeadlineExceeded":
            return "Failed", "Step exceeded its deadline"
        if st.get("message"):
            return "Failed", st["message"]
        order = {common.MAIN_CONTAINER: 0, common.WAIT_CONTAINER: 1}
        for cs in sorted(st.get("containerStatuses") or [], key=lambda c: order.get(c.get("name"), 2)):
            state = cs.get("state") or {}
            if state.get("waiting"):
                w = state["waiting"]
                return "Error", f"Pod failed before {cs['name']} container starts due to {w.get('reason')}: " \
                                f"{w.get('message', '')}"
            t = state.get("terminated")
            if not t or int(t.get("exitCode") or 0) == 0:
                continue
            msg = f"{t.get('reason') or 'Error'} (exit code {t.get('exitCode')})"
            if t.get("message"):
                msg += f": {t['message']}"
            return ("Failed" if cs.get("name") != common.WAIT_CONTAINER else "Error"), msg
        m = pod["metadata"]
        return "Failed", f"can't find failed message for pod {m['name']} namespace {m.get('namespace')}"

    def pod_body(self, node_name: str, pod_name: str, tmpl: dict, scope: dict, on_exit: bool) -> dict:
        leaf = {k: tmpl[k] for k in (*LEAF, "volumes", "metadata", "activeDeadlineSeconds", "serviceAccountName",
                                     "nodeSelector", "tolerations", "affinity", "securityContext") if k in tmpl}
        leaf = substitute(leaf, scope)
        resolved = {**tmpl, **leaf}
        if "outputs" in tmpl:
            resolved["outputs"] = substitute(tmpl["outputs"], scope, strict=False)
        resolved.pop("retryStrategy", None)
        node_id = self.nid(node_name)
        env = [{"name": common.ENV_TEMPLATE, "value": json.dumps(resolved, separators=(",", ":"))},
               {"name": common.ENV_NODE_ID, "value": node_id},
               {"name": common.ENV_POD_NAME, "value": pod_name},
               {"name": common.ENV_WORKFLOW_NAME, "value": self.name}]
        image = self.cfg.executor_image
        if "container" in resolved:
            main = copy.deepcopy(resolved["container"])
        elif "script" in resolved:
            main = {k: v for k, v in copy.deepcopy(resolved["script"]).items() if k != "source"}
            main["args"] = [*(main.get("args") or []), "/argo/staging/script"]
        else:
            main = {"image": image, "command": ["argoexec", "resource", resolved["resource"].get("action", "")]}
        main["name"] = common.MAIN_CONTAINER
        main["env"] = env + [e for e in main.get("env") or [] if e.get("name") not in
                             {x["name"] for x in env}]
        wait = {"name": common.WAIT_CONTAINER, "image": image, "command": ["argoexec", "wait"],
                "args": ["--loglevel", "info", "--log-format", "text"], "env": copy.deepcopy(env)}
        volumes = copy.deepcopy(self.spec.get("volumes") or []) + copy.deepcopy(resolved.get("volumes") or [])
        for claim in self.spec.get("volumeClaimTemplates") or []:
            cname = claim["metadata"]["name"]
            volumes.append({"name": cname, "persistentVolumeClaim": {"claimName": f"{self.name}-{cname}"}})
        meta = resolved.get("metadata") or {}
        pod_meta = self.spec.get("podMetadata") or {}
        labels = {**(pod_meta.get("labels") or {}), **(meta.get("labels") or {}),
                  common.LABEL_WORKFLOW: self.name, common.LABEL_COMPLETED: "false"}
        if on_exit:
            labels["workflows.argoproj.io/on-exit"] = "true"
        annotations = {**(pod_meta.get("annotations") or {}), **(meta.get("annotations") or {}),
                       common.ANN_NODE_ID: node_id, common.ANN_NODE_NAME: node_name}
        spec = {"restartPolicy": "Never", "containers": [wait, main],
                "serviceAccountName": resolved.get("serviceAccountName") or self.spec.get("serviceAccountName")
                or "default"}
        if volumes:
            spec["volumes"] = volumes
        for k in ("nodeSelector", "tolerations", "affinity", "securityContext", "imagePullSecrets",
                  "hostAliases", "priorityClassName", "schedulerName"):
            v = resolved.get(k) if resolved.get(k) is not None else self.spec.get(k)
            if v is not None:
                spec[k] = copy.deepcopy(v)
        if resolved.get("activeDeadlineSeconds") not in (None, ""):
            spec["activeDeadlineSeconds"] = int(resolved["activeDeadlineSeconds"])
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": self.ns, "labels": labels, "annotations": annotations,
                             "ownerReferences": [controller_ref(self.wf)]},
                "spec": spec}

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
