"""The CronWorkflow controller of the sandbox's Argo Workflows 3.5 (with 3.6's ``schedules``, ``succeeded`` /
``failed`` counters and ``phase``).

It acts only while a workflow-controller Deployment (`common.is_controller_deployment`) is Available, within its
``--namespaced`` / ``--managed-namespace`` scope, writing as ``system:serviceaccount:argo:argo`` (field manager
``workflow-controller``). Per CronWorkflow:

* validation as upstream's ``ValidateCronWorkflow``: name length, ``schedule`` xor ``schedules``, each schedule
  parses (``timezone`` through zoneinfo), ``concurrencyPolicy``, ``startingDeadlineSeconds``, and a light check of
  ``workflowSpec`` (entrypoint, template names, referenced WorkflowTemplate). Failure: condition ``SpecError``
  with the message, nothing scheduled;
* the schedule: the controller arms the next tick (requeue at that time, like upstream's in-process cron
  engine) and runs when an armed tick is reached. A tick it did not arm (the controller was off, the
  CronWorkflow was suspended or its concurrency policy skipped the run) is a missed run: run once, for the latest
  missed tick, only when ``status.lastScheduledTime`` is set, the schedule is the one last used (annotation
  ``cronworkflows.argoproj.io/last-used-schedule``) and ``startingDeadlineSeconds`` is set and not yet passed;
* a run: skipped while ``spec.suspend``; ``concurrencyPolicy`` Forbid skips while a created Workflow is active,
  Replace sets ``spec.shutdown: Terminate`` on the active ones (as ``argo terminate``) and submits; then the
  Workflow ``<cron>-<unix seconds of the tick>`` (``workflowSpec``, ``workflowMetadata`` labels / annotations /
  finalizers, label ``workflows.argoproj.io/cron-workflow``, annotation ``workflows.argoproj.io/scheduled-time``,
  controller ownerReference). AlreadyExists for a Workflow of this CronWorkflow counts as submitted (idempotent);
  any other API error sets condition ``SubmissionError`` ("Failed to submit Workflow: ...") and ``failed`` + 1;
* ``status``: ``active`` (references of the created Workflows not yet Succeeded/Failed/Error),
  ``lastScheduledTime``, ``succeeded`` / ``failed`` (each active Workflow counted once when it completes),
  ``conditions`` (``{type, status, message}`` as Argo writes them), ``phase`` (``Active``, ``Stopped`` while
  suspended);
* history: completed Workflows beyond ``successfulJobsHistoryLimit`` (default 3) / ``failedJobsHistoryLimit``
  (default 1), the oldest by ``status.finishedAt``, are deleted.

Upstream's cron controller records no Events for scheduling or submission errors, so neither does this one.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import time
from zoneinfo import ZoneInfo

from ..controllers.base import Controller, controller_ref, enqueue_owner, owned_by, parse_ts
from ..controllers.cron import CronError, Schedule
from ..machinery.errors import ApiError
from .common import (
    ANN_SCHEDULED_TIME,
    API_VERSION,
    CLUSTER_WORKFLOW_TEMPLATES,
    CRON_WORKFLOWS,
    DEPLOYS,
    LABEL_CRON_WORKFLOW,
    WORKFLOW_TEMPLATES,
    WORKFLOWS,
    controller_for,
    controller_scope,
    deployment_available,
    is_controller_deployment,
)

ARGO_USER = "system:serviceaccount:argo:argo"
ANN_LAST_USED_SCHEDULE = "cronworkflows.argoproj.io/last-used-schedule"
COND_SPEC_ERROR = "SpecError"
COND_SUBMISSION_ERROR = "SubmissionError"
POLICIES = ("", "Allow", "Forbid", "Replace")
DONE = ("Succeeded", "Failed", "Error")
MAX_NAME = 52          # upstream: the name plus "-<unix seconds>" must fit 63 characters
# CronWorkflow labels upstream copies onto the Workflows it creates
PROPAGATED_LABELS = ("workflows.argoproj.io/creator", "workflows.argoproj.io/creator-email",
                     "workflows.argoproj.io/creator-preferred-username", "workflows.argoproj.io/controller-instanceid")


# -- schedules --
class Tick:
    """One parsed schedule in its time zone: the ticks after an anchor (robfig/cron semantics, whole seconds)."""

    def __init__(self, text: str, tz: dt.tzinfo):
        self.text, self.tz = text, tz
        if not text.strip():
            raise CronError("empty spec string")
        self.sched = Schedule(text)
        self.every = max(1, int(self.sched.every)) if self.sched.every is not None else None

    def next(self, after: float) -> float | None:
        if self.every is not None:   # @every: the delay rounded down to whole seconds, ticks on the second
            return math.floor(after) + self.every
        n = self.sched.next(dt.datetime.fromtimestamp(after, self.tz))
        return None if n is None else n.timestamp()

    def following(self, anchor: float, now: float) -> float | None:
        """The first tick after `now` (for @every: on the grid that starts at `anchor`)."""
        if self.every is not None:
            base = math.floor(anchor)
            return base + (max(0, math.floor((now - base) / self.every)) + 1) * self.every
        return self.next(now)

    def latest(self, anchor: float, now: float) -> float | None:
        """The latest tick in (anchor, now], found without walking every tick since a long-gone anchor."""
        if self.every is not None:
            base = math.floor(anchor)
            k = math.floor((now - base) / self.every)
            return base + k * self.every if k >= 1 else None
        for back in (60, 3600, 86400, 32 * 86400, 367 * 86400, 5 * 367 * 86400):
            start = max(anchor, now - back)
            t = self.next(start)
            if t is None or t > now:
                if start == anchor:
                    return None
                continue
            for _ in range(100_000):
                n = self.next(t)
                if n is None or n > now:
                    break
                t = n
            return t
        return None


def _rfc3339(ts: float, tz: dt.tzinfo = dt.UTC) -> str:
    t = dt.datetime.fromtimestamp(ts, tz).replace(microsecond=0)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t.utcoffset() == dt.timedelta(0) else t.isoformat()


def schedule_string(spec: dict) -> str:
    """Upstream's schedule string (``CRON_TZ=<tz> `` prefixed, several schedules comma-joined)."""
    items = [spec["schedule"]] if spec.get("schedule") else list(spec.get("schedules") or [])
    tz = spec.get("timezone") or ""
    return ",".join(f"CRON_TZ={tz} {s}" if tz else str(s) for s in items)


