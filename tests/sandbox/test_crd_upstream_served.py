"""The upstream CRDs the platform roles install (hack/vendor_crds.py), served as they are.

Argo Workflows' full CRDs (the Workflow CRD is about 1 MB as JSON: pod specs typed, int-or-string fields,
quantities) and Emissary-ingress's (three served versions, v2 stored, a conversion webhook named) are applied
unchanged with server-side apply; typed objects are accepted, unknown fields refused under Strict field validation.
Reading getambassador.io objects at another version goes through the conversion webhook (emissary-apiext, which
the sandbox serves for the ambassador role's apiext pod: tests/sandbox/test_conversion_webhook.py and the platform
tests); here no apiext runs, so only each kind's storage version is written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from sbx import APPLY, call

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s"
APPLY_CRD = CRD + "?fieldManager=upstream-crds-test&force=true"


def apply_crds(sandbox, path: Path) -> float:
    """Server-side apply every CRD of a vendored file; wait until each is Established; the seconds it took."""
    started = time.monotonic()
    for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
        code, body = call(sandbox, "PATCH", APPLY_CRD % doc["metadata"]["name"], doc, content_type=APPLY)
        assert code in (200, 201), (doc["metadata"]["name"], body if isinstance(body, str) else body.get("message"))
    for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            crd = call(sandbox, "GET", CRD % doc["metadata"]["name"])[1]
            if any(c["type"] == "Established" and c["status"] == "True"
                   for c in (crd.get("status") or {}).get("conditions", [])):
                break
            time.sleep(0.2)
        else:
            pytest.fail("%s not Established" % doc["metadata"]["name"])
    return time.monotonic() - started


@pytest.fixture(scope="module")
def argo_full(sandbox):
    seconds = sum(apply_crds(sandbox, path)
                  for path in sorted((REPO / "roles/argo_workflows/files/crds/full").glob("*.yaml")))
    print("applied Argo's full CRDs in %.1f s" % seconds)
    return seconds


def workflow_template(ns, **container):
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "typed",
                                                                                         "namespace": ns},
            "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "retryStrategy": {"limit": "2", "retryPolicy": "OnFailure"},
                 "activeDeadlineSeconds": 300,
                 "container": {"image": "python:3.11", "command": ["python", "-c", "print(1)"],
                               "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1}},
                               "ports": [{"containerPort": 8080}],
                               "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}, **container}}]}}


def test_argo_full_crds_serve_typed_objects_and_refuse_unknown_fields(sandbox, ns, argo_full):
    path = "/apis/argoproj.io/v1alpha1/namespaces/%s/workflowtemplates" % ns
    code, body = call(sandbox, "POST", path + "?fieldValidation=Strict", workflow_template(ns))
    assert code == 201, body
    main = body["spec"]["templates"][0]
    assert main["retryStrategy"]["limit"] == "2" and main["container"]["resources"]["limits"]["cpu"] == 1
    code, body = call(sandbox, "POST", path + "?fieldValidation=Strict",
                      dict(workflow_template(ns, imagePullPolicyy="Always"), metadata={"name": "typo"}))
    assert code == 400 and 'unknown field "spec.templates[0].container.imagePullPolicyy"' in body["message"], body
    code, body = call(sandbox, "POST", path, dict(workflow_template(ns, ports=[{"containerPort": "eighty"}]),
                                                  metadata={"name": "wrong-type"}))
    assert code == 422 and "containerPort" in json.dumps(body), body


@pytest.mark.emulator_only("Emissary's conversion webhook (emissary-apiext) does not run on the real control plane "
                           "(issue 21)")
def test_emissary_crds_are_served_and_validate(sandbox, ns):
    apply_crds(sandbox, REPO / "roles/ambassador/files/crds/emissary-crds.yaml")
    crd = call(sandbox, "GET", CRD % "mappings.getambassador.io")[1]
    assert crd["spec"]["conversion"]["strategy"] == "Webhook"
    served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
    assert served == ["v1", "v2", "v3alpha1"] and crd["spec"]["versions"][1]["storage"]
    mapping = {"prefix": "/seldon/x/", "service": "x-default.models:8000", "timeout_ms": 3000, "weight": 25}
    code, body = call(sandbox, "POST", "/apis/getambassador.io/v2/namespaces/%s/mappings" % ns,
                      {"apiVersion": "getambassador.io/v2", "kind": "Mapping", "metadata": {"name": "m"},
                       "spec": mapping})
    assert code == 201 and body["spec"] == mapping, body
    code, body = call(sandbox, "POST", "/apis/getambassador.io/v2/namespaces/%s/mappings" % ns,
                      {"apiVersion": "getambassador.io/v2", "kind": "Mapping", "metadata": {"name": "bad"},
                       "spec": dict(mapping, weight="25")})
    assert code == 422 and "weight" in json.dumps(body), body
    listener = {"port": 8080, "protocol": "HTTP", "securityModel": "XFP", "hostBinding": {"namespace": {"from": "ALL"}}}
    code, body = call(sandbox, "POST", "/apis/getambassador.io/v3alpha1/namespaces/%s/listeners" % ns,
                      {"apiVersion": "getambassador.io/v3alpha1", "kind": "Listener", "metadata": {"name": "http"},
                       "spec": dict(listener, securityModel="OPEN")})
    assert code == 422 and "securityModel" in json.dumps(body), body
