"""The sandbox's CronWorkflow controller (sandbox/argo/cron.py): schedules, created Workflows, status, concurrency
policies, missed runs, history limits, SpecError / SubmissionError.

The Workflows these CronWorkflows create wait on a `suspend` template, so they never complete by themselves
whether or not the sandbox's Workflow controller runs; tests complete them as the admin (status.phase and the
`completed` label), as the Workflow controller would.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from argo_helpers import GROUP, call, workflow_path
from sbx import wait_for

ARGO_USER = "system:serviceaccount:argo:argo"
CRON_CONTROLLER = "argo-cron-controller"
LABEL_CRON = "workflows.argoproj.io/cron-workflow"
ANN_SCHEDULED = "workflows.argoproj.io/scheduled-time"
ANN_LAST_USED = "cronworkflows.argoproj.io/last-used-schedule"
WAITING_SPEC = {"entrypoint": "hold", "templates": [{"name": "hold", "suspend": {}}]}


def cron_path(ns, name=""):
    return f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/cronworkflows" + (f"/{name}" if name else "")


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_cron(sandbox, ns, name, spec, metadata=None, status=None):
    body = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": name, **(metadata or {})},
            "spec": {"workflowSpec": WAITING_SPEC, **spec}}
    if status:
        body["status"] = status
    code, out = call(sandbox, "POST", cron_path(ns), body)
    assert code == 201, (code, out)
    return out


def get_cron(sandbox, ns, name):
    code, out = call(sandbox, "GET", cron_path(ns, name))
    assert code == 200, (code, out)
    return out


def patch_cron(sandbox, ns, name, patch):
    code, out = call(sandbox, "PATCH", cron_path(ns, name), patch, content_type="application/merge-patch+json")
    assert code == 200, (code, out)
    return out


def workflows(sandbox, ns, cron):
    code, out = call(sandbox, "GET", workflow_path(ns) + f"?labelSelector={LABEL_CRON}%3D{cron}")
    assert code == 200, (code, out)
    return sorted(out["items"], key=lambda w: w["metadata"]["name"])


def wait_workflows(sandbox, ns, cron, count, timeout=30):
    def enough():
        ws = workflows(sandbox, ns, cron)
        return ws if len(ws) >= count else None
    return wait_for(enough, timeout, what=f"{count} workflows of {cron}")


def wait_status(sandbox, ns, name, pred, what, timeout=30):
    def reached():
        c = get_cron(sandbox, ns, name)
        return c if pred(c.get("status") or {}) else None
    return wait_for(reached, timeout, what=what)


def settled(sandbox, ns, name):
    """Touch the CronWorkflow (an annotation) and wait until the cron controller has finished a reconcile that
    began with that version of it: what the controller does for the current state, it has done."""
    touched = patch_cron(sandbox, ns, name, {"metadata": {"annotations": {"test.mlops.k8s/touch": uuid.uuid4().hex}}})
    version = int(touched["metadata"]["resourceVersion"])
    wait_for(lambda: int(sandbox.reconciled(CRON_CONTROLLER, ns, name)["resourceVersion"]) >= version, 15,
             what=f"the cron controller to reconcile {ns}/{name} at resourceVersion {version}")


def ticks_evaluated(sandbox, ns, name, count):
    """Wait until the cron controller has finished ``count`` more reconciles of the CronWorkflow: it arms itself
    for each tick of the schedule, so with ``@every 1s`` that many ticks have come and been decided on."""
    seen = sandbox.reconciles(CRON_CONTROLLER, ns, name)
    wait_for(lambda: sandbox.reconciles(CRON_CONTROLLER, ns, name) >= seen + count, 15,
             what=f"{count} more reconciles of {ns}/{name}")


def condition(st, ctype):
    return next((c for c in st.get("conditions") or [] if c["type"] == ctype), None)


def complete(sandbox, wf, phase, finished_at):
    """Finish a Workflow as the Workflow controller would (PUT of the whole object; retried on conflicts)."""
    ns, name = wf["metadata"]["namespace"], wf["metadata"]["name"]
    for _ in range(20):
        _, cur = call(sandbox, "GET", workflow_path(ns, name))
        cur["metadata"].setdefault("labels", {})["workflows.argoproj.io/completed"] = "true"
        cur["status"] = {**(cur.get("status") or {}), "phase": phase, "finishedAt": finished_at}
        code, out = call(sandbox, "PUT", workflow_path(ns, name), cur)
        if code == 200:
            return out
        assert code == 409, (code, out)
    raise AssertionError(f"could not complete {name}")


def rfc3339(ts):
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(text):
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def this_new_year():
    return int(dt.datetime(dt.datetime.now(dt.UTC).year, 1, 1, tzinfo=dt.UTC).timestamp())


def test_scheduled_workflow_and_status(sandbox, argo_ns):
    name = uniq("every")
    cron = create_cron(sandbox, argo_ns, name, {
        "schedule": "@every 1s", "concurrencyPolicy": "Forbid",
        "workflowMetadata": {"labels": {"team": "ml"}, "annotations": {"note": "nightly"}}},
        metadata={"labels": {"workflows.argoproj.io/creator": "alice", "other": "x"}})
    (wf,) = wait_workflows(sandbox, argo_ns, name, 1)
    m = wf["metadata"]
    scheduled = m["annotations"][ANN_SCHEDULED]
    assert m["name"] == f"{name}-{unix(scheduled)}"
    assert scheduled.endswith("Z")
    # (the Workflow controller, when it runs, adds its phase / completed labels)
    assert {LABEL_CRON: name, "team": "ml", "workflows.argoproj.io/creator": "alice"}.items() <= m["labels"].items()
    assert "other" not in m["labels"]
    assert m["annotations"]["note"] == "nightly"
    assert m["ownerReferences"] == [{"apiVersion": f"{GROUP}/v1alpha1", "kind": "CronWorkflow", "name": name,
                                     "uid": cron["metadata"]["uid"], "controller": True,
                                     "blockOwnerDeletion": True}]
    assert wf["spec"]["entrypoint"] == "hold"
    assert wf["spec"]["templates"] == WAITING_SPEC["templates"]
    assert {f["manager"] for f in m["managedFields"]} == {"workflow-controller"}

    c = wait_status(sandbox, argo_ns, name, lambda st: st.get("active"), "status.active")
    st = c["status"]
    assert [a["name"] for a in st["active"]] == [m["name"]]
    assert st["active"][0]["uid"] == m["uid"] and st["active"][0]["kind"] == "Workflow"
    assert st["lastScheduledTime"] == rfc3339(unix(scheduled))
    assert st["phase"] == "Active" and st["succeeded"] == 0 and st["failed"] == 0
    assert not st.get("conditions")
    assert c["metadata"]["annotations"][ANN_LAST_USED] == "@every 1s"
    writers = {e["user"] for e in sandbox.writes(0, user=None) if e["path"].startswith(workflow_path(argo_ns))
               and e["method"] == "POST"}
    assert writers == {ARGO_USER}

    ticks_evaluated(sandbox, argo_ns, name, 3)   # Forbid: the running one blocks further runs
    assert [w["metadata"]["name"] for w in workflows(sandbox, argo_ns, name)] == [m["name"]]


def test_counters_and_history_limits(sandbox, argo_ns):
    name = uniq("hist")
    create_cron(sandbox, argo_ns, name, {"schedule": "@every 1s", "successfulJobsHistoryLimit": 2})
    wait_workflows(sandbox, argo_ns, name, 5)
    patch_cron(sandbox, argo_ns, name, {"spec": {"suspend": True}})
    c = wait_status(sandbox, argo_ns, name, lambda st: st.get("phase") == "Stopped", "phase Stopped")
    settled(sandbox, argo_ns, name)
    c = get_cron(sandbox, argo_ns, name)
    wfs = workflows(sandbox, argo_ns, name)
    assert len(wfs) == len(c["status"]["active"])
    succeeded, failed, running = wfs[:3], wfs[3:5], wfs[5:]
    base = time.time() - 100
    for i, wf in enumerate(succeeded):
        complete(sandbox, wf, "Succeeded", rfc3339(base + i))
    for i, wf in enumerate(failed):
        complete(sandbox, wf, "Failed" if i else "Error", rfc3339(base + i))

    c = wait_status(sandbox, argo_ns, name, lambda st: st.get("succeeded") == 3 and st.get("failed") == 2,
                    "succeeded 3, failed 2")
    assert sorted(a["name"] for a in c["status"].get("active") or []) == \
        sorted(w["metadata"]["name"] for w in running)

    def kept():
        names = {w["metadata"]["name"] for w in workflows(sandbox, argo_ns, name)}
        return names if len(names) == len(running) + 3 else None
    names = wait_for(kept, 15, what="history limits applied")
    # the newest by finishedAt stay: 2 successful (limit 2), 1 failed (default 1)
    assert names == {w["metadata"]["name"] for w in [*succeeded[1:], failed[1], *running]}
    settled(sandbox, argo_ns, name)
    assert get_cron(sandbox, argo_ns, name)["status"]["succeeded"] == 3   # counted once


def test_replace_terminates_running_workflows(sandbox, argo_ns):
    name = uniq("replace")
    create_cron(sandbox, argo_ns, name, {"schedule": "@every 1s", "concurrencyPolicy": "Replace",
                                         "failedJobsHistoryLimit": 100})
    first, *_ = wait_workflows(sandbox, argo_ns, name, 2)
    patch_cron(sandbox, argo_ns, name, {"spec": {"suspend": True}})
    wait_status(sandbox, argo_ns, name, lambda st: st.get("phase") == "Stopped", "phase Stopped")
    *older, newest = workflows(sandbox, argo_ns, name)
    assert first["metadata"]["name"] in {w["metadata"]["name"] for w in older}
    # upstream stops them as `argo terminate` does; the Workflow controller (if running) then fails them
    assert all(w["spec"].get("shutdown") == "Terminate" for w in older)
    assert not newest["spec"].get("shutdown")


def test_allow_runs_concurrently_and_schedules_list(sandbox, argo_ns):
    name = uniq("allow")
    create_cron(sandbox, argo_ns, name, {"schedules": ["@every 1s", "0 0 1 1 *"]})
    wfs = wait_workflows(sandbox, argo_ns, name, 3)
    patch_cron(sandbox, argo_ns, name, {"spec": {"suspend": True}})
    times = [unix(w["metadata"]["annotations"][ANN_SCHEDULED]) for w in wfs]
    assert len(set(times)) == len(times)
    assert all(not w["spec"].get("shutdown") for w in wfs)
    c = get_cron(sandbox, argo_ns, name)
    assert c["metadata"]["annotations"][ANN_LAST_USED] == "@every 1s,0 0 1 1 *"


def test_timezone(sandbox, argo_ns):
    name = uniq("tz")
    create_cron(sandbox, argo_ns, name, {"schedule": "@every 1s", "timezone": "Asia/Kolkata",
                                         "concurrencyPolicy": "Forbid"})
    (wf,) = wait_workflows(sandbox, argo_ns, name, 1)
    scheduled = wf["metadata"]["annotations"][ANN_SCHEDULED]
    assert scheduled.endswith("+05:30")
    assert wf["metadata"]["name"] == f"{name}-{unix(scheduled)}"
    c = wait_status(sandbox, argo_ns, name, lambda st: st.get("lastScheduledTime"), "lastScheduledTime")
    assert c["metadata"]["annotations"][ANN_LAST_USED] == "CRON_TZ=Asia/Kolkata @every 1s"


@pytest.mark.parametrize(("deadline", "runs"), [(400 * 86400, True), (60, False), (None, False)])
def test_missed_run_on_resume(sandbox, argo_ns, deadline, runs):
    """A yearly schedule last run in 2020: on resume the missed tick (this New Year) runs once, only within
    startingDeadlineSeconds."""
    name = uniq("missed")
    spec = {"schedule": "0 0 1 1 *", "suspend": True}
    if deadline is not None:
        spec["startingDeadlineSeconds"] = deadline
    create_cron(sandbox, argo_ns, name, spec, metadata={"annotations": {ANN_LAST_USED: "0 0 1 1 *"}},
                status={"lastScheduledTime": "2020-01-01T00:00:00Z"})
    wait_status(sandbox, argo_ns, name, lambda st: st.get("phase") == "Stopped", "phase Stopped")
    assert workflows(sandbox, argo_ns, name) == []
    patch_cron(sandbox, argo_ns, name, {"spec": {"suspend": False}})
    c = wait_status(sandbox, argo_ns, name, lambda st: st.get("phase") == "Active", "phase Active")
    if runs:
        (wf,) = wait_workflows(sandbox, argo_ns, name, 1)
        assert wf["metadata"]["name"] == f"{name}-{this_new_year()}"
        c = wait_status(sandbox, argo_ns, name, lambda st: st.get("active"), "status.active")
        assert c["status"]["lastScheduledTime"] == rfc3339(this_new_year())
    else:
        settled(sandbox, argo_ns, name)
        assert workflows(sandbox, argo_ns, name) == []
        assert get_cron(sandbox, argo_ns, name)["status"]["lastScheduledTime"] == "2020-01-01T00:00:00Z"


def test_already_existing_workflow_is_idempotent(sandbox, argo_ns):
    """The Workflow of a tick already exists: one of this CronWorkflow's counts as submitted (no error);
    somebody else's is left alone, as upstream ignores AlreadyExists."""
    for owned in (True, False):
        name = uniq("exists")
        cron = create_cron(sandbox, argo_ns, name, {"schedule": "0 0 1 1 *", "suspend": True,
                                                    "startingDeadlineSeconds": 400 * 86400},
                           metadata={"annotations": {ANN_LAST_USED: "0 0 1 1 *"}},
                           status={"lastScheduledTime": "2020-01-01T00:00:00Z"})
        meta = {"name": f"{name}-{this_new_year()}", "labels": {LABEL_CRON: name}}
        if owned:
            meta["ownerReferences"] = [{"apiVersion": f"{GROUP}/v1alpha1", "kind": "CronWorkflow", "name": name,
                                        "uid": cron["metadata"]["uid"], "controller": True}]
        code, out = call(sandbox, "POST", workflow_path(argo_ns), {
            "apiVersion": f"{GROUP}/v1alpha1", "kind": "Workflow", "metadata": meta, "spec": WAITING_SPEC})
        assert code == 201, out
        wait_status(sandbox, argo_ns, name, lambda st: st.get("phase") == "Stopped", "phase Stopped")
        patch_cron(sandbox, argo_ns, name, {"spec": {"suspend": False}})
        if owned:
            c = wait_status(sandbox, argo_ns, name, lambda st: st.get("lastScheduledTime", "").startswith(
                str(dt.datetime.now(dt.UTC).year)), "lastScheduledTime of this New Year")
            assert [a["uid"] for a in c["status"]["active"]] == [out["metadata"]["uid"]]
        else:
            wait_status(sandbox, argo_ns, name, lambda st: st.get("phase") == "Active", "phase Active")
            settled(sandbox, argo_ns, name)
            c = get_cron(sandbox, argo_ns, name)
            assert c["status"]["lastScheduledTime"] == "2020-01-01T00:00:00Z"
            assert not c["status"].get("active")
        assert not condition(c["status"], "SubmissionError")
        assert len(workflows(sandbox, argo_ns, name)) == 1


