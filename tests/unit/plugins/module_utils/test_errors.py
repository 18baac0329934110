"""Error translation: every client failure becomes one readable line."""

from __future__ import annotations

import json

import urllib3
from ansible_collections.mlops.k8s.plugins.module_utils.errors import (
    K8sError,
    describe_api_error,
    obj_ref,
    ref,
    to_k8s_error,
)
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError, api_exception

INVALID = {
    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
    "message": 'Deployment.apps "iris" is invalid: spec.replicas: Invalid value: -1: '
               "must be greater than or equal to 0",
    "details": {"name": "iris", "group": "apps", "kind": "Deployment", "causes": [
        {"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0",
         "field": "spec.replicas"}]},
}


def api_error(status, body, reason="Unprocessable Entity"):
    exc = ApiException(status=status, reason=reason, body=json.dumps(body) if isinstance(body, dict) else body)
    return exc


def test_invalid_status_becomes_one_line_with_causes():
    err = to_k8s_error(api_error(422, INVALID), "Deployment models/iris")
    assert isinstance(err, K8sError)
    assert err.status == 422
    assert err.reason == "Invalid"
    assert err.msg == (
        'Deployment models/iris: 422 Invalid: Deployment.apps "iris" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0 (causes: spec.replicas: Invalid value: -1: must be greater than or "
        "equal to 0)"
    )
    assert "\n" not in err.msg


def test_dynamic_api_error_is_translated_too():
    conflict = 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    dyn = api_exception(api_error(409, {"kind": "Status", "reason": "Conflict", "code": 409, "message": conflict}))
    err = to_k8s_error(dyn, "Deployment models/iris")
    assert err.msg.startswith("Deployment models/iris: 409 Conflict: Apply failed with 1 conflict")
    assert err.status == 409


def test_non_json_body_and_no_body():
    assert describe_api_error(api_error(502, "<html>bad gateway</html>", "Bad Gateway")) == \
        "502 Bad Gateway: <html>bad gateway</html>"
    assert describe_api_error(ApiException(status=403, reason="Forbidden")) == "403 Forbidden"


def test_status_zero_is_a_connection_problem():
    err = to_k8s_error(ApiException(status=0, reason="SSLError\ncertificate verify failed"), "ConfigMap a/b")
    assert err.msg == "ConfigMap a/b: cannot reach the Kubernetes API: SSLError certificate verify failed"


def test_urllib3_errors():
    inner = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    err = to_k8s_error(urllib3.exceptions.MaxRetryError(None, "https://127.0.0.1:1/api", inner))
    assert err.msg.startswith("cannot reach the Kubernetes API (https://127.0.0.1:1/api): ")
    assert "Connection refused" in err.msg
    assert to_k8s_error(ConnectionResetError("reset by peer")).msg == "cannot reach the Kubernetes API: reset by peer"


def test_resource_not_found_and_other_exceptions():
    err = to_k8s_error(ResourceNotFoundError("No matches found"), "discovery")
    assert err.status == 404 and err.msg == "discovery: No matches found"
    assert to_k8s_error(ValueError("bad\n  value")).msg == "ValueError: bad value"
    same = K8sError("x")
    assert to_k8s_error(same) is same


def test_refs():
    assert ref("Deployment", "models", "iris") == "Deployment models/iris"
    assert ref("Namespace", None, "models") == "Namespace models"
    assert ref("Pod", "models") == "Pod in namespace models"
    assert obj_ref({"kind": "Job", "metadata": {"generateName": "train-", "namespace": "ml"}}) == "Job ml/train-"


def test_the_timeout_hint_is_for_timeouts_only():
    import urllib3
    from ansible_collections.mlops.k8s.plugins.module_utils.errors import to_k8s_error

    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: refused")
    assert "request_timeout" not in to_k8s_error(urllib3.exceptions.MaxRetryError(None, "/api", refused)).msg
    timed_out = urllib3.exceptions.ReadTimeoutError(None, "/api", "Read timed out. (read timeout=1)")
    assert "no answer within the request timeout" in to_k8s_error(
        urllib3.exceptions.MaxRetryError(None, "/api", timed_out)).msg


def status_500(message):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "reason": "InternalError",
            "message": message}


def test_webhook_failures_in_plain_words():
    timeout = status_500('Internal error occurred: failed calling webhook "v1.vseldondeployment.kb.io": failed to '
                         'call webhook: Post "https://seldon-webhook-service.seldon-system.svc:443/validate-machine'
                         'learning-seldon-io-v1-seldondeployment?timeout=10s": context deadline exceeded')
    msg = to_k8s_error(api_error(500, timeout), "SeldonDeployment models/iris").msg
    assert msg.startswith("SeldonDeployment models/iris: 500 InternalError: Internal error occurred: failed calling")
    assert msg.endswith("(the admission webhook v1.vseldondeployment.kb.io did not answer within its timeout: the "
                        "pod that serves it is overloaded or hung; the write was refused, retry once it answers)")
    gone = status_500('Internal error occurred: failed calling webhook "v1.vseldondeployment.kb.io": failed to call '
                      'webhook: Post "https://seldon-webhook-service.seldon-system.svc:443/x?timeout=10s": no '
                      'endpoints available for service "seldon-webhook-service"')
    assert "no running pod serves the admission webhook v1.vseldondeployment.kb.io: Service " \
        "seldon-webhook-service has no ready endpoints" in describe_api_error(api_error(500, gone))
    conversion = status_500('conversion webhook for getambassador.io/v3alpha1, Kind=Module failed: Post "https://'
                            'emissary-apiext.emissary-system.svc:443/webhooks/crd-convert?timeout=30s": tls: failed '
                            "to verify certificate: x509: certificate signed by unknown authority")
    assert describe_api_error(api_error(500, conversion)).endswith(
        "(the conversion webhook of Module (getambassador.io/v3alpha1) serves a certificate its caBundle does not "
        "trust: the CA is not injected yet, or is stale)")
    denied = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid",
              "message": 'admission webhook "v1.vseldondeployment.kb.io" denied the request: nope'}
    assert describe_api_error(api_error(422, denied)) == (
        '422 Invalid: admission webhook "v1.vseldondeployment.kb.io" denied the request: nope')
