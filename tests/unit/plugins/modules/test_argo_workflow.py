"""mlops.k8s.argo_workflow run as Ansible runs it, against the recorded-response API (a fake controller sets the
status the Argo controller would)."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import argo_status
from ansible_collections.mlops.k8s.plugins.modules import argo_workflow

GV = "argoproj.io/v1alpha1"
SPEC = {"entrypoint": "main", "templates": [
    {"name": "main", "container": {"image": "python:3.11", "command": ["python", "-c", "print(42)"]},
     "outputs": {"parameters": [{"name": "answer", "valueFrom": {"path": "/tmp/answer"}}]}}]}
ARGS = {"name": "hello", "namespace": "models", "spec": SPEC, "wait_timeout": 5}


@pytest.fixture
def cluster(fake_cluster, monkeypatch):
    for kind, plural in (("Workflow", "workflows"), ("WorkflowTemplate", "workflowtemplates"),
                         ("CronWorkflow", "cronworkflows")):
        fake_cluster.add_kind(GV, kind, plural)
    fake_cluster.add_kind(GV, "ClusterWorkflowTemplate", "clusterworkflowtemplates", namespaced=False)
    fake_cluster.add_kind("v1", "Event", "events")
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    fake_cluster.logs = {}
    monkeypatch.setattr(argo_status, "read_pod_log",
                        lambda client, ns, pod, container="main", tail=100: fake_cluster.logs.get(pod, ""))
    return fake_cluster


def run_controller(cluster, phase="Succeeded", *, fail_message="Error (exit code 1)", log="computing\n42\n",
                   pod_state=None):
    """Every Workflow created from now on gets the status (and the pod) the controller would give it."""
    original = cluster._create

    def create(req, ctx):
        status, body = original(req, ctx)
        if req.dry_run or ctx[1] != "workflows" or status != 201:
            return status, body
        name = body["metadata"]["name"]
        node_id = "%s-1" % name
        pod = "%s-main-1" % name
        node_phase = "Succeeded" if phase == "Succeeded" else ("Pending" if phase == "Running" else "Failed")
        stored = cluster.objects[(GV, "workflows", "models", name)]
        stored["status"] = {
            "phase": phase, "startedAt": "2026-01-01T00:00:00Z", "progress": "1/1",
            "nodes": {
                name: {"id": name, "name": name, "displayName": name, "type": "Steps", "templateName": "main",
                       "phase": phase, "children": [node_id], "startedAt": "2026-01-01T00:00:00Z"},
                node_id: {"id": node_id, "name": name + "[0].step", "displayName": "step", "type": "Pod",
                          "templateName": "main", "phase": node_phase, "startedAt": "2026-01-01T00:00:01Z",
                          "message": None if node_phase == "Succeeded" else fail_message,
                          "outputs": {"parameters": [{"name": "answer", "value": "42"}], "exitCode": "0"}}}}
        if phase != "Running":
            stored["status"]["finishedAt"] = "2026-01-01T00:00:07Z"
        if phase == "Succeeded":
            stored["status"]["outputs"] = {"parameters": [{"name": "answer", "value": "42"}]}
        elif phase != "Running":
            stored["status"]["message"] = "child '%s' failed" % node_id
        cluster.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": pod, "namespace": "models", "labels": {"workflows.argoproj.io/workflow": name},
            "annotations": {"workflows.argoproj.io/node-id": node_id}},
            "status": {"phase": "Failed" if node_phase == "Failed" else "Succeeded", "containerStatuses": [
                {"name": "main", "state": pod_state or {"terminated": {
                    "exitCode": 0 if node_phase == "Succeeded" else 1,
                    "reason": "Completed" if node_phase == "Succeeded" else "Error"}}}]}})
        cluster.logs[pod] = log
        return status, body

    cluster._create = create


def stored(cluster, name="hello"):
    return cluster.get_obj(GV, "Workflow", name, "models")


def test_submit_wait_outputs_logs_then_second_run_writes_nothing(cluster, run_module):
    run_controller(cluster)
    failed, result = run_module(argo_workflow, dict(ARGS, logs=True, parameters={"who": "world"}))
    assert not failed, result
    assert result["changed"] is True and result["action"] == "created"
    assert result["phase"] == "Succeeded" and result["outputs"] == {"answer": "42"}
    assert result["duration"] == 7.0
    assert result["logs"] == {"step": "computing\n42\n"}
    step = next(n for n in result["nodes"] if n["type"] == "Pod")
    assert step["pod_name"] == "hello-main-1" and step["outputs"] == {"answer": "42"}
    assert set(step) >= {"name", "display_name", "type", "phase", "message", "template", "pod_name", "outputs"}
    assert "managedFields" not in result["workflow"]["metadata"]
    posts = [r for r in cluster.writes() if r.method == "POST"]
    assert len(posts) == 1 and posts[0].body["spec"]["arguments"]["parameters"] == [{"name": "who", "value": "world"}]

    mark = cluster.mark()
    failed, result = run_module(argo_workflow, dict(ARGS, parameters={"who": "world"}))
    assert not failed, result
    assert result["changed"] is False and result["action"] == "unchanged"
    assert result["phase"] == "Succeeded" and result["outputs"] == {"answer": "42"}
    assert "logs" not in result
    assert [r for r in cluster.since(mark) if r.is_write] == []


def test_changed_spec_resubmits_and_never_fails(cluster, run_module):
    run_controller(cluster)
    assert not run_module(argo_workflow, ARGS)[0]
    uid = stored(cluster)["metadata"]["uid"]
    mark = cluster.mark()
    failed, result = run_module(argo_workflow, dict(ARGS, parameters={"who": "you"}, recreate="never"))
    assert failed
    assert result["msg"] == ("Workflow models/hello already exists with a different spec (differs in spec.arguments) "
                             "and recreate=never: delete it, use another name, or set recreate=on_change to submit "
                             "it again")
    assert [r for r in cluster.since(mark) if r.is_write] == []
    failed, result = run_module(argo_workflow, dict(ARGS, parameters={"who": "you"}), diff=True)
    assert not failed, result
    assert result["action"] == "recreated" and result["changed"] and result["differences"] == ["spec.arguments"]
    assert "arguments" not in result["diff"]["before"]["spec"]
    assert stored(cluster)["metadata"]["uid"] != uid


def test_check_mode_sends_no_write(cluster, run_module):
    failed, result = run_module(argo_workflow, ARGS, check_mode=True, diff=True)
    assert not failed, result
    assert result["changed"] is True and result["action"] == "created"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["spec"]["entrypoint"] == "main"
    assert result["phase"] is None
    assert cluster.writes() == []
    assert [r.method for r in cluster.requests if r.dry_run] == ["POST"]


def test_failed_workflow_fails_with_the_explanation(cluster, run_module):
    run_controller(cluster, "Failed", log="loading\nTraceback (most recent call last):\nValueError: bad data\n")
    failed, result = run_module(argo_workflow, dict(ARGS, logs=True))
    assert failed
    assert result["msg"] == (
        "Workflow models/hello Failed: phase Failed: child 'hello-1' failed. failed step step (template main, pod "
        "hello-main-1): Error (exit code 1); container main terminated with exit code 1 (Error); last log lines: "
        "loading | Traceback (most recent call last): | ValueError: bad data")
    assert result["reason"] == "Failed" and result["phase"] == "Failed" and result["changed"] is True
    assert result["explanation"]["steps"][0]["pod_name"] == "hello-main-1"
    assert result["logs"]["step"].endswith("ValueError: bad data\n")
    assert result["workflow"]["metadata"]["name"] == "hello"
    assert "exception" not in result

    # the same spec again: not resubmitted, still reported as failed, with the way out
    failed, result = run_module(argo_workflow, ARGS)
    assert failed and result["changed"] is False
    assert result["msg"].endswith("(this run of the Workflow already existed with the same spec; set "
                                  "recreate=always to run it again)")
    # without wait the failure is only reported
    failed, result = run_module(argo_workflow, dict(ARGS, wait=False))
    assert not failed and result["phase"] == "Failed"


def test_timeout_says_what_is_still_running(cluster, run_module):
    run_controller(cluster, "Running", pod_state={"waiting": {
        "reason": "ImagePullBackOff", "message": "image python:3.99 is not loaded in the sandbox"}})
    failed, result = run_module(argo_workflow, dict(ARGS, wait_timeout=0))
    assert failed
    assert result["reason"] == "Timeout"
    assert result["msg"].startswith("timed out after 0s waiting for Workflow models/hello to finish: phase Running "
                                    "(progress 1/1); still running: step (Pending: Error (exit code 1))")
    assert "container main ImagePullBackOff: image python:3.99 is not loaded in the sandbox" in result["msg"]
    assert result["phase"] == "Running"


def test_from_workflow_template_with_parameters(cluster, run_module):
    run_controller(cluster)
    args = {"generate_name": "train-", "namespace": "models", "workflow_template": "train",
            "parameters": {"model": "iris"}}
    failed, result = run_module(argo_workflow, args)
    assert failed and result["msg"] == "WorkflowTemplate models/train does not exist"
    assert cluster.writes() == []

    cluster.put({"apiVersion": GV, "kind": "WorkflowTemplate", "metadata": {"name": "train", "namespace": "models"},
                 "spec": {"entrypoint": "main", "templates": SPEC["templates"],
                          "arguments": {"parameters": [{"name": "model"}, {"name": "epochs"}]}}})
    failed, result = run_module(argo_workflow, args)
    assert failed and result["msg"] == ("invalid Workflow: spec.arguments.parameters.epochs.value is required (give "
                                        "it in parameters)")
    assert cluster.writes() == []

    failed, result = run_module(argo_workflow, dict(args, parameters={"model": "iris", "epochs": 3}))
    assert not failed, result
    body = next(r for r in cluster.writes() if r.method == "POST").body
    assert body["metadata"]["generateName"] == "train-"
    assert body["metadata"]["labels"] == {"workflows.argoproj.io/workflow-template": "train"}
    assert body["spec"] == {"workflowTemplateRef": {"name": "train"}, "arguments": {"parameters": [
        {"name": "model", "value": "iris"}, {"name": "epochs", "value": "3"}]}}
    # generateName submits every time
    failed, again = run_module(argo_workflow, dict(args, parameters={"model": "iris", "epochs": 3}))
    assert not failed and again["changed"] and again["workflow"]["metadata"]["name"] != \
        result["workflow"]["metadata"]["name"]


def test_from_cluster_workflow_template_defaults_to_its_generate_name(cluster, run_module):
    run_controller(cluster)
    cluster.put({"apiVersion": GV, "kind": "ClusterWorkflowTemplate", "metadata": {"name": "shared"},
                 "spec": copy.deepcopy(SPEC)})
    failed, result = run_module(argo_workflow, {"namespace": "models", "workflow_template": "shared",
                                                "cluster_scope": True})
    assert not failed, result
    body = next(r for r in cluster.writes() if r.method == "POST").body
    assert body["metadata"]["generateName"] == "shared-"
    assert body["spec"]["workflowTemplateRef"] == {"name": "shared", "clusterScope": True}


def test_from_cron_workflow(cluster, run_module):
    run_controller(cluster)
    failed, result = run_module(argo_workflow, {"namespace": "models", "cron_workflow": "nightly"})
    assert failed and result["msg"] == "CronWorkflow models/nightly does not exist"
    cron = cluster.put({"apiVersion": GV, "kind": "CronWorkflow",
                        "metadata": {"name": "nightly", "namespace": "models"},
                        "spec": {"schedule": "0 3 * * *", "workflowSpec": copy.deepcopy(SPEC)}})
    failed, result = run_module(argo_workflow, {"namespace": "models", "cron_workflow": "nightly",
                                                "labels": {"trigger": "ansible"}})
    assert not failed, result
    meta = next(r for r in cluster.writes() if r.method == "POST").body["metadata"]
    assert meta["generateName"] == "nightly-"
    assert meta["labels"] == {"workflows.argoproj.io/cron-workflow": "nightly", "trigger": "ansible"}
    assert meta["ownerReferences"] == [{"apiVersion": GV, "kind": "CronWorkflow", "name": "nightly",
                                        "uid": cron["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    assert "workflows.argoproj.io/scheduled-time" in meta["annotations"]


def test_check_mode_with_a_missing_source_warns(cluster, run_module):
    failed, result = run_module(argo_workflow, {"namespace": "models", "cron_workflow": "later"}, check_mode=True)
    assert not failed, result
    assert result["changed"] is True
    assert "CronWorkflow models/later does not exist; check mode could not validate" in str(result["warnings"])
    assert cluster.writes() == []


@pytest.mark.parametrize(("args", "message"), [
    ({"namespace": "models"}, "state is present but any of the following are missing: definition, spec, "
                              "workflow_template, cron_workflow"),
    ({"spec": SPEC, "workflow_template": "t", "name": "x"}, "parameters are mutually exclusive: definition|spec|"
                                                            "workflow_template|cron_workflow"),
    ({"spec": SPEC}, "name or generate_name is required (the spec gives neither metadata.name nor "
                     "metadata.generateName)"),
    ({"spec": SPEC, "name": "x", "entrypoint": "nope"},
     "invalid Workflow: spec.entrypoint 'nope' is not one of the templates (main)"),
    ({"definition": "kind: Workflow\nspec: [", "name": "x"}, "definition: invalid YAML"),
    ({"spec": SPEC, "name": "x", "wait_timeout": -1}, "wait_timeout must be a whole number from 0 to"),
    ({"state": "absent", "generate_name": "x-"}, "name is required to delete a Workflow"),
])
def test_bad_input_fails_before_any_write(cluster, run_module, args, message):
    failed, result = run_module(argo_workflow, args)
    assert failed
    assert message in result["msg"]
    assert cluster.writes() == []


def test_absent_deletes_and_waits(cluster, run_module):
    run_controller(cluster)
    assert not run_module(argo_workflow, ARGS)[0]
    failed, result = run_module(argo_workflow, {"name": "hello", "namespace": "models", "state": "absent"},
                                check_mode=True)
    assert not failed and result["changed"] and stored(cluster) is not None
    failed, result = run_module(argo_workflow, {"name": "hello", "namespace": "models", "state": "absent"})
    assert not failed, result
    assert result["changed"] is True and result["action"] == "deleted"
    assert stored(cluster) is None
    delete = next(r for r in cluster.writes() if r.method == "DELETE")
    assert delete.body["propagationPolicy"] == "Foreground"
    failed, result = run_module(argo_workflow, {"name": "hello", "namespace": "models", "state": "absent"})
    assert not failed and result["changed"] is False and result["action"] == "absent"


def test_missing_crd_is_a_clear_failure(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    failed, result = run_module(argo_workflow, ARGS)
    assert failed
    assert result["msg"].startswith("the Workflow CRD (argoproj.io/v1alpha1) is not installed on this cluster")


@pytest.mark.parametrize("definition", ["hello", ["hello", "world"]])
def test_a_string_definition_fails_cleanly(cluster, run_module, definition):
    failed, result = run_module(argo_workflow, {"namespace": "models", "definition": definition})
    assert failed and "expected a mapping" in result["msg"], result
    assert cluster.writes() == []


def test_spec_errors_are_reported_before_the_kubeconfig_is_read(run_module, tmp_path):
    """A broken kubeconfig must not hide a broken spec (the spec is checked first, without a connection)."""
    bad_spec = dict(SPEC, entrypoint="nope")
    failed, result = run_module(argo_workflow, {"name": "hello", "namespace": "models", "spec": bad_spec,
                                                "kubeconfig": str(tmp_path / "missing-kubeconfig")})
    assert failed and "entrypoint 'nope' is not one of the templates" in result["msg"], result
