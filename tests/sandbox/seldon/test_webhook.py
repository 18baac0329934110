"""Seldon Core's validating admission webhook, served by the sandbox for the operator pod (sandbox/webhooks/seldon.py)
and called by the emulator's dynamic admission: registration as upstream's operator does it, upstream's messages."""

from __future__ import annotations

import pytest
from seldon_helpers import OPERATOR_NS, SDEP_PATH, call, predictor, sdep_body, wait_for

from sandbox.webhooks.seldon import validation_errors

pytestmark = pytest.mark.sandbox

VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/seldon-validating-webhook-configuration"
DENIED = 'admission webhook "v1.vseldondeployment.kb.io" denied the request: '


@pytest.fixture(scope="module")
def registered(sandbox, seldon_operator):
    def config():
        code, body = call(sandbox, "GET", VWC)
        return body if code == 200 else None
    return wait_for(config, 30, what="the operator to register its webhook")


def test_operator_registers_upstreams_webhook(sandbox, registered):
    (hook,) = registered["webhooks"]
    assert hook["name"] == "v1.vseldondeployment.kb.io"
    assert (hook["failurePolicy"], hook["timeoutSeconds"], hook["sideEffects"]) == ("Fail", 10, "None")
    assert hook["clientConfig"]["service"] == {"name": "seldon-webhook-service", "namespace": OPERATOR_NS,
                                               "path": "/validate-machinelearning-seldon-io-v1-seldondeployment",
                                               "port": 443}
    assert hook["clientConfig"]["caBundle"]
    assert hook["rules"] == [{"apiGroups": ["machinelearning.seldon.io"], "apiVersions": ["v1"],
                              "operations": ["CREATE", "UPDATE"], "resources": ["seldondeployments"], "scope": "*"}]
    assert registered["metadata"]["ownerReferences"][0]["kind"] == "CustomResourceDefinition"
    code, svc = call(sandbox, "GET", f"/api/v1/namespaces/{OPERATOR_NS}/services/seldon-webhook-service")
    assert code == 200, svc


@pytest.mark.parametrize(("predictors", "message"), [
    ([predictor("main", "s3://models/iris", implementation="FOO_SERVER")],
     'SeldonDeployment.machinelearing.seldon.io "bad" is invalid: spec.predictors[0].graph: Invalid value: '
     '"classifier": No entry in predictors map for FOO_SERVER'),
    ([predictor("main", "")],
     'SeldonDeployment.machinelearing.seldon.io "bad" is invalid: spec.predictors[0].graph: Invalid value: '
     '"classifier": Predictive unit modelUri required when using standalone servers'),
    ([predictor("a", "s3://models/iris", traffic=60), predictor("b", "s3://models/iris", traffic=30)],
     'SeldonDeployment.machinelearing.seldon.io "bad" is invalid: spec: Invalid value: "a": Traffic must sum to 100 '
     "for multiple predictors"),
    ([predictor("a", "s3://models/iris", traffic=50), predictor("a", "s3://models/iris", traffic=50)],
     'SeldonDeployment.machinelearing.seldon.io "bad" is invalid: spec.predictors[1]: Invalid value: "a": '
     "Duplicate predictor name"),
    ([predictor("a", "", traffic=50), predictor("a", "s3://models/iris", traffic=40)],
     'SeldonDeployment.machinelearing.seldon.io "bad" is invalid: [spec.predictors[0].graph: Invalid value: '
     '"classifier": Predictive unit modelUri required when using standalone servers, spec.predictors[1]: Invalid '
     'value: "a": Duplicate predictor name, spec: Invalid value: "a": Traffic must sum to 100 for multiple '
     "predictors]"),
], ids=["unknown-implementation", "no-model-uri", "traffic", "duplicate-names", "several"])
def test_refused_with_upstreams_message(sandbox, model_ns, registered, predictors, message):
    code, body = call(sandbox, "POST", SDEP_PATH.format(ns=model_ns), sdep_body("bad", predictors))
    assert code == 422, body
    assert body["message"] == DENIED + message
    assert body["reason"] == "Invalid"
    assert body["details"]["kind"] == "SeldonDeployment"


def test_valid_and_out_of_scope_objects_pass(sandbox, model_ns, registered):
    ok = sdep_body("good", [predictor("main", "s3://models/iris")])
    code, body = call(sandbox, "POST", SDEP_PATH.format(ns=model_ns) + "?dryRun=All", ok)
    assert code == 201, body
    # another controller's object (seldon.io/controller-id) is not this webhook's
    other = sdep_body("other", [predictor("main", "s3://models/iris", implementation="FOO_SERVER")])
    other["metadata"]["labels"] = {"seldon.io/controller-id": "someone-else"}
    code, body = call(sandbox, "POST", SDEP_PATH.format(ns=model_ns) + "?dryRun=All", other)
    assert code == 201, body


def test_update_is_validated_too(sandbox, model_ns, registered):
    path = SDEP_PATH.format(ns=model_ns)
    code, body = call(sandbox, "POST", path + "?dryRun=All", sdep_body("u", [predictor("main", "s3://models/iris")]))
    assert code == 201, body
    code, body = call(sandbox, "POST", path, sdep_body("u", [predictor("main", "s3://models/iris")]))
    assert code == 201, body
    for _attempt in range(5):  # read-modify-write: the operator writes the status meanwhile (409 Conflict)
        body = call(sandbox, "GET", f"{path}/u")[1]
        body["spec"]["predictors"][0]["graph"]["implementation"] = "FOO_SERVER"
        code, out = call(sandbox, "PUT", f"{path}/u", body)
        if code != 409:
            break
    assert code == 422 and out["message"].endswith("No entry in predictors map for FOO_SERVER"), out
    call(sandbox, "DELETE", f"{path}/u")


def test_validation_rules_offline():
    """The checks that need no cluster: shadows, protocols, transports, graphs without containers."""
    servers = {"SKLEARN_SERVER": {}}
    spec = {"metadata": {"name": "x"}, "spec": {"protocol": "grpc-ish", "predictors": [
        {"name": "s", "shadow": True, "graph": {"name": "m", "implementation": "SKLEARN_SERVER", "modelUri": "s3://x"}}]}}
    assert [e[2] for e in validation_errors(spec, servers)] == ["Invalid protocol",
                                                                "Shadow can not exist as only predictor"]
    custom = {"spec": {"predictors": [{"name": "p", "graph": {"name": "mine"}}]}}
    assert validation_errors(custom, servers) == [("spec.predictors[0].graph", "mine",
                                                   "Can't find container for Predictive Unit")]
    assert validation_errors({"spec": {}}, servers) == [("spec", "", "Graph contains no predictors")]
