"""Helpers for the sandbox Argo Workflows tests: the Argo CRDs (minimal, as the argo_workflows role installs them),
a workflow-controller Deployment that turns the sandbox's Argo controllers on, a namespace per test."""

from __future__ import annotations

import json
import uuid

import pytest
from sbx import wait_for

GROUP = "argoproj.io"
ARGO_NS = "argo"
KINDS = [("Workflow", "workflows", "Namespaced"), ("WorkflowTemplate", "workflowtemplates", "Namespaced"),
         ("ClusterWorkflowTemplate", "clusterworkflowtemplates", "Cluster"),
         ("CronWorkflow", "cronworkflows", "Namespaced"), ("WorkflowTaskResult", "workflowtaskresults", "Namespaced")]
EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v3.5.12"


def call(sandbox, method, path, obj=None, content_type="application/json"):
    body = json.dumps(obj).encode() if obj is not None else None
    code, _headers, out = sandbox.request(method, path, body, content_type=content_type)
    try:
        return code, json.loads(out) if out else {}
    except ValueError:
        return code, {"raw": out.decode(errors="replace")}


def apply(sandbox, path, obj):
    """Server-side apply of `obj` to the collection `path` as a test client."""
    name = obj["metadata"]["name"]
    code, out = call(sandbox, "PATCH", f"{path}/{name}?fieldManager=argo-tests&force=true", obj,
                     content_type="application/apply-patch+yaml")
    assert code in (200, 201), (code, out)
    return out


def crd(kind, plural, scope):
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    version = {"name": "v1alpha1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
    if kind in ("Workflow", "CronWorkflow"):
        version["subresources"] = {}   # upstream: status is part of the main resource for these
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}"},
            "spec": {"group": GROUP, "scope": scope, "versions": [version],
                     "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                               "singular": plural[:-1]}}}


def controller_deployment(args=()):
    labels = {"app": "workflow-controller"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "workflow-controller", "namespace": ARGO_NS, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "serviceAccountName": "argo",
                         "containers": [{"name": "workflow-controller",
                                         "image": "quay.io/argoproj/workflow-controller:v3.5.12",
                                         "command": ["workflow-controller"],
                                         "args": ["--executor-image", EXECUTOR_IMAGE, *args]}]}}}}


@pytest.fixture(scope="session")
def argo_crds(sandbox):
    for kind, plural, scope in KINDS:
        apply(sandbox, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd(kind, plural, scope))

    def served():
        return all(call(sandbox, "GET", f"/apis/{GROUP}/v1alpha1/{plural}")[0] == 200 for _, plural, _ in KINDS)
    wait_for(served, 10, what="the Argo CRDs to be served")
    return True


@pytest.fixture(scope="session")
def argo_controller(sandbox, argo_crds):
    """The workflow-controller Deployment, Available (a simulated pod): the sandbox's Argo controllers act."""
    call(sandbox, "POST", "/api/v1/namespaces", {"metadata": {"name": ARGO_NS}})
    # its pods run as the `argo` service account, which must exist (ServiceAccount admission refuses them otherwise)
    call(sandbox, "POST", f"/api/v1/namespaces/{ARGO_NS}/serviceaccounts", {"metadata": {"name": "argo"}})
    apply(sandbox, f"/apis/apps/v1/namespaces/{ARGO_NS}/deployments", controller_deployment())

    def available():
        _, d = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ARGO_NS}/deployments/workflow-controller")
        return any(c["type"] == "Available" and c["status"] == "True"
                   for c in (d.get("status") or {}).get("conditions") or [])
    wait_for(available, 30, what="the workflow-controller Deployment to be Available")
    return True


@pytest.fixture
def argo_ns(sandbox, argo_controller):
    """A fresh namespace whose `default` service account may write WorkflowTaskResults (the argo-workflow preset)."""
    name = "argo-t-" + uuid.uuid4().hex[:8]
    code, out = call(sandbox, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert code == 201, out
    call(sandbox, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/roles", {
        "metadata": {"name": "executor"},
        "rules": [{"apiGroups": [GROUP], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]})
    call(sandbox, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings", {
        "metadata": {"name": "executor-default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "executor"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": name}]})
    yield name
    call(sandbox, "DELETE", f"/api/v1/namespaces/{name}")


def workflow_path(ns, name=""):
    return f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/workflows" + (f"/{name}" if name else "")


def submit(sandbox, ns, body):
    code, out = call(sandbox, "POST", workflow_path(ns), body)
    assert code == 201, (code, out)
    return out


def wait_phase(sandbox, ns, name, phases=("Succeeded", "Failed", "Error"), timeout=60):
    def done():
        _, wf = call(sandbox, "GET", workflow_path(ns, name))
        return wf if (wf.get("status") or {}).get("phase") in phases else None
    return wait_for(done, timeout, what=f"workflow {ns}/{name} to reach {phases}")