@pytest.mark.parametrize(("spec", "message"), [
    ({"schedule": "every day"}, "cron schedule every day is malformed: expected exactly 5 fields"),
    ({"schedule": "61 * * * *"}, "cron schedule 61 * * * * is malformed: end of range (61) above maximum (59)"),
    ({"schedule": "0 0 * * 7"}, "cron schedule 0 0 * * 7 is malformed: end of range (7) above maximum (6)"),
    ({"schedule": ""}, "cron schedule  is malformed: empty spec string"),
    ({"schedule": "@every 1s", "timezone": "Mars/Olympus"},
     "cron schedule CRON_TZ=Mars/Olympus @every 1s is malformed: provided bad location Mars/Olympus"),
    ({"schedule": "@every 1s", "schedules": ["@every 2s"]}, "cant be configured with both"),
    ({"schedule": "@every 1s", "concurrencyPolicy": "Sometimes"}, "'Sometimes' is not a valid concurrencyPolicy"),
    ({"schedule": "@every 1s", "workflowSpec": {"templates": [{"name": "a", "suspend": {}}]}},
     "cannot validate Workflow: spec.entrypoint is required"),
    ({"schedule": "@every 1s", "workflowSpec": {"entrypoint": "b", "templates": [{"name": "a", "suspend": {}}]}},
     "cannot validate Workflow: template name 'b' undefined"),
    ({"schedule": "@every 1s", "workflowSpec": {"workflowTemplateRef": {"name": "nope"}}},
     'cannot validate Workflow: workflowtemplates.argoproj.io "nope" not found'),
])
def test_spec_error(sandbox, argo_ns, spec, message):
    name = uniq("bad")
    create_cron(sandbox, argo_ns, name, spec)
    c = wait_status(sandbox, argo_ns, name, lambda st: condition(st, "SpecError"), "SpecError")
    cond = condition(c["status"], "SpecError")
    assert cond["status"] == "True" and message in cond["message"], cond
    settled(sandbox, argo_ns, name)
    assert workflows(sandbox, argo_ns, name) == []


