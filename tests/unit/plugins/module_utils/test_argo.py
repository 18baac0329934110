"""Argo Workflows helpers: building Workflows and CronWorkflows, schedules, status, explanations, submit."""

from __future__ import annotations

import copy
import datetime

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import argo, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from k8s_fake import FakeCluster, make_client

SPEC = {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox",
                                                                         "command": ["sh", "-c", "echo hi"]}}]}


def params(**kwargs):
    base = {"name": None, "generate_name": None, "namespace": None, "definition": None, "spec": None,
            "workflow_template": None, "cluster_scope": False, "cron_workflow": None, "parameters": None,
            "entrypoint": None, "service_account": None, "labels": None}
    base.update(kwargs)
    return base


def cron_params(**kwargs):
    base = {"name": "nightly", "namespace": "models", "definition": None, "schedule": "0 3 * * *",
            "schedules": None, "timezone": None, "concurrency_policy": None, "starting_deadline_seconds": None,
            "successful_jobs_history_limit": None, "failed_jobs_history_limit": None, "suspend": None,
            "workflow_spec": None, "workflow_template": "train", "cluster_scope": False, "parameters": None,
            "entrypoint": None, "service_account": None, "labels": None}
    base.update(kwargs)
    return base


# -- parameters and building --------------------------------------------------------------------------------
def test_parameter_values_are_strings():
    assert argo.parameter_value(True) == "true"
    assert argo.parameter_value(3) == "3"
    assert argo.parameter_value(0.5) == "0.5"
    assert argo.parameter_value({"b": 1, "a": [1]}) == '{"a": [1], "b": 1}'
    assert argo.parameter_value(None) == ""


def test_merge_parameters_replaces_by_name_and_appends():
    existing = [{"name": "model", "value": "iris"}, {"name": "uri", "valueFrom": {"configMapKeyRef": {}}},
                {"name": "keep", "value": "x"}]
    merged = argo.merge_parameters(existing, {"model": "wine", "uri": "s3://x", "epochs": 10})
    assert merged == [{"name": "model", "value": "wine"}, {"name": "uri", "value": "s3://x"},
                      {"name": "keep", "value": "x"}, {"name": "epochs", "value": "10"}]
    assert existing[0]["value"] == "iris"  # not modified in place


def test_build_from_spec_with_submit_options():
    wf = argo.build_workflow(params(name="hello", namespace="models", spec=SPEC, parameters={"n": 2},
                                    entrypoint="main", service_account="runner", labels={"team": "ml", "v": 2}))
    assert wf["apiVersion"] == "argoproj.io/v1alpha1" and wf["kind"] == "Workflow"
    assert wf["metadata"] == {"name": "hello", "namespace": "models", "labels": {"team": "ml", "v": "2"}}
    assert wf["spec"]["arguments"] == {"parameters": [{"name": "n", "value": "2"}]}
    assert wf["spec"]["serviceAccountName"] == "runner"
    assert "arguments" not in SPEC  # the option is not modified


def test_build_from_definition_yaml_name_overrides():
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-
  namespace: jobs
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: world}]
  templates: [{name: main, container: {image: busybox}}]
