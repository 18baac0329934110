# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argo Workflows: reading a Workflow's status.

Phase, outputs (``status.outputs.parameters``), duration, the nodes with their pods and outputs, the pods' logs
and events; a failed or timed-out Workflow is explained (failed leaf steps with their messages, the pods' container
states, the last log lines, recent warnings). Nothing here writes to the cluster.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.mlops.k8s.plugins.module_utils import pod_diagnostics as diag
from ansible_collections.mlops.k8s.plugins.module_utils import waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, ref
from ansible_collections.mlops.k8s.plugins.module_utils.text import short

WORKFLOW = "Workflow"
LABEL_WORKFLOW = "workflows.argoproj.io/workflow"
ANN_NODE_ID = "workflows.argoproj.io/node-id"
ANN_NODE_NAME = "workflows.argoproj.io/node-name"

DONE_PHASES = ("Succeeded", "Failed", "Error")
FAILED_PHASES = ("Failed", "Error")
MAIN_CONTAINER = "main"
EXPLAIN_LOG_LINES = 10
MAX_EVENTS = 10


# -- phase, outputs, nodes ----------------------------------------------------------------------------------
def phase_of(wf):
    return ((wf or {}).get("status") or {}).get("phase")


def _parameters_dict(outputs):
    return {p.get("name"): p.get("value") for p in (outputs or {}).get("parameters") or []
            if isinstance(p, dict) and p.get("name")}


def outputs_of(wf):
    """status.outputs.parameters as name -> value."""
    return _parameters_dict(((wf or {}).get("status") or {}).get("outputs"))


