"""Argo Workflows end to end in the shared sandbox: the workflow controller with the real step executor."""

from __future__ import annotations

import pytest
from argo_helpers import GROUP, call, submit, wait_phase

pytestmark = pytest.mark.sandbox
PY = "python:3.11"


def workflow(name, entrypoint, templates, **spec):
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"entrypoint": entrypoint, "templates": templates, **spec}}


def nodes_by_display(w):
    return {n["displayName"]: n for n in w["status"]["nodes"].values()}


def test_steps_pass_an_output_parameter_on(sandbox, argo_ns):
    templates = [
        {"name": "main", "steps": [
            [{"name": "make", "template": "make"}],
            [{"name": "show", "template": "show",
              "arguments": {"parameters": [{"name": "word", "value": "{{steps.make.outputs.parameters.word}}"}]}}]]},
        {"name": "make", "container": {"image": "alpine:3.19", "command": ["sh", "-c",
                                                                          "printf sandbox > /tmp/word.txt"]},
         "outputs": {"parameters": [{"name": "word", "valueFrom": {"path": "/tmp/word.txt"}}]}},
        {"name": "show", "inputs": {"parameters": [{"name": "word"}]},
         "script": {"image": PY, "command": ["python"], "source": "print('hello ' + '{{inputs.parameters.word}}')"}}]
    submit(sandbox, argo_ns, workflow("e2e-steps", "main", templates))
    w = wait_phase(sandbox, argo_ns, "e2e-steps", timeout=90)
    assert w["status"]["phase"] == "Succeeded", w["status"].get("message")
    nodes = nodes_by_display(w)
    assert nodes["make"]["outputs"]["parameters"] == [{"name": "word", "value": "sandbox"}]
    assert nodes["show"]["outputs"]["result"] == "hello sandbox"
    assert w["status"]["progress"] == "2/2"


def test_dag_with_a_failing_task(sandbox, argo_ns):
    templates = [
        {"name": "main", "dag": {"tasks": [
            {"name": "first", "template": "say", "arguments": {"parameters": [{"name": "n", "value": "1"}]}},
            {"name": "second", "template": "say", "depends": "first",
             "arguments": {"parameters": [{"name": "n", "value": "{{tasks.first.outputs.result}}2"}]}},
            {"name": "broken", "template": "fail", "depends": "second"},
            {"name": "cleanup", "template": "say", "depends": "broken.Failed",
             "arguments": {"parameters": [{"name": "n", "value": "c"}]}},
            {"name": "after", "template": "say", "depends": "broken",
             "arguments": {"parameters": [{"name": "n", "value": "x"}]}}]}},
        {"name": "say", "inputs": {"parameters": [{"name": "n"}]},
         "script": {"image": PY, "command": ["python"], "source": "print('{{inputs.parameters.n}}')"}},
        {"name": "fail", "container": {"image": "alpine:3.19", "command": ["sh", "-c", "echo no >&2; exit 2"]}}]
    submit(sandbox, argo_ns, workflow("e2e-dag", "main", templates))
    w = wait_phase(sandbox, argo_ns, "e2e-dag", timeout=90)
    nodes = nodes_by_display(w)
    assert nodes["second"]["outputs"]["result"] == "12"
    assert nodes["broken"]["phase"] == "Failed"
    assert "exit code 2" in nodes["broken"]["message"]
    assert nodes["cleanup"]["phase"] == "Succeeded"
    assert nodes["after"]["phase"] == "Omitted"
    assert w["status"]["phase"] == "Failed"
    assert w["status"]["message"] == f"child '{nodes['broken']['id']}' failed"


def test_resource_template_creates_an_object(sandbox, argo_ns):
    call(sandbox, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{argo_ns}/roles", {
        "metadata": {"name": "configmaps"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch", "list"]}]})
    call(sandbox, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{argo_ns}/rolebindings", {
        "metadata": {"name": "configmaps-default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": argo_ns}]})
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made-by-{{workflow.name}}\n"
                "data:\n  who: '{{workflow.parameters.who}}'\n")
    templates = [{"name": "make", "resource": {"action": "create", "manifest": manifest},
                  "outputs": {"parameters": [{"name": "cm", "valueFrom": {"jsonPath": "{.metadata.name}"}}]}}]
    submit(sandbox, argo_ns, workflow("e2e-res", "make", templates,
                                      arguments={"parameters": [{"name": "who", "value": "argo"}]}))
    w = wait_phase(sandbox, argo_ns, "e2e-res", timeout=90)
    assert w["status"]["phase"] == "Succeeded", w["status"].get("message")
    code, cm = call(sandbox, "GET", f"/api/v1/namespaces/{argo_ns}/configmaps/made-by-e2e-res")
    assert code == 200 and cm["data"] == {"who": "argo"}
    assert nodes_by_display(w)["e2e-res"]["outputs"]["parameters"] == [{"name": "cm", "value": "made-by-e2e-res"}]
