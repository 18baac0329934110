"""How the Workflow controller walks a workflow's templates: resolution, inputs, retries, suspend, steps and dag
(a mixin of `sandbox.argo.workflow.Operation`)."""

from __future__ import annotations

import copy
import json

from ..controllers.base import parse_ts
from . import common
from .nodes import FAILED, KIND_PLURAL, LEAF, duration_seconds, fulfilled, param_value
from .template import (
    TemplateError,
    depends_tasks,
    evaluate_bool,
    expand_depends,
    item_scope,
    substitute,
    task_results,
    to_str,
)


class TemplateExecution:
    """Resolves and executes templates, making the nodes of steps, dags, retries and suspends."""

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
