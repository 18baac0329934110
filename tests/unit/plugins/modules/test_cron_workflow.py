"""mlops.k8s.cron_workflow run as Ansible runs it, against the recorded-response API."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import argo_status
from ansible_collections.mlops.k8s.plugins.modules import cron_workflow

GV = "argoproj.io/v1alpha1"
SPEC = {"entrypoint": "main", "templates": [
    {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c", "echo hi"]}}]}
ARGS = {"name": "nightly", "namespace": "models", "schedule": "0 3 * * *", "timezone": "UTC",
        "concurrency_policy": "Forbid", "successful_jobs_history_limit": 2, "workflow_spec": SPEC}


@pytest.fixture
def cluster(fake_cluster, monkeypatch):
    fake_cluster.add_kind(GV, "Workflow", "workflows")
    fake_cluster.add_kind(GV, "CronWorkflow", "cronworkflows")
    fake_cluster.add_kind("v1", "Event", "events")
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    monkeypatch.setattr(argo_status, "read_pod_log", lambda *a, **k: "")
    return fake_cluster


def args_with(**changes):
    """ARGS with changes; None removes an option (as a task that does not give it)."""
    out = dict(ARGS, **changes)
    return {k: v for k, v in out.items() if v is not None}


def stored(cluster, name="nightly"):
    return cluster.get_obj(GV, "CronWorkflow", name, "models")


def test_create_then_second_run_writes_nothing(cluster, run_module):
    failed, result = run_module(cron_workflow, ARGS)
    assert not failed, result
    assert result["changed"] is True and result["action"] == "created"
    applied = [r for r in cluster.writes() if r.method == "PATCH"]
    assert len(applied) == 1 and applied[0].query["fieldManager"] == "mlops.k8s"
    assert applied[0].body["spec"] == {"schedule": "0 3 * * *", "timezone": "UTC", "concurrencyPolicy": "Forbid",
                                       "successfulJobsHistoryLimit": 2, "workflowSpec": SPEC}
    assert result["cron_workflow"]["metadata"]["name"] == "nightly"
    assert "workflow" not in result

    mark = cluster.mark()
    failed, result = run_module(cron_workflow, ARGS)
    assert not failed, result
    assert result["changed"] is False and result["action"] == "unchanged"
    assert [r for r in cluster.since(mark) if r.is_write] == []


def test_suspend_and_resume_with_diff(cluster, run_module):
    assert not run_module(cron_workflow, ARGS)[0]
    failed, result = run_module(cron_workflow, dict(ARGS, suspend=True), diff=True)
    assert not failed, result
    assert result["action"] == "configured"
    assert "suspend" not in result["diff"]["before"]["spec"] and result["diff"]["after"]["spec"]["suspend"] is True
    assert stored(cluster)["spec"]["suspend"] is True
    failed, result = run_module(cron_workflow, dict(ARGS, suspend=False))
    assert not failed and result["changed"] and stored(cluster)["spec"]["suspend"] is False


def test_check_mode_sends_no_write(cluster, run_module):
    failed, result = run_module(cron_workflow, dict(ARGS, submit=True), check_mode=True, diff=True)
    assert not failed, result
    assert result["changed"] is True and result["action"] == "created"
    assert result["diff"]["before"] == {}
    assert result["workflow"]["metadata"]["generateName"] == "nightly-"
    assert cluster.writes() == []
    assert stored(cluster) is None


@pytest.mark.parametrize(("args", "message"), [
    ({"schedule": "0 3 * *"}, "invalid CronWorkflow: schedule '0 3 * *': expected exactly 5 fields"),
    ({"schedule": "*/0 * * * *"}, "step of range should be a positive number"),
    ({"timezone": "Mars/Base"}, "timezone 'Mars/Base' is not a known time zone"),
    ({"workflow_spec": None}, "a workflow is required: give workflow_spec or workflow_template"),
    ({"workflow_template": "t"}, "parameters are mutually exclusive: workflow_spec|workflow_template"),
    ({"schedules": ["@daily"]}, "parameters are mutually exclusive: schedule|schedules"),
    ({"name": None}, "one of the following is required: name, definition"),
    ({"concurrency_policy": "Sometimes"}, "value of concurrency_policy must be one of: Allow, Forbid, Replace"),
])
def test_bad_input_fails_before_any_write(cluster, run_module, args, message):
    failed, result = run_module(cron_workflow, args_with(**args))
    assert failed
    assert message in result["msg"]
    assert cluster.writes() == []


def finish_workflows_with(cluster, status):
    """Every Workflow created from now on gets ``status``, as the Argo controller would set it."""
    original = cluster._create

    def create(req, ctx):
        created, body = original(req, ctx)
        if not req.dry_run and ctx[1] == "workflows":
            cluster.objects[(GV, "workflows", "models", body["metadata"]["name"])]["status"] = copy.deepcopy(status)
        return created, body

    cluster._create = create


def test_submit_runs_one_workflow_from_it(cluster, run_module):
    finish_workflows_with(cluster, {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
                                    "finishedAt": "2026-01-01T00:00:03Z",
                                    "outputs": {"parameters": [{"name": "n", "value": "1"}]}})
    failed, result = run_module(cron_workflow, args_with(workflow_spec=None, workflow_template="train",
                                                         parameters={"model": "iris"}, submit=True))
    assert not failed, result
    assert result["changed"] is True
    assert result["outputs"] == {"n": "1"}
    wf = result["workflow"]
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["metadata"]["generateName"] == "nightly-"
    assert wf["metadata"]["labels"]["workflows.argoproj.io/cron-workflow"] == "nightly"
    assert wf["metadata"]["ownerReferences"][0]["uid"] == stored(cluster)["metadata"]["uid"]
    assert wf["spec"] == {"workflowTemplateRef": {"name": "train"},
                          "arguments": {"parameters": [{"name": "model", "value": "iris"}]}}

    # the CronWorkflow is unchanged, but submit always submits
    mark = cluster.mark()
    failed, result = run_module(cron_workflow, args_with(workflow_spec=None, workflow_template="train",
                                                         parameters={"model": "iris"}, submit=True, wait=False))
    assert not failed and result["changed"] and result["action"] == "unchanged"
    assert [r.method for r in cluster.since(mark) if r.is_write] == ["POST"]


def test_submit_failure_is_explained(cluster, run_module):
    finish_workflows_with(cluster, {"phase": "Error", "message": "pod deleted", "startedAt": "2026-01-01T00:00:00Z",
                                    "finishedAt": "2026-01-01T00:00:03Z"})
    failed, result = run_module(cron_workflow, dict(ARGS, submit=True))
    assert failed
    assert result["msg"].startswith("Workflow models/nightly-") and result["msg"].endswith(
        " Error: phase Error: pod deleted")
    assert result["cron_workflow"]["metadata"]["name"] == "nightly" and result["phase"] == "Error"


def test_definition_with_overrides_and_absent(cluster, run_module):
    definition = {"apiVersion": GV, "kind": "CronWorkflow", "metadata": {"name": "etl"},
                  "spec": {"schedules": ["0 1 * * *", "0 13 * * *"], "workflowSpec": SPEC}}
    failed, result = run_module(cron_workflow, {"definition": definition, "namespace": "models", "suspend": True,
                                                "labels": {"team": "data"}})
    assert not failed, result
    obj = stored(cluster, "etl")
    assert obj["spec"]["schedules"] == ["0 1 * * *", "0 13 * * *"] and obj["spec"]["suspend"] is True
    assert obj["metadata"]["labels"] == {"team": "data"}
    failed, result = run_module(cron_workflow, {"definition": definition, "namespace": "models", "state": "absent"})
    assert not failed and result["action"] == "deleted" and stored(cluster, "etl") is None
    failed, result = run_module(cron_workflow, {"name": "etl", "namespace": "models", "state": "absent"})
    assert not failed and result["changed"] is False and result["action"] == "absent"


def test_missing_crd(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    failed, result = run_module(cron_workflow, ARGS)
    assert failed and result["msg"].startswith("the CronWorkflow CRD (argoproj.io/v1alpha1) is not installed")
    failed, result = run_module(cron_workflow, ARGS, check_mode=True)
    assert not failed and result["changed"] and "check mode could not validate" in str(result["warnings"])


@pytest.mark.parametrize("definition", ["hello", ["hello", "world"]])
def test_a_string_definition_fails_cleanly(cluster, run_module, definition):
    failed, result = run_module(cron_workflow, {"namespace": "models", "definition": definition})
    assert failed and "expected a mapping" in result["msg"], result
    assert cluster.writes() == []


def test_spec_errors_are_reported_before_the_kubeconfig_is_read(run_module, tmp_path):
    bad_spec = dict(SPEC, entrypoint="nope")
    failed, result = run_module(cron_workflow, dict(ARGS, workflow_spec=bad_spec,
                                                    kubeconfig=str(tmp_path / "missing-kubeconfig")))
    assert failed and "entrypoint 'nope' is not one of the templates" in result["msg"], result
