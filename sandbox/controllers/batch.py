"""Job and CronJob controllers."""

from __future__ import annotations

import copy
import datetime as dt
import time

from .base import (
    PODS,
    Controller,
    condition,
    controller_ref,
    enqueue_owner,
    now,
    owned_by,
    parse_ts,
    pod_active,
    store_condition,
)
from .cron import CronError, Schedule
from .pods import ready_for

JOBS = ("batch", "jobs")
CRONJOBS = ("batch", "cronjobs")


def _finished(job: dict) -> str | None:
    for t in ("Complete", "Failed"):
        c = condition(job.get("status") or {}, t)
        if c and c.get("status") == "True":
            return t
    return None


def _job_cond(st: dict, ctype: str, status: str, reason: str = "", message: str = "") -> None:
    conds = st.setdefault("conditions", [])
    t = now()
    cur = next((c for c in conds if c.get("type") == ctype), None)
    new = {"type": ctype, "status": status, "lastProbeTime": t, "lastTransitionTime": t}
    if cur and cur.get("status") == status:
        new["lastTransitionTime"] = cur.get("lastTransitionTime", t)
    store_condition(conds, cur, new, reason, message)


class JobController(Controller):
    name = "job"
    primary = JOBS
    watch_keys = (PODS,)

    def keys_for(self, ev):
        return super().keys_for(ev) if ev.key == JOBS else enqueue_owner(ev.obj, "Job")

    def reconcile(self, ns: str, name: str):  # noqa: PLR0912, PLR0915 - the steps of the Job controller's syncJob (pods, completions, failures, deadline, status), in its order
        job = self.client.get(JOBS, ns, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        spec, uid = job["spec"], job["metadata"]["uid"]
        pods = [p for p in self.client.list(PODS, ns) if owned_by(p, uid)]
        # a pod being deleted is counted neither way (the kubelet makes it terminal just before it goes)
        terminating = sum(1 for p in pods if p["metadata"].get("deletionTimestamp")
                          and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
        pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in pods if pod_active(p)]
        st0 = job.get("status") or {}
        done = _finished(job)
        if done:
            for p in active:
                self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
            return self._ttl(job)
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        backoff = int(spec.get("backoffLimit", 6))
        suspended = bool(spec.get("suspend"))
        start = st0.get("startTime")
        outcome = None
        requeue = None
        if failed > backoff:
            outcome = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif spec.get("activeDeadlineSeconds") is not None and start and not suspended:
            left = (parse_ts(start) or time.time()) + int(spec["activeDeadlineSeconds"]) - time.time()
            if left <= 0:
                outcome = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            else:
                requeue = left + 0.05
        if outcome is None:
            target = int(completions) if completions is not None else 1
            if succeeded >= target or (completions is None and succeeded > 0 and not active):
                outcome = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        if outcome is not None or suspended:
            for p in active:
                self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
                if outcome is None:
                    self.recorder.normal(job, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
            active = []
        else:
            target = int(completions) if completions is not None else parallelism
            want = min(parallelism, max(0, target - succeeded))
            for _ in range(want - len(active)):
                active.append(self._create_pod(job))
        ready = sum(1 for p in active if ready_for(p, 0))

        def change(o):
            st = o.setdefault("status", {})
            if not suspended and not st.get("startTime"):
                st["startTime"] = now()
            st["active"] = len(active)
            st["ready"] = ready
            st["succeeded"] = succeeded
            st["failed"] = failed
            st["terminating"] = terminating
            st["uncountedTerminatedPods"] = {}
            for f in ("active", "succeeded", "failed"):
                if not st[f]:
                    st.pop(f)
            if suspended and outcome is None:
                _job_cond(st, "Suspended", "True", "JobSuspended", "Job suspended")
            elif condition(st, "Suspended"):
                _job_cond(st, "Suspended", "False", "JobResumed", "Job resumed")
            if outcome:
                t, reason, message = outcome
                if t == "Complete":
                    _job_cond(st, "SuccessCriteriaMet", "True", reason, message)
                    st["completionTime"] = now()
                else:
                    _job_cond(st, "FailureTarget", "True", reason, message)
                _job_cond(st, t, "True", reason, message)
        self.client.mutate(JOBS, ns, name, change, "status")
        if outcome:
            if outcome[0] == "Complete":
                self.recorder.normal(job, "Completed", "Job completed")
            else:
                self.recorder.warning(job, outcome[1], outcome[2])
            return 0.0
        return requeue

    def _ttl(self, job: dict):
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        st = job.get("status") or {}
        c = condition(st, "Complete") or condition(st, "Failed") or {}
        finished = parse_ts(st.get("completionTime") or c.get("lastTransitionTime")) or time.time()
        left = finished + int(ttl) - time.time()
        if left > 0:
            return left + 0.05
        self.client.delete(JOBS, job["metadata"]["namespace"], job["metadata"]["name"], "Background",
                           uid=job["metadata"]["uid"])
        return None

    def _create_pod(self, job: dict) -> dict:
        tpl = copy.deepcopy(job["spec"].get("template") or {})
        m = tpl.get("metadata") or {}
        uid, name = job["metadata"]["uid"], job["metadata"]["name"]
        labels = dict(m.get("labels") or {}, **{"batch.kubernetes.io/controller-uid": uid,
                                                "batch.kubernetes.io/job-name": name, "controller-uid": uid,
                                                "job-name": name})
        spec = tpl.get("spec") or {}
        spec.setdefault("restartPolicy", "Never")
        body = {"metadata": {"generateName": f"{name}-", "namespace": job["metadata"]["namespace"],
                             "labels": labels, "ownerReferences": [controller_ref(job)]}, "spec": spec}
        if m.get("annotations"):
            body["metadata"]["annotations"] = m["annotations"]
        pod = self.client.create(PODS, job["metadata"]["namespace"], body)
        self.recorder.normal(job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        return pod


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CronJobController(Controller):
    name = "cronjob"
    primary = CRONJOBS
    watch_keys = (JOBS,)
    user = "system:serviceaccount:kube-system:cronjob-controller"

    def keys_for(self, ev):
        return super().keys_for(ev) if ev.key == CRONJOBS else enqueue_owner(ev.obj, "CronJob")

    def reconcile(self, ns: str, name: str):  # noqa: PLR0912, PLR0915 - the steps of the CronJob controller's sync (history, missed schedules, concurrency policy, suspend), in its order
        cj = self.client.get(CRONJOBS, ns, name)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return None
        spec, uid = cj["spec"], cj["metadata"]["uid"]
        jobs = sorted((j for j in self.client.list(JOBS, ns) if owned_by(j, uid)),
                      key=lambda j: j["metadata"].get("creationTimestamp", ""))
        st0 = cj.get("status") or {}
        active = [j for j in jobs if not _finished(j)]
        last_success = st0.get("lastSuccessfulTime")
        for j in jobs:
            if _finished(j) == "Complete":
                ct = (j.get("status") or {}).get("completionTime")
                if ct and (not last_success or ct > last_success):
                    last_success = ct
                    self.recorder.normal(cj, "SawCompletedJob",
                                         f"Saw completed job: {j['metadata']['name']}, condition: Complete")
        self._history(cj, jobs)
        try:
            sched = Schedule(spec.get("schedule", ""))
        except CronError as e:
            self.recorder.warning(cj, "UnparseableSchedule", f"unparseable schedule: {spec.get('schedule')!r} : {e}")
            return None
        tz = dt.UTC
        if spec.get("timeZone"):
            try:
                from zoneinfo import ZoneInfo
                tz = ZoneInfo(spec["timeZone"])
            except Exception:
                self.recorder.warning(cj, "UnknownTimeZone", f"invalid timeZone: {spec['timeZone']!r}")
                return None
        nowt = dt.datetime.now(tz)
        last = parse_ts(st0.get("lastScheduleTime")) or parse_ts(cj["metadata"].get("creationTimestamp")) or \
            time.time()
        t = dt.datetime.fromtimestamp(last, tz)
        due = None
        for _ in range(1000):
            nxt = sched.next(t)
            if nxt is None or nxt > nowt:
                break
            due = t = nxt
        scheduled = st0.get("lastScheduleTime")
        if due is not None and not spec.get("suspend"):
            deadline = spec.get("startingDeadlineSeconds")
            too_late = deadline is not None and (nowt - due).total_seconds() > int(deadline)
            policy = spec.get("concurrencyPolicy", "Allow")
            if too_late:
                self.recorder.warning(cj, "MissSchedule", f"Missed scheduled time to start a job: {_rfc3339(due)}")
                scheduled = _rfc3339(due)
            elif policy == "Forbid" and active:
                self.recorder.normal(cj, "JobAlreadyActive", "Not starting job because prior execution is running "
                                     "and concurrency policy is Forbid")
            else:
                if policy == "Replace":
                    for j in active:
                        self.client.delete(JOBS, ns, j["metadata"]["name"], "Background", uid=j["metadata"]["uid"])
                        self.recorder.normal(cj, "SuccessfulDelete", f"Deleted job {j['metadata']['name']}")
                    active = []
                job = self._create_job(cj, due)
                if job is not None:
                    active.append(job)
                scheduled = _rfc3339(due)
        refs = [{"apiVersion": "batch/v1", "kind": "Job", "name": j["metadata"]["name"],
                 "namespace": ns, "uid": j["metadata"]["uid"],
                 "resourceVersion": j["metadata"].get("resourceVersion")} for j in active]

        def change(o):
            st = o.setdefault("status", {})
            if refs:
                st["active"] = refs
            else:
                st.pop("active", None)
            if scheduled:
                st["lastScheduleTime"] = scheduled
            if last_success:
                st["lastSuccessfulTime"] = last_success
        self.client.mutate(CRONJOBS, ns, name, change, "status")
        nxt = sched.next(dt.datetime.now(tz))
        return None if nxt is None else max(0.05, (nxt - dt.datetime.now(tz)).total_seconds() + 0.05)

    def _history(self, cj: dict, jobs: list[dict]) -> None:
        ns = cj["metadata"]["namespace"]
        for kind, limit in (("Complete", cj["spec"].get("successfulJobsHistoryLimit", 3)),
                            ("Failed", cj["spec"].get("failedJobsHistoryLimit", 1))):
            done = [j for j in jobs if _finished(j) == kind and not j["metadata"].get("deletionTimestamp")]
            for j in done[:max(0, len(done) - int(limit))]:
                self.client.delete(JOBS, ns, j["metadata"]["name"], "Background", uid=j["metadata"]["uid"])
                self.recorder.normal(cj, "SuccessfulDelete", f"Deleted job {j['metadata']['name']}")

    def _create_job(self, cj: dict, t: dt.datetime) -> dict | None:
        tpl = copy.deepcopy(cj["spec"].get("jobTemplate") or {})
        m = tpl.get("metadata") or {}
        name = f"{cj['metadata']['name']}-{int(t.timestamp() // 60)}"
        ann = dict(m.get("annotations") or {}, **{"batch.kubernetes.io/cronjob-scheduled-timestamp": _rfc3339(t)})
        body = {"metadata": {"name": name, "namespace": cj["metadata"]["namespace"], "labels": m.get("labels") or {},
                             "annotations": ann, "ownerReferences": [controller_ref(cj)]},
                "spec": tpl.get("spec") or {}}
        from ..machinery.errors import ApiError
        try:
            job = self.client.create(JOBS, cj["metadata"]["namespace"], body)
        except ApiError as e:
            if e.code == 409:
                return self.client.get(JOBS, cj["metadata"]["namespace"], name)
            self.recorder.warning(cj, "FailedCreate", f"Error creating job: {e}")
            return None
        self.recorder.normal(cj, "SuccessfulCreate", f"Created job {name}")
        return job