"""
    wf = argo.build_workflow(params(definition=text))
    assert wf["metadata"]["generateName"] == "hello-" and wf["metadata"]["namespace"] == "jobs"
    wf = argo.build_workflow(params(definition=text, name="fixed", namespace="other", parameters={"who": "you"}))
    assert wf["metadata"]["name"] == "fixed" and "generateName" not in wf["metadata"]
    assert wf["metadata"]["namespace"] == "other"
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "who", "value": "you"}]


def test_build_from_template_like_argo_submit_from():
    wf = argo.build_workflow(params(workflow_template="train-deploy", namespace="models",
                                    parameters={"model": "iris"}))
    assert wf["metadata"]["generateName"] == "train-deploy-"
    assert wf["metadata"]["labels"] == {"workflows.argoproj.io/workflow-template": "train-deploy"}
    assert wf["spec"] == {"workflowTemplateRef": {"name": "train-deploy"},
                          "arguments": {"parameters": [{"name": "model", "value": "iris"}]}}
    wf = argo.build_workflow(params(workflow_template="shared", cluster_scope=True, name="run-1"))
    assert wf["metadata"]["name"] == "run-1" and "generateName" not in wf["metadata"]
    assert wf["metadata"]["labels"] == {"workflows.argoproj.io/cluster-workflow-template": "shared"}
    assert wf["spec"]["workflowTemplateRef"] == {"name": "shared", "clusterScope": True}


def test_workflow_from_cron_like_argo_submit_from_cronwf():
    cron = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": "nightly", "namespace": "models", "uid": "uid-7",
                         "labels": {"workflows.argoproj.io/controller-instanceid": "i1", "other": "x"}},
            "spec": {"schedule": "0 3 * * *", "workflowSpec": copy.deepcopy(SPEC),
                     "workflowMetadata": {"labels": {"team": "ml"}, "annotations": {"a": "b"}}}}
    now = datetime.datetime(2026, 3, 1, 3, 0, 0, tzinfo=datetime.timezone.utc)  # noqa: UP017
    wf = argo.workflow_from_cron(cron, now=now)
    meta = wf["metadata"]
    assert meta["generateName"] == "nightly-" and meta["namespace"] == "models"
    assert meta["labels"] == {"workflows.argoproj.io/cron-workflow": "nightly",
                              "workflows.argoproj.io/controller-instanceid": "i1", "team": "ml"}
    assert meta["annotations"] == {"workflows.argoproj.io/scheduled-time": "2026-03-01T03:00:00Z", "a": "b"}
    assert meta["ownerReferences"] == [{"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
                                        "name": "nightly", "uid": "uid-7", "controller": True,
                                        "blockOwnerDeletion": True}]
    assert wf["spec"] == SPEC and wf["spec"] is not cron["spec"]["workflowSpec"]
    built = argo.build_workflow(params(cron_workflow="nightly", parameters={"x": 1}), cron=cron)
    assert built["metadata"]["generateName"] == "nightly-"
    assert built["spec"]["arguments"]["parameters"] == [{"name": "x", "value": "1"}]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"spec": SPEC, "workflow_template": "t"}, "exactly one of definition, spec, workflow_template or cron_workflow"),
    ({}, "exactly one of"),
    ({"spec": SPEC}, "name or generate_name is required (the spec gives neither"),
    ({"spec": SPEC, "name": "Bad_Name"}, "metadata.name 'Bad_Name' is not a valid name"),
    ({"spec": {"templates": SPEC["templates"]}, "name": "x"}, "spec.entrypoint is required"),
    ({"spec": SPEC, "name": "x", "entrypoint": "nope"}, "spec.entrypoint 'nope' is not one of the templates (main)"),
    ({"spec": {"entrypoint": "main"}, "name": "x"}, "spec.templates is required"),
    ({"spec": dict(SPEC, arguments={"parameters": [{"name": "p"}]}), "name": "x"},
     "spec.arguments.parameters.p.value is required (give it in parameters)"),
    ({"spec": dict(SPEC, arguments={"parameters": [{"name": "p", "enum": ["a", "b"]}]}), "name": "x",
      "parameters": {"p": "c"}}, "spec.arguments.parameters.p: value 'c' is not one of a, b"),
    ({"definition": {"kind": "Pod", "metadata": {"name": "x"}, "spec": {}}},
     "definition must be a Workflow, not kind Pod"),
    ({"definition": {"kind": "Workflow", "metadata": {"name": "x"}}}, "definition: the Workflow has no spec"),
    ({"spec": SPEC, "name": "x", "labels": {"a": {"b": 1}}}, "labels: the value of a must be a string"),
])
def test_bad_workflow_options(kwargs, message):
    with pytest.raises(K8sError) as err:
        argo.build_workflow(params(**kwargs))
    assert message in err.value.msg


def test_template_arguments_are_checked_against_the_template():
    template = {"kind": "WorkflowTemplate", "spec": {
        "entrypoint": "train", "templates": [{"name": "train"}, {"name": "deploy"}],
        "arguments": {"parameters": [{"name": "model"}, {"name": "epochs", "value": "5"}]}}}
    wf = argo.build_workflow(params(workflow_template="t", parameters={"epochs": 3}))
    with pytest.raises(K8sError, match=r"spec.arguments.parameters.model.value is required"):
        argo.validate_workflow(wf, template=template)
    wf = argo.build_workflow(params(workflow_template="t", parameters={"model": "iris"}))
    argo.validate_workflow(wf, template=template)
    wf = argo.build_workflow(params(workflow_template="t", parameters={"model": "iris"}, entrypoint="nope"))
    with pytest.raises(K8sError, match=r"spec.entrypoint 'nope' is not a template of WorkflowTemplate t"):
        argo.validate_workflow(wf, template=template)


# -- schedules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr", [
    "0 3 * * *", "*/5 * * * *", "0 0 1,15 * MON-FRI", "30 2 * jan-mar sun", "0 0-23/2 * * ?", "5/10 * * * *",
    "@hourly", "@daily", "@every 1h30m", "@every 90s", "CRON_TZ=Europe/Paris 0 3 * * *", "TZ=UTC @weekly",
])
def test_good_schedules(expr):
    assert argo.validate_schedule(expr) == expr


@pytest.mark.parametrize(("expr", "message"), [
    ("", "must be a cron expression"),
    ("0 3 * *", "expected exactly 5 fields (minute hour day-of-month month day-of-week), found 4"),
    ("0 3 * * * *", "found 6"),
    ("61 * * * *", "minute: end of range (61) above maximum (59)"),
    ("0 24 * * *", "hour: end of range (24) above maximum (23)"),
    ("0 0 0 * *", "day of month: beginning of range (0) below minimum (1)"),
    ("0 0 * 13 *", "month: end of range (13) above maximum (12)"),
    ("0 0 * * 7", "day of week: end of range (7) above maximum (6)"),
    ("0 0 * * mon-sun", "day of week: beginning of range (1) beyond end of range (0)"),
    ("*/0 * * * *", "step of range should be a positive number"),
    ("a * * * *", "minute: failed to parse int from a"),
    ("1-2-3 * * * *", "too many hyphens"),
    ("@often", "unrecognized descriptor @often"),
    ("@every soon", "failed to parse duration 'soon'"),
    ("CRON_TZ=Mars/Olympus 0 3 * * *", "not a known time zone"),
])
def test_bad_schedules(expr, message):
    with pytest.raises(K8sError) as err:
        argo.validate_schedule(expr)
    assert message in err.value.msg


def test_build_cron_workflow_from_options():
    cron = argo.build_cron_workflow(cron_params(
        timezone="Europe/Paris", concurrency_policy="Forbid", starting_deadline_seconds=60,
        successful_jobs_history_limit=2, failed_jobs_history_limit=1, suspend=True, parameters={"model": "iris"},
        service_account="runner", labels={"team": "ml"}))
    assert cron == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
        "metadata": {"name": "nightly", "namespace": "models", "labels": {"team": "ml"}},
        "spec": {"schedule": "0 3 * * *", "timezone": "Europe/Paris", "concurrencyPolicy": "Forbid",
                 "startingDeadlineSeconds": 60, "successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1,
                 "suspend": True,
                 "workflowSpec": {"workflowTemplateRef": {"name": "train"},
                                  "arguments": {"parameters": [{"name": "model", "value": "iris"}]},
                                  "serviceAccountName": "runner"}}}


def test_build_cron_workflow_from_definition_with_overrides():
    definition = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
                  "metadata": {"name": "etl", "namespace": "data"},
                  "spec": {"schedules": ["0 1 * * *", "0 13 * * *"], "workflowSpec": copy.deepcopy(SPEC)}}
    cron = argo.build_cron_workflow(cron_params(name=None, namespace=None, schedule=None, workflow_template=None,
                                                definition=definition, suspend=True))
    assert cron["metadata"] == {"name": "etl", "namespace": "data"}
    assert cron["spec"]["schedules"] == ["0 1 * * *", "0 13 * * *"] and cron["spec"]["suspend"] is True


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"schedule": "0 25 * * *"}, "schedule '0 25 * * *': hour: end of range (25) above maximum (23)"),
    ({"schedule": None}, "a schedule (or schedules) is required"),
    ({"schedule": None, "schedules": ["@daily", "bad"]}, "schedules[1] 'bad': expected exactly 5 fields"),
    ({"timezone": "Nowhere/City"}, "timezone 'Nowhere/City' is not a known time zone"),
    ({"workflow_template": None}, "a workflow is required: give workflow_spec or workflow_template"),
    ({"workflow_template": None, "workflow_spec": {"entrypoint": "x", "templates": [{"name": "y"}]}},
     "workflowSpec.entrypoint 'x' is not one of the templates (y)"),
    ({"name": None}, "name is required"),
    ({"name": "x" * 53}, "longer than 52 characters"),
    ({"starting_deadline_seconds": -1}, "startingDeadlineSeconds must be a number >= 0"),
    ({"workflow_template": None, "parameters": {"a": 1}}, "parameters, entrypoint and service_account need"),
])
def test_bad_cron_workflows(kwargs, message):
    with pytest.raises(K8sError) as err:
        argo.build_cron_workflow(cron_params(**kwargs))
    assert message in err.value.msg


# -- comparing and status -----------------------------------------------------------------------------------
def test_spec_differences_ignore_empty_values():
    live = {"spec": dict(SPEC, arguments={}, volumes=[])}
    assert argo.spec_differences(live, {"spec": SPEC}) == []
    assert argo.spec_differences(live, {"spec": dict(SPEC, entrypoint="other")}) == ["entrypoint"]
    assert argo.labels_to_set({"metadata": {"labels": {"a": "1", "b": "2"}}},
                              {"metadata": {"labels": {"a": "1", "c": "3"}}}) == {"c": "3"}


def test_pod_names_like_argo_v2():
    node = {"name": "wf-abc.train", "templateName": "train"}
    assert argo.fnv32a("") == 0x811C9DC5
    assert argo.pod_name_of("wf-abc", node) == "wf-abc-train-%d" % argo.fnv32a("wf-abc.train")
    assert argo.pod_name_of("wf-abc", {"name": "wf-abc", "templateName": "main"}) == "wf-abc"
    long_name = argo.pod_name_of("w" * 60, {"name": "x.y", "templateName": "t"})
    assert len(long_name) <= 63 and long_name.endswith("-%d" % argo.fnv32a("x.y"))
    assert argo.pod_name_of("wf", {"name": "wf.s", "templateRef": {"name": "lib", "template": "step"}}) \
        .startswith("wf-step-")


def finished_workflow(phase="Succeeded"):
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "models", "uid": "u1"},
            "status": {
                "phase": phase, "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:12.5Z",
                "progress": "1/2", "message": "child 'wf-2' failed" if phase != "Succeeded" else None,
                "outputs": {"parameters": [{"name": "uri", "value": "s3://m/1"}]},
                "nodes": {
                    "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps", "templateName": "main",
                           "phase": phase, "startedAt": "2026-01-01T00:00:00Z", "children": ["wf-1"]},
                    "wf-1": {"id": "wf-1", "name": "wf[0]", "displayName": "[0]", "type": "StepGroup",
                             "phase": phase, "startedAt": "2026-01-01T00:00:01Z", "children": ["wf-2", "wf-3"]},
                    "wf-2": {"id": "wf-2", "name": "wf[0].train", "displayName": "train", "type": "Pod",
                             "templateName": "train", "phase": "Failed" if phase != "Succeeded" else phase,
                             "message": "Error (exit code 1)" if phase != "Succeeded" else None,
                             "startedAt": "2026-01-01T00:00:02Z",
                             "outputs": {"parameters": [{"name": "uri", "value": "s3://m/1"}], "exitCode": "0"}},
                    "wf-3": {"id": "wf-3", "name": "wf[0].other", "displayName": "other", "type": "Pod",
                             "templateName": "other", "phase": "Succeeded", "startedAt": "2026-01-01T00:00:03Z"},
                }}}


def test_outputs_nodes_duration():
    wf = finished_workflow()
    pods = [{"metadata": {"name": "wf-train-pod", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}}}]
    assert argo.outputs_of(wf) == {"uri": "s3://m/1"}
    assert argo.duration_of(wf) == 12.0
    assert argo.duration_of({"status": {"startedAt": "2026-01-01T00:00:00Z"}}) is None
    nodes = argo.nodes_of(wf, pods)
    assert [n["display_name"] for n in nodes] == ["wf", "[0]", "train", "other"]
    train = nodes[2]
    assert train == {"id": "wf-2", "name": "wf[0].train", "display_name": "train", "type": "Pod",
                     "phase": "Succeeded", "message": None, "template": "train", "pod_name": "wf-train-pod",
                     "outputs": {"uri": "s3://m/1"}, "exit_code": "0", "started_at": "2026-01-01T00:00:02Z",
                     "finished_at": None}
    assert nodes[3]["pod_name"] == argo.pod_name_of("wf", {"name": "wf[0].other", "templateName": "other"})
    assert nodes[0]["pod_name"] is None


def test_describe_and_finished_check():
    running = {"metadata": {"name": "wf", "namespace": "models", "uid": "u1"},
               "status": {"phase": "Running", "progress": "0/1", "nodes": {
                   "a": {"name": "wf.train", "displayName": "train", "type": "Pod", "phase": "Pending",
                         "message": "ImagePullBackOff"}}}}
    done, detail = waiter.workflow_finished("u1")(running)
    assert not done and detail == "phase Running (progress 0/1); still running: train (Pending: ImagePullBackOff)"
    assert waiter.workflow_finished("u1")(finished_workflow())[0] is True
    assert waiter.workflow_finished("other")(finished_workflow()) == (
        False, "the Workflow was replaced by another one with the same name")
    assert "no status yet" in waiter.describe_workflow({"metadata": {"namespace": "x"}})


class LogClient:
    """explain() needs find_resource/list (events) and logs (patched)."""

    def __init__(self, events=()):
        self.events = list(events)

    def find_resource(self, api_version, kind):
        return object() if kind == "Event" else None

    def list(self, resource, namespace=None, **kwargs):
        return {"items": self.events}


def test_explain_failed_leaf_with_container_state_and_log(monkeypatch):
    wf = finished_workflow("Failed")
    pod = {"metadata": {"name": "wf-train-1", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}},
           "status": {"phase": "Failed", "containerStatuses": [
               {"name": "main", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}},
               {"name": "wait", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}
    monkeypatch.setattr(argo, "read_pod_log", lambda client, ns, name, container, tail: "a\n\nb\nTraceback\nboom\n")
    events = [{"type": "Warning", "reason": "BackOff", "message": "restarting",
               "involvedObject": {"kind": "Pod", "name": "wf-train-1"}},
              {"type": "Warning", "reason": "Other", "involvedObject": {"kind": "Pod", "name": "unrelated"}}]
    expl = argo.explain(LogClient(events), wf, [pod], log_lines=3)
    assert [s["display_name"] for s in expl["steps"]] == ["train"]  # the leaf, not the Steps / StepGroup
    step = expl["steps"][0]
    assert step["issues"] == ["container main terminated with exit code 1 (Error)"]
    assert step["log"] == ["b", "Traceback", "boom"]
    assert expl["events"] == ["Pod wf-train-1: BackOff: restarting"]
    assert expl["summary"] == (
        "phase Failed: child 'wf-2' failed. failed step train (pod wf-train-1): Error (exit code 1); container main "
        "terminated with exit code 1 (Error); last log lines: b | Traceback | boom. recent warnings: Pod wf-train-1: "
        "BackOff: restarting")


def test_explanation_does_not_repeat_itself(monkeypatch):
    wf = {"metadata": {"name": "wf", "namespace": "models"}, "status": {
        "phase": "Error", "message": "ErrImagePull: image x:1 is not loaded",
        "nodes": {"wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Pod", "templateName": "main",
                         "phase": "Error", "message": "ErrImagePull: image x:1 is not loaded"}}}}
    pod = {"metadata": {"name": "wf", "annotations": {"workflows.argoproj.io/node-id": "wf"}},
           "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "state": {"waiting": {
               "reason": "ErrImagePull", "message": "image x:1 is not loaded"}}}]}}
    events = [{"type": "Warning", "reason": "WorkflowNodeError", "message": "Error node wf",
               "involvedObject": {"kind": "Workflow", "name": "wf"}},
              {"type": "Warning", "reason": "Failed", "message": "Failed to pull image",
               "involvedObject": {"kind": "Pod", "name": "wf"}}]
    monkeypatch.setattr(argo, "read_pod_log", lambda *a: "")
    expl = argo.explain(LogClient(events), wf, [pod])
    assert expl["summary"] == ("phase Error. failed step wf (template main, pod wf): ErrImagePull: image x:1 is not "
                               "loaded; container main ErrImagePull. recent warnings: Pod wf: Failed: Failed to "
                               "pull image")
    exited = {"status": {"phase": "Failed", "reason": "Error", "message": "exit code 3", "containerStatuses": [
        {"name": "main", "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": "exit code 3"}}}]}}
    assert argo.container_issues(exited, "exit code 3") == ["container main terminated with exit code 3 (Error)"]
    evicted = {"status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}}
    assert argo.container_issues(evicted, "pod deleted") == ["pod Evicted: low on memory"]


def test_explain_finds_the_failed_step_of_a_later_step_group(monkeypatch):
    """Argo hangs step group N+1 below the nodes of group N: the failed step is below a succeeded one."""
    nodes = {
        "wf": {"id": "wf", "name": "wf", "type": "Steps", "phase": "Failed", "children": ["g0"]},
        "g0": {"id": "g0", "name": "wf[0]", "type": "StepGroup", "phase": "Succeeded", "children": ["ok"]},
        "ok": {"id": "ok", "name": "wf[0].ok", "displayName": "ok", "type": "Pod", "phase": "Succeeded",
               "children": ["g1"]},
        "g1": {"id": "g1", "name": "wf[1]", "type": "StepGroup", "phase": "Failed", "children": ["bad"]},
        "bad": {"id": "bad", "name": "wf[1].bad", "displayName": "bad", "type": "Pod", "phase": "Failed",
                "message": "Error (exit code 3)"},
    }
    monkeypatch.setattr(argo, "read_pod_log", lambda *a: "")
    wf = {"metadata": {"name": "wf", "namespace": "models"}, "status": {"phase": "Failed", "nodes": nodes}}
    expl = argo.explain(LogClient(), wf, [])
    assert [s["display_name"] for s in expl["steps"]] == ["bad"]


def test_explain_timeout_lists_running_steps(monkeypatch):
    wf = {"metadata": {"name": "wf", "namespace": "models"},
          "status": {"phase": "Running", "nodes": {"wf-9": {
              "id": "wf-9", "name": "wf.pull", "displayName": "pull", "type": "Pod", "templateName": "pull",
              "phase": "Pending"}}}}
    pod = {"metadata": {"name": "wf-pull-9", "annotations": {"workflows.argoproj.io/node-id": "wf-9"}},
           "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "state": {"waiting": {
               "reason": "ImagePullBackOff", "message": "image nope:1 is not loaded in the sandbox"}}}]}}
    monkeypatch.setattr(argo, "read_pod_log", lambda *a: "")
    expl = argo.explain(LogClient(), wf, [pod], timed_out=True)
    assert expl["summary"] == (
        "phase Running; still running: pull (Pending). running step pull (pod wf-pull-9): container main "
        "ImagePullBackOff: image nope:1 is not loaded in the sandbox")


def test_explain_never_raises_on_unreadable_logs(monkeypatch):
    def no_log(*_args):
        raise K8sError("403 Forbidden")

    monkeypatch.setattr(argo, "read_pod_log", no_log)
    wf = finished_workflow("Error")
    pod = {"metadata": {"name": "p", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}}, "status": {}}
    expl = argo.explain(LogClient(), wf, [pod])
    assert expl["notes"] == ["cannot read the log of pod p: 403 Forbidden"]


# -- submit against the recorded-response API ---------------------------------------------------------------
@pytest.fixture
def cluster(tmp_path):
    fake = FakeCluster()
    fake.cache_file = str(tmp_path / "discovery.json")
    fake.add_kind("argoproj.io/v1alpha1", "Workflow", "workflows")
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    return fake


def workflow(name="hello", spec=None):
    return argo.build_workflow(params(name=name, namespace="models", spec=spec or SPEC))


def test_submit_creates_then_leaves_an_equal_workflow_alone(cluster):
    client = make_client(cluster, cluster.cache_file)
    result = argo.submit(client, workflow())
    assert result["action"] == "created" and result["changed"]
    assert [r.method for r in cluster.writes()] == ["POST"]
    assert cluster.writes()[0].query["fieldManager"] == "mlops.k8s"
    mark = cluster.mark()
    result = argo.submit(client, workflow(), want_diff=True)
    assert result["action"] == "unchanged" and not result["changed"]
    assert [r for r in cluster.since(mark) if r.is_write] == []
    assert result["diff"]["before"] == result["diff"]["after"]


def test_submit_recreates_on_change_and_refuses_with_never(cluster):
    client = make_client(cluster, cluster.cache_file)
    argo.submit(client, workflow())
    changed = dict(SPEC, arguments={"parameters": [{"name": "x", "value": "1"}]})
    mark = cluster.mark()
    with pytest.raises(K8sError, match=r"Workflow models/hello already exists with a different spec \(differs in "
                                       r"spec.arguments\) and recreate=never"):
        argo.submit(client, workflow(spec=changed), recreate="never")
    assert [r for r in cluster.since(mark) if r.is_write] == []
    result = argo.submit(client, workflow(spec=changed))
    assert result["action"] == "recreated" and result["differences"] == ["spec.arguments"]
    writes = [(r.method, r.query.get("dryRun")) for r in cluster.since(mark) if r.is_write]
    assert writes == [("DELETE", None), ("POST", None)]
    delete = next(r for r in cluster.since(mark) if r.method == "DELETE")
    assert delete.body["propagationPolicy"] == "Foreground"
    stored = cluster.get_obj("argoproj.io/v1alpha1", "Workflow", "hello", "models")
    assert stored["spec"]["arguments"]["parameters"] == [{"name": "x", "value": "1"}]


def test_submit_always_and_labels(cluster):
    client = make_client(cluster, cluster.cache_file)
    argo.submit(client, workflow())
    mark = cluster.mark()
    result = argo.submit(client, workflow(), recreate="always")
    assert result["action"] == "recreated"
    assert [r.method for r in cluster.since(mark) if r.is_write] == ["DELETE", "POST"]
    wf = workflow()
    wf["metadata"]["labels"] = {"team": "ml"}
    mark = cluster.mark()
    result = argo.submit(client, wf)
    assert result["action"] == "labelled"
    patches = [r for r in cluster.since(mark) if r.is_write]
    assert [r.method for r in patches] == ["PATCH"] and patches[0].query["force"] in ("True", "true")
    assert patches[0].body["metadata"]["labels"] == {"team": "ml"} and "spec" not in patches[0].body


def test_submit_check_mode_is_dry_run(cluster):
    client = make_client(cluster, cluster.cache_file)
    result = argo.submit(client, workflow(), check_mode=True, want_diff=True)
    assert result["action"] == "created" and result["diff"]["before"] == {}
    assert cluster.writes() == [] and any(r.dry_run for r in cluster.requests)
    argo.submit(client, workflow())
    mark = cluster.mark()
    result = argo.submit(client, workflow(spec=dict(SPEC, entrypoint="main", parallelism=1)), check_mode=True)
    assert result["action"] == "recreated"
    sent = cluster.since(mark)
    assert [r for r in sent if r.is_write] == []
    probe = next(r for r in sent if r.method == "POST")
    assert probe.dry_run and probe.body["metadata"]["generateName"] == "hello-"


def test_generate_name_always_submits(cluster):
    client = make_client(cluster, cluster.cache_file)
    wf = argo.build_workflow(params(generate_name="run-", namespace="models", spec=SPEC))
    first = argo.submit(client, copy.deepcopy(wf))["workflow"]["metadata"]["name"]
    second = argo.submit(client, copy.deepcopy(wf))["workflow"]["metadata"]["name"]
    assert first != second and first.startswith("run-")


def test_submit_without_the_crd(cluster):
    cluster.kinds.pop("argoproj.io/v1alpha1")
    client = make_client(cluster, cluster.cache_file)
    with pytest.raises(K8sError, match=r"the Workflow CRD .* is not installed"):
        argo.submit(client, workflow())
    warnings = []
    result = argo.submit(client, workflow(), check_mode=True, warn=warnings.append)
    assert result["changed"] and "check mode could not validate" in warnings[0]