def parse_time(text):
    """An RFC 3339 time of the API (``2026-01-01T00:00:00Z``, fractions allowed) as an aware datetime."""
    if not text or not isinstance(text, str):
        return None
    text = re.sub(r"\.\d+", "", text.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def duration_of(wf):
    """Seconds between startedAt and finishedAt (None until finished)."""
    status = (wf or {}).get("status") or {}
    started, finished = parse_time(status.get("startedAt")), parse_time(status.get("finishedAt"))
    if started is None or finished is None:
        return None
    return round((finished - started).total_seconds(), 3)


def fnv32a(text):
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def template_of(node):
    return node.get("templateName") or (node.get("templateRef") or {}).get("template")


def pod_name_of(workflow, node):
    """The pod name Argo (POD_NAMES=v2) gives a Pod node: ``<workflow>-<template>-<fnv32a(node name)>``."""
    name = node.get("name") or ""
    if name == workflow:
        return workflow
    suffix = str(fnv32a(name))
    template = template_of(node)
    prefix = "%s-%s" % (workflow, template) if template else workflow
    prefix = prefix[: 63 - len(suffix) - 1].rstrip("-.")
    return "%s-%s" % (prefix, suffix)


def _pods_by_node(pods):
    out = {}
    for pod in pods or []:
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        for key in (ANN_NODE_ID, ANN_NODE_NAME):
            if annotations.get(key):
                out[annotations[key]] = pod
    return out


def nodes_of(wf, pods=None):
    """The Workflow's nodes as a list (started first), each with its pod and outputs."""
    meta = (wf or {}).get("metadata") or {}
    nodes = ((wf or {}).get("status") or {}).get("nodes") or {}
    by_node = _pods_by_node(pods)
    out = []
    for node_id, node in nodes.items():
        if not isinstance(node, dict):
            continue
        pod_name = None
        if node.get("type") == "Pod":
            pod = by_node.get(node.get("id") or node_id) or by_node.get(node.get("name"))
            pod_name = (pod or {}).get("metadata", {}).get("name") or pod_name_of(meta.get("name") or "", node)
        outputs = node.get("outputs") or {}
        out.append({
            "id": node.get("id") or node_id,
            "name": node.get("name"),
            "display_name": node.get("displayName") or node.get("name"),
            "type": node.get("type"),
            "phase": node.get("phase"),
            "message": node.get("message"),
            "template": template_of(node),
            "pod_name": pod_name,
            "outputs": _parameters_dict(outputs),
            "exit_code": outputs.get("exitCode"),
            "started_at": node.get("startedAt"),
            "finished_at": node.get("finishedAt"),
        })
    out.sort(key=lambda n: (n["started_at"] or "9999", n["name"] or ""))
    return out


def describe(client, wf, *, with_pods=True):
    """phase, outputs, nodes and duration of a Workflow."""
    pods = list_pods(client, wf) if with_pods and phase_of(wf) else []
    out = {"phase": phase_of(wf), "outputs": outputs_of(wf), "nodes": nodes_of(wf, pods)}
    duration = duration_of(wf)
    if duration is not None:
        out["duration"] = duration
    return out, pods


# -- waiting ----------------------------------------------------------------------------------------------
def describe_workflow(obj):
    """A one-line picture of a Workflow: phase, progress, message and the nodes still running."""
    if obj is None:
        return "the Workflow does not exist"
    status = obj.get("status") or {}
    if not status.get("phase"):
        return ("no status yet: the Argo workflow controller has not picked it up (is a workflow-controller "
                "running and watching namespace %s?)" % ((obj.get("metadata") or {}).get("namespace") or "default"))
    parts = ["phase %s" % status["phase"]]
    if status.get("progress"):
        parts[0] += " (progress %s)" % status["progress"]
    if status.get("message"):
        parts.append("message %r" % status["message"])
    running = []
    for node in (status.get("nodes") or {}).values():
        if not isinstance(node, dict) or node.get("type") not in ("Pod", "Suspend", "Retry"):
            continue
        if node.get("phase") in ("Pending", "Running") and node.get("type") != "Retry":
            text = "%s (%s" % (node.get("displayName") or node.get("name"), node.get("phase"))
            text += ": %s)" % node["message"] if node.get("message") else ")"
            running.append(text)
    if running:
        parts.append("still running: " + ", ".join(sorted(running)))
    return "; ".join(parts)


def workflow_finished(uid=None):
    """Done when the Workflow's phase is Succeeded, Failed or Error (the object with ``uid`` when given)."""

    def check(obj):
        if obj is None:
            return False, "the Workflow does not exist"
        if waiter.replaced(obj, uid):
            return False, "the Workflow was replaced by another one with the same name"
        phase = (obj.get("status") or {}).get("phase")
        return phase in DONE_PHASES, describe_workflow(obj)

    return check


def wait_for_workflow(client, resource, name, namespace, *, uid=None, timeout=600, clock=time.monotonic,
                      sleep=time.sleep):
    """Watch a Workflow until it has finished (any of DONE_PHASES); K8sError reason Timeout otherwise."""
    return waiter.wait_for(client, resource, name, namespace, check=workflow_finished(uid), timeout=timeout,
                           description="the workflow to finish", clock=clock, sleep=sleep)


# -- pods, logs, events -------------------------------------------------------------------------------------
def list_pods(client, wf):
    """The Workflow's pods (label workflows.argoproj.io/workflow), [] when they cannot be listed."""
    meta = (wf or {}).get("metadata") or {}
    try:
        resource = client.find_resource("v1", "Pod")
        if resource is None or not meta.get("name"):
            return []
        return client.list(resource, meta.get("namespace"),
                           label_selector="%s=%s" % (LABEL_WORKFLOW, meta["name"]))["items"]
    except K8sError:
        return []


def read_pod_log(client, namespace, pod, container=MAIN_CONTAINER, tail_lines=100):
    """The last ``tail_lines`` lines of a container's log (``kubectl logs POD -c CONTAINER --tail N``)."""
    from urllib.parse import quote

    path = "/api/v1/namespaces/%s/pods/%s/log" % (quote(namespace or "", safe=""), quote(pod, safe=""))
    return client.read_text(path, {"container": container, "tailLines": str(tail_lines)},
                            "logs of container %s of %s" % (container, ref("Pod", namespace, pod)))


def collect_logs(client, wf, nodes, tail_lines=100):
    """Main container logs of the Pod nodes: display name -> text (a note when a log cannot be read)."""
    namespace = ((wf or {}).get("metadata") or {}).get("namespace")
    logs = {}
    for node in nodes:
        if node["type"] != "Pod" or not node["pod_name"] or node["phase"] in ("Skipped", "Omitted"):
            continue
        key = node["display_name"] if node["display_name"] not in logs else node["name"]
        try:
            logs[key] = read_pod_log(client, namespace, node["pod_name"], MAIN_CONTAINER, tail_lines)
        except K8sError as err:
            logs[key] = "(no log: %s)" % err.msg
    return logs


def container_issues(pod, known=None):
    """What is wrong with a pod's containers: waiting reasons, non-zero exits, pod-level reasons (``known``: the
    node's message, not repeated)."""
    status = (pod or {}).get("status") or {}
    issues = []
    known = short(known) if known else None
    pod_message = short(status["message"]) if status.get("message") else None
    if status.get("reason") not in (None, "Error", "Completed") or (pod_message and pod_message != known and (
            status.get("reason") or status.get("phase") == "Failed")):
        issues.append("pod %s%s" % (status.get("reason") or "failed",
                                    ": %s" % pod_message if pod_message and pod_message != known else ""))
    issues.extend(diag.scheduling_problems(pod))
    for label, cs in diag.containers(pod):
        waiting, terminated = diag.waiting_problem(cs), diag.failed_exit(cs)
        if waiting:
            text = "%s %s %s" % (label, cs.get("name"), waiting["reason"])
            if waiting.get("message") and short(waiting["message"]) not in (known or ""):
                text += ": %s" % short(waiting["message"])
            issues.append(text)
        elif terminated:
            text = "%s %s terminated with exit code %s%s" % (
                label, cs.get("name"), terminated.get("exitCode"),
                " (%s)" % terminated["reason"] if terminated.get("reason") else "")
            if terminated.get("message") and short(terminated["message"]) != known:
                text += ": %s" % short(terminated["message"])
            issues.append(text)
    return issues


def _warning_events(client, namespace, names, notes):
    events = diag.safe_list(client, "v1", "Event", namespace, field_selector="type=Warning", notes=notes,
                            what="events")

    def concerns(event):
        target = diag.event_target(event)
        if target.get("kind") == WORKFLOW and str(event.get("reason") or "").startswith("Workflow"):
            return False  # the controller's lifecycle events repeat the status
        return target.get("name") in names

    return diag.warning_events(events, concerns, MAX_EVENTS)


def _last_lines(text, count):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-count:] if count > 0 else []


