"""Argo Workflows helpers: parameters, building and validating Workflows, comparing, submitting."""

from __future__ import annotations

import copy
import datetime

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import argo
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from k8s_fake import FakeCluster, make_client

SPEC = {"entrypoint": "main", "templates": [
    {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c", "echo hi"]}}]}


def params(**kwargs):
    base = {"name": None, "generate_name": None, "namespace": None, "definition": None, "spec": None,
            "workflow_template": None, "cluster_scope": False, "cron_workflow": None, "parameters": None,
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


# -- comparing -----------------------------------------------------------------------------------------------
def test_spec_differences_ignore_empty_values():
    live = {"spec": dict(SPEC, arguments={}, volumes=[])}
    assert argo.spec_differences(live, {"spec": SPEC}) == []
    assert argo.spec_differences(live, {"spec": dict(SPEC, entrypoint="other")}) == ["entrypoint"]
    assert argo.labels_to_set({"metadata": {"labels": {"a": "1", "b": "2"}}},
                              {"metadata": {"labels": {"a": "1", "c": "3"}}}) == {"c": "3"}


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


def test_a_parameter_without_a_name_is_reported_without_its_value():
    wf = argo.build_workflow(params(spec=SPEC, name="w"))
    wf["spec"]["arguments"] = {"parameters": [{"value": "argo-parameter-secret-value"}]}
    with pytest.raises(K8sError) as err:
        argo.validate_workflow(wf)
    assert "every parameter needs a name (got a mapping with keys value)" in err.value.msg
    assert "argo-parameter-secret-value" not in err.value.msg