def _fulfilled(wf: dict) -> bool:
    return (wf.get("status") or {}).get("phase") in DONE


def _ref(wf: dict) -> dict:
    m = wf["metadata"]
    return {"kind": "Workflow", "apiVersion": API_VERSION, "name": m["name"], "namespace": m.get("namespace", ""),
            "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}


def _set_cond(st: dict, ctype: str, message: str) -> None:
    conds = [c for c in st.get("conditions") or [] if c.get("type") != ctype]
    st["conditions"] = [*conds, {"type": ctype, "status": "True", "message": message}]


def _drop_cond(st: dict, ctype: str) -> None:
    st["conditions"] = [c for c in st.get("conditions") or [] if c.get("type") != ctype]


class CronWorkflowController(Controller):
    name = "argo-cron-controller"
    primary = CRON_WORKFLOWS
    watch_keys = (WORKFLOWS, DEPLOYS, WORKFLOW_TEMPLATES, CLUSTER_WORKFLOW_TEMPLATES)
    user = ARGO_USER
    manager = "workflow-controller"
    component = "workflow-controller"

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        # (ns, name) -> (uid, schedule string, tick): the next tick this controller waits for (its cron engine)
        self._armed: dict[tuple[str, str], tuple[str, str, float]] = {}

    # -- which objects concern which CronWorkflow --
    def keys_for(self, ev):
        m = ev.obj["metadata"]
        if ev.key == CRON_WORKFLOWS:
            yield m.get("namespace", ""), m["name"]
        elif ev.key == WORKFLOWS:
            yield from enqueue_owner(ev.obj, "CronWorkflow")
        elif ev.key == DEPLOYS:
            if is_controller_deployment(ev.obj) or (ev.old is not None and is_controller_deployment(ev.old)):
                was = ev.old is not None and deployment_available(ev.old)
                if ev.type != "MODIFIED" or was != deployment_available(ev.obj) or \
                        controller_scope(ev.obj) != controller_scope(ev.old or ev.obj):
                    yield from self._all()
        elif ev.type != "MODIFIED":   # a WorkflowTemplate a workflowTemplateRef may name came or went
            yield from self._all(m.get("namespace") or None)

    def _all(self, ns: str | None = None):
        for o in self.client.list(CRON_WORKFLOWS, ns):
            yield o["metadata"].get("namespace", ""), o["metadata"]["name"]

    def _manages(self, ns: str) -> bool:
        return controller_for(self.client.list(DEPLOYS), ns) is not None

    # -- reconcile --
    def reconcile(self, ns: str, name: str):
        key = (ns, name)
        cwf = self.client.get(CRON_WORKFLOWS, ns, name)
        if cwf is None or not self._manages(ns):   # upstream schedules a CronWorkflow as long as it exists
            self._armed.pop(key, None)
            return None
        spec, uid = cwf.get("spec") or {}, cwf["metadata"]["uid"]
        children = [w for w in self.client.list(WORKFLOWS, ns) if owned_by(w, uid)]
        error, ticks = self._validate(cwf)
        now = time.time()
        sched = schedule_string(spec)
        outcome: dict = {}
        due = None
        anchor = parse_ts((cwf.get("status") or {}).get("lastScheduledTime")) or \
            parse_ts(cwf["metadata"].get("creationTimestamp")) or now
        if error is None:
            due = max((t for t in (tk.latest(anchor, now) for tk in ticks) if t is not None), default=None)
            armed = self._armed.get(key)
            fired = armed is not None and armed[:2] == (uid, sched) and due is not None and due >= armed[2]
            if due is not None and (fired or self._missed_ok(cwf, sched, due, now)):
                outcome = self._submit(cwf, due, ticks, children)
        if not self._write_status(cwf, children, error, outcome):
            return 0.05
        self._history(cwf, children)
        if error is not None or spec.get("suspend"):
            self._armed.pop(key, None)
            return None
        if outcome.get("scheduled"):
            anchor = due
        nxt = min((t for t in (tk.following(anchor, now) for tk in ticks) if t is not None), default=None)
        if nxt is None:
            self._armed.pop(key, None)
            return None
        self._armed[key] = (uid, sched, nxt)
        return max(0.05, nxt - time.time() + 0.05)

    def _missed_ok(self, cwf: dict, sched: str, due: float, now: float) -> bool:
        """Upstream's outstanding run: a tick missed since lastScheduledTime, still within startingDeadlineSeconds,
        and not right after a schedule change."""
        spec = cwf.get("spec") or {}
        deadline = spec.get("startingDeadlineSeconds")
        if not (cwf.get("status") or {}).get("lastScheduledTime") or deadline is None:
            return False
        if (cwf["metadata"].get("annotations") or {}).get(ANN_LAST_USED_SCHEDULE) != sched:
            return False
        return now < due + int(deadline)

    # -- validation (upstream's ValidateCronWorkflow, the workflow part kept light) --
    def _validate(self, cwf: dict) -> tuple[str | None, list[Tick]]:
        spec = cwf.get("spec") or {}
        name = cwf["metadata"]["name"]
        if spec.get("schedule") and spec.get("schedules"):
            return "cron workflow cant be configured with both Spec.Schedule and Spec.Schedules", []
        if len(name) > MAX_NAME:
            return f'cron workflow name "{name}" must not be more than {MAX_NAME} characters long ' \
                   f"(currently {len(name)})", []
        tz: dt.tzinfo = dt.UTC
        tz_name = spec.get("timezone") or ""
        items = [spec.get("schedule") or ""] if not spec.get("schedules") else list(spec["schedules"])
        if tz_name:
            try:
                tz = ZoneInfo(tz_name)
            except (ValueError, OSError, LookupError):
                s = schedule_string(spec).split(",")[0]
                return f"cron schedule {s} is malformed: provided bad location {tz_name}: " \
                       f"unknown time zone {tz_name}", []
        ticks = []
        for s in items:
            try:
                ticks.append(Tick(str(s), tz))
            except CronError as e:
                return f"cron schedule {s} is malformed: {e}", []
        policy = spec.get("concurrencyPolicy") or ""
        if policy not in POLICIES:
            return f"'{policy}' is not a valid concurrencyPolicy", []
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and (not isinstance(deadline, int) or deadline < 0):
            return "startingDeadlineSeconds must be positive", []
        err = self._validate_workflow(cwf["metadata"]["namespace"], spec.get("workflowSpec") or {})
        if err:
            return f"cannot validate Workflow: {err}", []
        return None, ticks

    def _validate_workflow(self, ns: str, wspec: dict) -> str | None:
        templates = wspec.get("templates") or []
        for i, t in enumerate(templates):
            if not isinstance(t, dict) or not t.get("name"):
                return f"spec.templates[{i}].name is required"
        entry = wspec.get("entrypoint") or ""
        ref = wspec.get("workflowTemplateRef")
        if ref:
            key = CLUSTER_WORKFLOW_TEMPLATES if ref.get("clusterScope") else WORKFLOW_TEMPLATES
            tmpl = self.client.get(key, "" if ref.get("clusterScope") else ns, ref.get("name") or "")
            if tmpl is None:
                return f'{key[1]}.{key[0]} "{ref.get("name") or ""}" not found'
            entry = entry or (tmpl.get("spec") or {}).get("entrypoint") or ""
            templates = [*templates, *((tmpl.get("spec") or {}).get("templates") or [])]
        if not entry:
            return "spec.entrypoint is required"
        if entry not in {t.get("name") for t in templates if isinstance(t, dict)}:
            return f"template name '{entry}' undefined"
        return None

    # -- a run at tick `due` (upstream's woc.run) --
    def _submit(self, cwf: dict, due: float, ticks: list[Tick], children: list[dict]) -> dict:
        spec = cwf.get("spec") or {}
        out = {"annotation": schedule_string(spec)}
        if spec.get("suspend"):
            return out
        active = [w for w in children if not _fulfilled(w) and not w["metadata"].get("deletionTimestamp")]
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            return out
        if policy == "Replace":
            for w in active:
                self.client.mutate(WORKFLOWS, w["metadata"]["namespace"], w["metadata"]["name"], _terminate)
        ns, name = cwf["metadata"]["namespace"], cwf["metadata"]["name"]
        wf_name = f"{name}-{int(due)}"
        try:
            wf = self.client.create(WORKFLOWS, ns, self._workflow(cwf, wf_name, due, ticks[0].tz))
        except ApiError as e:
            wf = self.client.get(WORKFLOWS, ns, wf_name) if e.code == 409 else None
            if wf is None or not owned_by(wf, cwf["metadata"]["uid"]):
                if e.code == 409:    # somebody else's object of that name: upstream ignores it too
                    return out
                return {**out, "error": f"Failed to submit Workflow: {e}"}
        return {**out, "created": wf, "scheduled": _rfc3339(due)}

    def _workflow(self, cwf: dict, name: str, due: float, tz: dt.tzinfo) -> dict:
        m = cwf["metadata"]
        wmeta = cwf["spec"].get("workflowMetadata") or {}
        labels = {k: v for k, v in (m.get("labels") or {}).items() if k in PROPAGATED_LABELS}
        labels[LABEL_CRON_WORKFLOW] = m["name"]
        labels.update(wmeta.get("labels") or {})
        annotations = {ANN_SCHEDULED_TIME: _rfc3339(due, tz), **(wmeta.get("annotations") or {})}
        meta = {"name": name, "namespace": m["namespace"], "labels": labels, "annotations": annotations,
                "ownerReferences": [controller_ref(cwf)]}
        if wmeta.get("finalizers"):
            meta["finalizers"] = list(wmeta["finalizers"])
        return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": meta,
                "spec": copy.deepcopy(cwf["spec"].get("workflowSpec") or {})}

    # -- status --
    def _write_status(self, cwf: dict, children: list[dict], error: str | None, outcome: dict) -> bool:
        by_uid = {w["metadata"]["uid"]: w for w in children}
        created = outcome.get("created")
        if created is not None:
            by_uid[created["metadata"]["uid"]] = created
        suspended = bool((cwf.get("spec") or {}).get("suspend"))

        def change_status(o: dict) -> None:
            st = o.setdefault("status", {})
            active, seen = [], set()
            for ref in st.get("active") or []:
                w = by_uid.get(ref.get("uid"))
                if w is not None and _fulfilled(w):     # completed since last seen: count it once
                    phase = w["status"]["phase"]
                    field = "succeeded" if phase == "Succeeded" else "failed"
                    st[field] = int(st.get(field) or 0) + 1
                elif w is not None:
                    active.append(ref)
                    seen.add(ref.get("uid"))
            for uid, w in by_uid.items():
                if uid not in seen and not _fulfilled(w) and not w["metadata"].get("deletionTimestamp"):
                    active.append(_ref(w))
            if active:
                st["active"] = active
            else:
                st.pop("active", None)
            st.setdefault("succeeded", 0)
            st.setdefault("failed", 0)
            if error is not None:
                _set_cond(st, COND_SPEC_ERROR, error)
            else:
                _drop_cond(st, COND_SPEC_ERROR)
            if outcome.get("error"):
                _set_cond(st, COND_SUBMISSION_ERROR, outcome["error"])
                st["failed"] += 1
            elif outcome.get("scheduled"):
                _drop_cond(st, COND_SUBMISSION_ERROR)
                st["lastScheduledTime"] = outcome["scheduled"]
            if not st["conditions"]:
                st.pop("conditions")
            st["phase"] = "Stopped" if suspended else "Active"

        def change_meta(o: dict) -> None:
            if outcome.get("annotation"):
                o["metadata"].setdefault("annotations", {})[ANN_LAST_USED_SCHEDULE] = outcome["annotation"]

        ns, name = cwf["metadata"]["namespace"], cwf["metadata"]["name"]
        try:
            if self.client.kind(CRON_WORKFLOWS).has_status:
                self.client.mutate(CRON_WORKFLOWS, ns, name, change_meta)
                self.client.mutate(CRON_WORKFLOWS, ns, name, change_status, "status")
            else:   # Argo's CRDs: status is part of the main resource
                def change_all(o: dict) -> None:
                    change_meta(o)
                    change_status(o)
                self.client.mutate(CRON_WORKFLOWS, ns, name, change_all)
        except ApiError as e:
            if e.code == 409:
                return False
            raise
        return True

    def _history(self, cwf: dict, children: list[dict]) -> None:
        spec = cwf.get("spec") or {}
        name = cwf["metadata"]["name"]
        mine = [w for w in children if (w["metadata"].get("labels") or {}).get(LABEL_CRON_WORKFLOW) == name
                and _fulfilled(w) and not w["metadata"].get("deletionTimestamp")]
        for ok, field, default in ((True, "successfulJobsHistoryLimit", 3), (False, "failedJobsHistoryLimit", 1)):
            limit = spec.get(field)
            keep = int(limit) if limit is not None and int(limit) >= 0 else default
            done = [w for w in mine if (w["status"]["phase"] == "Succeeded") == ok]
            done.sort(key=lambda w: parse_ts((w.get("status") or {}).get("finishedAt")) or 0.0, reverse=True)
            for w in done[keep:]:
                self.client.delete(WORKFLOWS, w["metadata"]["namespace"], w["metadata"]["name"],
                                   uid=w["metadata"]["uid"])


def _terminate(wf: dict):
    """``argo terminate``: ``spec.shutdown: Terminate`` unless the Workflow completed or is already shutting down."""
    if _fulfilled(wf) or (wf.get("spec") or {}).get("shutdown"):
        return False
    wf.setdefault("spec", {})["shutdown"] = "Terminate"
    return None