def test_spec_error_cleared_when_fixed(sandbox, argo_ns):
    name = uniq("fix")
    create_cron(sandbox, argo_ns, name, {"schedule": "not a schedule", "concurrencyPolicy": "Forbid"})
    wait_status(sandbox, argo_ns, name, lambda st: condition(st, "SpecError"), "SpecError")
    patch_cron(sandbox, argo_ns, name, {"spec": {"schedule": "@every 1s"}})
    wait_workflows(sandbox, argo_ns, name, 1)
    c = wait_status(sandbox, argo_ns, name, lambda st: not condition(st, "SpecError"), "SpecError cleared")
    assert not c["status"].get("conditions")


def test_submission_error(sandbox, argo_ns):
    """Creating the Workflow fails (the namespace is terminating; a finalizer keeps the CronWorkflow, which upstream
    keeps scheduling while it exists): condition SubmissionError with the API's message, `failed` counts it."""
    name = uniq("subm")
    create_cron(sandbox, argo_ns, name, {"schedule": "@every 1s", "concurrencyPolicy": "Forbid"},
                metadata={"finalizers": ["tests.example.com/hold"]})
    wait_workflows(sandbox, argo_ns, name, 1)
    try:
        call(sandbox, "DELETE", f"/api/v1/namespaces/{argo_ns}")
        c = wait_status(sandbox, argo_ns, name, lambda st: condition(st, "SubmissionError"), "SubmissionError")
        cond = condition(c["status"], "SubmissionError")
        assert cond["status"] == "True"
        assert cond["message"].startswith("Failed to submit Workflow: ")
        assert "being terminated" in cond["message"], cond
        assert c["status"]["failed"] >= 1
    finally:
        patch_cron(sandbox, argo_ns, name, {"metadata": {"finalizers": None}})
