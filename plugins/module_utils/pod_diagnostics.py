# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod diagnostics shared by the explanations of seldon.py and argo_status.py: best-effort lists, the states of a
pod's containers and scheduling, and Warning events. Nothing here writes to the cluster or raises."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.text import short, to_int

# waiting reasons of a container that is simply starting
STARTING_REASONS = ("ContainerCreating", "PodInitializing")
# waiting reasons that waiting longer will not cure: the image, the pod spec or what it refers to must change
FATAL_WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                         "CreateContainerConfigError", "CreateContainerError")
# restarts after which a crash-looping container is taken as one that will not start
CRASHLOOP_RESTARTS = 3


def safe_list(client, api_version, kind, namespace, *, label_selector=None, field_selector=None, notes=None,
              what=None):
    """Items of a list, or [] with a note ``cannot list <what>: ...`` (an explanation must never fail the task
    by itself). A server that refuses the field selector (400) is asked again without it."""
    try:
        resource = client.find_resource(api_version, kind)
        if resource is None:
            return []
        try:
            return client.list(resource, namespace, label_selector=label_selector,
                               field_selector=field_selector)["items"]
        except K8sError as err:
            if field_selector and err.status == 400:
                return client.list(resource, namespace, label_selector=label_selector)["items"]
            raise
    except K8sError as err:
        if notes is not None:
            notes.append("cannot list %s: %s" % (what or kind, err.msg))
        return []


def containers(pod):
    """``(label, container status)`` of a pod's init containers, then its app containers."""
    status = (pod or {}).get("status") or {}
    for label, key in (("init container", "initContainerStatuses"), ("container", "containerStatuses")):
        for cs in status.get(key) or []:
            yield label, cs


def waiting_problem(cs):
    """The ``state.waiting`` of a container that waits for another reason than starting, else None."""
    waiting = (cs.get("state") or {}).get("waiting")
    return waiting if waiting and waiting.get("reason") not in (None, *STARTING_REASONS) else None


def failed_exit(cs):
    """The ``state.terminated`` of a container that exited with a non-zero code, else None."""
    terminated = (cs.get("state") or {}).get("terminated")
    return terminated if terminated and to_int(terminated.get("exitCode")) != 0 else None


