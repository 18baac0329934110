"""OpenAPI v3 for built-in kinds (generated from the kubernetes client's models): `kubectl explain` and nested
unknown-field detection (fieldValidation)."""

from __future__ import annotations

import json

import pytest
from sbx import MERGE, call

pytestmark = pytest.mark.sandbox


def _deployment(name, **spec_extra):
    spec = {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def test_openapi_v3_documents_builtin_schemas(sandbox):
    code, root = call(sandbox, "GET", "/openapi/v3")
    assert code == 200 and "apis/apps/v1" in root["paths"] and "api/v1" in root["paths"]
    code, doc = call(sandbox, "GET", "/openapi/v3/apis/apps/v1")
    assert code == 200
    schemas = doc["components"]["schemas"]
    dep = schemas["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert dep["properties"]["spec"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]
    assert "x-kubernetes-preserve-unknown-fields" not in dep
    spec = schemas["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"]["type"] == "integer" and "replicas" in spec["properties"]
    assert "selector" in spec["required"] and "template" in spec["required"]
    container = schemas["io.k8s.api.core.v1.Container"]
    assert container["properties"]["ports"]["type"] == "array"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    code, core = call(sandbox, "GET", "/openapi/v3/api/v1")
    port = core["components"]["schemas"]["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert port["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]


def test_kubectl_explain_builtin(sandbox):
    out = sandbox.kubectl("explain", "deployment.spec.template.spec.containers").stdout
    assert "KIND:       Deployment" in out and "FIELD: containers <[]Container>" in out
    assert "imagePullPolicy\t<string>" in out and "List of containers belonging to the pod" in out
    out = sandbox.kubectl("explain", "cronjob.spec.jobTemplate.spec.backoffLimit").stdout
    assert "FIELD: backoffLimit <integer>" in out
    out = sandbox.kubectl("explain", "events.note", "--api-version=events.k8s.io/v1").stdout
    assert "GROUP:      events.k8s.io" in out and "FIELD: note <string>" in out
    bad = sandbox.kubectl("explain", "deployment.spec.replica", check=False)
    assert bad.returncode != 0 and 'field "replica" does not exist' in bad.stderr


def test_nested_unknown_fields_strict_warn_ignore(sandbox, ns):
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    bad = _deployment("typo", replica=2)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    code, body = call(sandbox, "POST", base + "?fieldValidation=Strict", bad)
    assert code == 400 and body["reason"] == "BadRequest", body
    assert body["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                               'unknown field "spec.template.spec.containers[0].imagePullPolicyy", '
                               'unknown field "spec.replica"')   # in the order of the JSON body
    code, headers, raw = sandbox.request("POST", base, json.dumps(bad).encode())  # default: Warn
    assert code == 201, raw
    assert 'unknown field \\"spec.replica\\"' in headers["Warning"]
    created = json.loads(raw)
    assert "replica" not in created["spec"] and "imagePullPolicyy" not in created["spec"]["template"]["spec"][
        "containers"][0]
    code, body = call(sandbox, "PATCH", f"{base}/typo?fieldValidation=Strict", {"spec": {"paused": True,
                                                                                         "pausd": True}},
                      content_type=MERGE)
    assert code == 422 and body["reason"] == "Invalid" and 'unknown field "spec.pausd"' in body["message"]
    code, headers, raw = sandbox.request("PATCH", f"{base}/typo?fieldValidation=Ignore",
                                         json.dumps({"spec": {"pausd": True}}).encode(), content_type=MERGE)
    assert code == 200 and "Warning" not in headers and "pausd" not in json.loads(raw)["spec"]
    out = sandbox.kubectl("-n", ns, "apply", "-f", "-", check=False, input=json.dumps(_deployment("k", replica=3)))
    assert out.returncode != 0 and 'unknown field "spec.replica"' in out.stderr
    out = sandbox.kubectl("-n", ns, "apply", "--validate=warn", "-f", "-", check=False,
                          input=json.dumps(_deployment("k", replica=3)))
    assert out.returncode == 0 and 'unknown field "spec.replica"' in out.stderr
