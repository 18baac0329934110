"""CRD conversion webhooks on the emulator, served by the sandbox's emissary-apiext (sandbox/webhooks/emissary.py):
a v3alpha1 object stored as v2 through the webhook, the CA the apiext pod writes into the CRD, and the
apiextensions-apiserver's error when nothing serves the webhook."""

from __future__ import annotations

import time
import uuid

import pytest
from sbx import call

from sandbox.webhooks.emissary import convert

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def wait(fn, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def crd(group: str, ns: str) -> dict:
    version = {"served": True, "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
    return {"metadata": {"name": f"modules.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": "Module", "plural": "modules", "singular": "module", "listKind": "ModuleList"},
                     "conversion": {"strategy": "Webhook", "webhook": {
                         "conversionReviewVersions": ["v1"],
                         "clientConfig": {"service": {"name": "emissary-apiext", "namespace": ns}}}},
                     "versions": [dict(version, name="v2", storage=True), dict(version, name="v3alpha1",
                                                                               storage=False)]}}


@pytest.fixture
def group(sandbox):
    name = f"c{uuid.uuid4().hex[:6]}.example.com"
    yield name
    call(sandbox, "DELETE", f"{CRDS}/modules.{name}")


def established(sandbox, name: str):
    _, body = call(sandbox, "GET", f"{CRDS}/{name}")
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in (body.get("status") or {}).get("conditions") or []) and body


def test_without_apiext_the_servers_conversion_error(sandbox, ns, group):
    assert call(sandbox, "POST", CRDS, crd(group, ns))[0] == 201
    wait(lambda: established(sandbox, f"modules.{group}"), "the CRD")
    code, body = call(sandbox, "POST", f"/apis/{group}/v3alpha1/namespaces/{ns}/modules",
                      {"metadata": {"name": "ambassador"}, "spec": {"config": {"a": 1}}})
    assert code == 500, body
    assert body["message"] == (
        f"conversion webhook for {group}/v3alpha1, Kind=Module failed: Post "
        f'"https://emissary-apiext.{ns}.svc:443/?timeout=30s": service "emissary-apiext" not found')
    # the storage version needs no conversion
    assert call(sandbox, "POST", f"/apis/{group}/v2/namespaces/{ns}/modules",
                {"metadata": {"name": "stored"}, "spec": {}})[0] == 201


def test_apiext_converts_and_injects_its_ca(sandbox, ns, group):
    assert call(sandbox, "POST", CRDS, crd(group, ns))[0] == 201
    wait(lambda: established(sandbox, f"modules.{group}"), "the CRD")
    labels = {"app.kubernetes.io/name": "emissary-apiext"}
    for path, obj in (
            ("services", {"metadata": {"name": "emissary-apiext"},
                          "spec": {"selector": labels, "ports": [{"name": "https", "port": 443,
                                                                  "targetPort": "https"}]}}),
            ("pods", {"metadata": {"name": "apiext", "labels": labels},
                      "spec": {"containers": [{"name": "emissary-apiext",
                                               "image": "docker.io/emissaryingress/emissary:3.9.1",
                                               "command": ["apiext", "emissary-apiext"],
                                               "ports": [{"name": "https", "containerPort": 8443}]}]}})):
        code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/{path}", obj)
        assert code == 201, body
    def injected():
        cur = call(sandbox, "GET", f"{CRDS}/modules.{group}")[1]
        return cur if cur["spec"]["conversion"]["webhook"]["clientConfig"].get("caBundle") else None
    got = wait(injected, "the apiext to write its CA into the CRD")
    assert got["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["path"] == "/webhooks/crd-convert"
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/secrets/emissary-ingress-webhook-ca")[0] == 200
    wait(lambda: any(s.get("addresses") for s in (call(sandbox, "GET", f"/api/v1/namespaces/{ns}/endpoints/"
                                                         "emissary-apiext")[1].get("subsets") or [])),
         "apiext's endpoints")
    code, body = call(sandbox, "POST", f"/apis/{group}/v3alpha1/namespaces/{ns}/modules",
                      {"metadata": {"name": "ambassador"}, "spec": {"config": {"diagnostics": {"enabled": False}}}})
    assert code == 201, body
    assert body["apiVersion"] == f"{group}/v3alpha1"
    code, stored = call(sandbox, "GET", f"/apis/{group}/v2/namespaces/{ns}/modules/ambassador")
    assert code == 200 and stored["apiVersion"] == f"{group}/v2", stored
    assert stored["spec"] == {"config": {"diagnostics": {"enabled": False}}}
    code, listed = call(sandbox, "GET", f"/apis/{group}/v3alpha1/namespaces/{ns}/modules")
    assert code == 200 and [o["apiVersion"] for o in listed["items"]] == [f"{group}/v3alpha1"], listed


def test_convert_keeps_fields_and_answers_the_uid():
    review = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "request": {
        "uid": "u1", "desiredAPIVersion": "getambassador.io/v2",
        "objects": [{"apiVersion": "getambassador.io/v3alpha1", "kind": "Mapping", "metadata": {"name": "m"},
                     "spec": {"prefix": "/seldon/ns/m/", "service": "m-default.ns:8000", "timeout_ms": 3000}}]}}
    resp = convert(review)["response"]
    assert resp["uid"] == "u1" and resp["result"]["status"] == "Success"
    (obj,) = resp["convertedObjects"]
    assert obj["apiVersion"] == "getambassador.io/v2"
    assert obj["spec"] == review["request"]["objects"][0]["spec"]