def scheduling_problems(pod):
    """``not scheduled: <reason> <message>`` for a pod the scheduler could not place."""
    out = []
    for cond in ((pod or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            out.append("not scheduled: %s" % short(" ".join(x for x in (cond.get("reason"), cond.get("message")) if x)))
    return out


def event_time(event):
    """When an event last happened (core/v1 lastTimestamp, events.k8s.io eventTime, or its creation)."""
    return event.get("lastTimestamp") or event.get("eventTime") or \
        (event.get("metadata") or {}).get("creationTimestamp") or ""


def event_target(event):
    """The object an event is about (core/v1 involvedObject, events.k8s.io regarding)."""
    return event.get("involvedObject") or event.get("regarding") or {}


def describe_event(event, with_count=False):
    """``Kind name: Reason: message`` (and ``(xN)`` for a repeated event when ``with_count``)."""
    target = event_target(event)
    count = to_int(event.get("count")) or to_int((event.get("series") or {}).get("count")) or 1
    return "%s %s: %s: %s%s" % (target.get("kind"), target.get("name"), event.get("reason"),
                                short(event.get("message") or event.get("note") or "", 300),
                                " (x%d)" % count if with_count and count > 1 else "")


def warning_events(events, concerns, limit, with_count=False):
    """The last ``limit`` Warning events, oldest first, about the objects ``concerns(event)`` accepts."""
    out = [describe_event(e, with_count) for e in sorted(events, key=event_time)
           if e.get("type") == "Warning" and concerns(e)]
    return out[-limit:]


def selector_text(selector):
    """A label selector (matchLabels and matchExpressions) as the text of a list request, or None."""
    if not isinstance(selector, dict):
        return None
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            parts.append("%s %s (%s)" % (key, op.lower(), ",".join(values)))
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append("!%s" % key)
    return ",".join(parts) or None


def container_problem(pod_name, label, cs):
    """``pod <name> <label> <container>: <reason>: <message> (last exit code N, R restarts)`` for a container
    waiting for another reason than starting, ``... exited with code N: <message>`` for one that failed, or None."""
    waiting = waiting_problem(cs)
    if waiting:
        last = ((cs.get("lastState") or {}).get("terminated")) or {}
        text = "%s: %s" % (waiting.get("reason"), short(waiting.get("message") or "", 300))
        if last:
            text += " (last exit code %s%s, %s restarts)" % (
                last.get("exitCode"), ", %s" % last.get("reason") if last.get("reason") else "",
                cs.get("restartCount", 0))
        return "pod %s %s %s: %s" % (pod_name, label, cs.get("name"), text.rstrip(": "))
    failed = failed_exit(cs)
    if failed:
        return "pod %s %s %s exited with code %s%s" % (
            pod_name, label, cs.get("name"), failed.get("exitCode"),
            ": %s" % short(failed.get("message") or failed.get("reason") or "", 300)
            if failed.get("message") or failed.get("reason") else "")
    return None


def pod_problems(pod):
    """What keeps one pod from running: scheduling, containers waiting for another reason than starting
    (image pulls, crash loops with the last exit code), containers that exited with an error."""
    name = ((pod or {}).get("metadata") or {}).get("name")
    out = ["pod %s %s" % (name, p) for p in scheduling_problems(pod)]
    for label, cs in containers(pod):
        problem = container_problem(name, label, cs)
        if problem:
            out.append(problem)
    return out


def is_fatal(cs, crashloop_restarts=CRASHLOOP_RESTARTS):
    """Whether a container waits for something that waiting will not bring: an image that cannot be pulled, a
    configuration it cannot be created with, or a crash loop of at least ``crashloop_restarts`` restarts."""
    waiting = waiting_problem(cs)
    if not waiting:
        return False
    reason = waiting.get("reason")
    return reason in FATAL_WAITING_REASONS or (
        reason == "CrashLoopBackOff" and to_int(cs.get("restartCount")) >= crashloop_restarts)


def newest_template_hash(deployment_name, replica_sets):
    """pod-template-hash of a Deployment's newest ReplicaSet (highest revision), or None when unknown."""
    best = None
    for rs in replica_sets:
        meta = rs.get("metadata") or {}
        owners = [o.get("name") for o in meta.get("ownerReferences") or [] if o.get("kind") == "Deployment"]
        named = meta.get("name", "").startswith(deployment_name + "-")
        if deployment_name not in owners and not (not owners and named):
            continue
        revision = to_int((meta.get("annotations") or {}).get("deployment.kubernetes.io/revision"))
        if best is None or revision > best[0]:
            best = (revision, (meta.get("labels") or {}).get("pod-template-hash"))
    return best[1] if best else None


def workload_pods(client, obj):
    """(namespace, label selector text, pods) of a Deployment, StatefulSet or DaemonSet, or None when it has no
    selector or namespace to list them by."""
    meta = (obj or {}).get("metadata") or {}
    selector = selector_text(((obj or {}).get("spec") or {}).get("selector"))
    if not selector or not meta.get("namespace"):
        return None
    return meta["namespace"], selector, safe_list(client, "v1", "Pod", meta["namespace"], label_selector=selector)


def current_pods(client, kind, obj):
    """The pods of a workload's current template: a Deployment's newest ReplicaSet, a StatefulSet's update
    revision, every pod of a DaemonSet. Pods being replaced are left out (their problems end with them)."""
    found = workload_pods(client, obj)
    if found is None:
        return []
    namespace, selector, pods = found
    if kind == "Deployment":
        replica_sets = safe_list(client, "apps/v1", "ReplicaSet", namespace, label_selector=selector)
        current = newest_template_hash(obj["metadata"].get("name"), replica_sets)
        return [p for p in pods if current and ((p.get("metadata") or {}).get("labels") or {}).get(
            "pod-template-hash") == current]
    if kind == "StatefulSet":
        revision = ((obj or {}).get("status") or {}).get("updateRevision")
        return [p for p in pods if not revision or ((p.get("metadata") or {}).get("labels") or {}).get(
            "controller-revision-hash") == revision]
    return pods


def workload_fatal(client, kind, obj, crashloop_restarts=CRASHLOOP_RESTARTS):
    """The first problem of a workload's current pods that waiting will not cure (is_fatal), in
    container_problem's words, or None. Best effort: never raises."""
    for pod in current_pods(client, kind, obj):
        name = (pod.get("metadata") or {}).get("name")
        for label, cs in containers(pod):
            if is_fatal(cs, crashloop_restarts):
                return container_problem(name, label, cs)
    return None


def workload_problems(client, obj, limit=3):
    """The pod problems of a Deployment, StatefulSet or DaemonSet (its selector's pods), at most ``limit``;
    "" when none is seen. Best effort: never raises."""
    found = workload_pods(client, obj)
    if found is None:
        return ""
    problems = []
    for pod in found[2]:
        problems.extend(pod_problems(pod))
    return "; ".join(problems[:limit]) + (" and %d more" % (len(problems) - limit) if len(problems) > limit else "")