def _failed_descendant(raw, node_id):
    """Whether a node below ``node_id`` failed (Argo chains step groups through the previous group's nodes, so
    the failed step of a later group hangs below an earlier, succeeded one)."""
    seen = set()
    todo = list((raw.get(node_id) or {}).get("children") or [])
    while todo:
        child = todo.pop()
        if child in seen:
            continue
        seen.add(child)
        node = raw.get(child) or {}
        if node.get("phase") in FAILED_PHASES:
            return True
        todo.extend(node.get("children") or [])
    return False


def explain(client, wf, pods=None, log_lines=EXPLAIN_LOG_LINES, timed_out=False):
    """Why a Workflow failed (or is not finished): the failed leaf steps (or the steps still running) with their
    messages, their pods' container states and last log lines, and recent Warning events. Never raises.

    Returns {summary, phase, message, steps: [{name, display_name, template, phase, message, pod_name, issues,
    log}], events, notes}.
    """
    notes = []
    meta = (wf or {}).get("metadata") or {}
    status = (wf or {}).get("status") or {}
    namespace = meta.get("namespace")
    if pods is None:
        pods = list_pods(client, wf)
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    nodes = nodes_of(wf, pods)
    raw = status.get("nodes") or {}
    if timed_out:
        chosen = [n for n in nodes if n["type"] in ("Pod", "Suspend") and n["phase"] in ("Pending", "Running")]
    else:
        chosen = [n for n in nodes if n["phase"] in FAILED_PHASES and not _failed_descendant(raw, n["id"])]
    steps = []
    for node in chosen:
        entry = {k: node[k] for k in ("name", "display_name", "type", "template", "phase", "message", "pod_name",
                                      "exit_code")}
        pod = by_name.get(node["pod_name"]) if node["pod_name"] else None
        entry["issues"] = container_issues(pod, node["message"]) if pod else []
        entry["log"] = []
        if pod is not None and log_lines > 0:
            try:
                entry["log"] = _last_lines(read_pod_log(client, namespace, node["pod_name"], MAIN_CONTAINER,
                                                        max(log_lines, 1) * 2), log_lines)
            except K8sError as err:
                notes.append("cannot read the log of pod %s: %s" % (node["pod_name"], err.msg))
        steps.append(entry)
    names = {meta.get("name")} | {s["pod_name"] for s in steps if s["pod_name"]}
    events = _warning_events(client, namespace, names, notes) if meta.get("name") else []
    explanation = {"phase": status.get("phase"), "message": status.get("message"), "steps": steps,
                   "events": events, "notes": notes}
    explanation["summary"] = summarize_explanation(wf, explanation, timed_out)
    return explanation


def summarize_explanation(wf, explanation, timed_out=False):
    parts = []
    if timed_out:
        parts.append(describe_workflow(wf))
    else:
        status_text = "phase %s" % (explanation.get("phase") or "unknown")
        if explanation.get("message") and explanation["message"] not in [
                s.get("message") for s in explanation.get("steps") or []]:
            status_text += ": %s" % explanation["message"]
        parts.append(status_text)
    for step in explanation.get("steps") or []:
        label = "%s step %s" % ("running" if timed_out else "failed", step["display_name"])
        details = []
        if step.get("template") and step["template"] != step["display_name"]:
            details.append("template %s" % step["template"])
        if step.get("pod_name"):
            details.append("pod %s" % step["pod_name"])
        if details:
            label += " (%s)" % ", ".join(details)
        text = label
        bits = []
        if step.get("message"):
            bits.append(step["message"])
        bits.extend(step.get("issues") or [])
        if bits:
            text += ": " + "; ".join(bits)
        if step.get("log"):
            text += "; last log lines: " + " | ".join(step["log"])
        parts.append(text)
    if explanation.get("events"):
        parts.append("recent warnings: " + " | ".join(explanation["events"]))
    if explanation.get("notes"):
        parts.append("(" + "; ".join(explanation["notes"]) + ")")
    return ". ".join(p.rstrip(".") for p in parts if p)
