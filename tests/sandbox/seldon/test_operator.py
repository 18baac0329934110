"""The sandbox Seldon Core v1 operator: gating on the operator Deployment, the resources it creates, real model
servers behind the gateway (Seldon and V2 protocols), failures with reasons, canary and shadow, rollouts, deletion."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from sbx import wait_for
from seldon_helpers import (
    BUCKET,
    IRIS,
    IRIS_V2,
    SDEP_PATH,
    call,
    gateway,
    get_sdep,
    predictor,
    sdep_body,
    wait_state,
)

pytestmark = pytest.mark.sandbox


def _probs_ok(out):
    rows = out["data"]["ndarray"]
    return len(rows) == 3 and all(len(r) == 3 and abs(sum(r) - 1.0) < 1e-6 for r in rows)


def test_no_operator_no_status(sandbox, seldon_crd, request):
    """Without an Available operator Deployment a SeldonDeployment gets no status and no resources."""
    code, _ = call(sandbox, "GET", "/apis/apps/v1/namespaces/seldon-system/deployments/seldon-controller-manager")
    if code == 200:
        pytest.skip("the operator is already installed in this session")
    call(sandbox, "POST", "/api/v1/namespaces", {"metadata": {"name": "no-operator"}})
    code, out = call(sandbox, "POST", SDEP_PATH.format(ns="no-operator"),
                     sdep_body("waiting", [predictor("default", "s3://models/none")]))
    assert code == 201, out
    wait_for(lambda: sandbox.reconciles("seldon-operator", "no-operator", "waiting"), 30,
             what="the operator component to look at the SeldonDeployment")
    assert "status" not in get_sdep(sandbox, "no-operator", "waiting")
    _, deps = call(sandbox, "GET", "/apis/apps/v1/namespaces/no-operator/deployments")
    assert deps["items"] == []
    # once the operator is there the SeldonDeployment is reconciled (it fails: its storage secret is missing,
    # the init container is in CreateContainerConfigError as on a real cluster)
    request.getfixturevalue("seldon_operator")
    o = wait_state(sandbox, "no-operator", "waiting", ("Failed",), timeout=60)
    assert o["status"]["description"] == 'secret "s3-creds" not found'
    _, pods = call(sandbox, "GET", "/api/v1/namespaces/no-operator/pods")
    init = pods["items"][0]["status"]["initContainerStatuses"][0]
    assert init["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    call(sandbox, "DELETE", "/api/v1/namespaces/no-operator")


def test_iris_s3_seldon_protocol(sandbox, model_ns, iris_uri):
    ns = model_ns
    code, out = call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("iris", [predictor("default", iris_uri)]))
    assert code == 201, out
    o = wait_state(sandbox, ns, "iris")
    st = o["status"]
    assert st["address"]["url"] == f"http://iris-default.{ns}.svc.cluster.local:8000/api/v1.0/predictions"
    assert st["deploymentStatus"]["iris-default-0-classifier"]["availableReplicas"] == 1
    assert set(st["serviceStatus"]) == {"iris-default", "iris-default-classifier"}
    assert st["observedGeneration"] == o["metadata"]["generation"]
    # what the operator created
    _, dep = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/iris-default-0-classifier")
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "SeldonDeployment"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["seldon-deployment-id"] == "iris" and labels["seldon-app"] == "iris-default"
    pod_spec = dep["spec"]["template"]["spec"]
    assert [c["name"] for c in pod_spec["containers"]] == ["classifier", "seldon-container-engine"]
    model = pod_spec["containers"][0]
    assert model["image"] == "docker.io/seldonio/sklearnserver:1.18.2"
    env = {e["name"]: e.get("value") for e in model["env"]}
    assert env["PREDICTIVE_UNIT_ID"] == "classifier" and env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] == "9000"
    assert {p["containerPort"] for p in model["ports"]} == {9000, 9500, 6000}
    init = pod_spec["initContainers"][0]
    assert init["name"] == "classifier-model-initializer"
    assert init["image"] == "docker.io/seldonio/rclone-storage-initializer:1.18.2"
    assert init["args"] == [iris_uri, "/mnt/models"]
    assert init["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    _, svc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/iris-default")
    assert {p["port"] for p in svc["spec"]["ports"]} == {8000, 5001}
    amb = svc["metadata"]["annotations"]["getambassador.io/config"]
    assert f"prefix: /seldon/{ns}/iris/" in amb and f"service: iris-default.{ns}:8000" in amb
    # events
    _, evs = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/events")
    reasons = {e["reason"] for e in evs["items"] if e["involvedObject"].get("kind") == "SeldonDeployment"}
    assert {"CreateResourceSuccess", "Updated"} <= reasons
    # a real prediction through the gateway
    code, out = gateway(sandbox, f"/seldon/{ns}/iris/api/v1.0/predictions", IRIS)
    assert code == 200, out
    assert _probs_ok(out), out
    # the pod log is the server's output
    _, pods = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods")
    pod = pods["items"][0]["metadata"]["name"]
    code, _, text = sandbox.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}/log?container=classifier",
                                    accept="*/*")
    assert code == 200 and text, text
    code, _, text = sandbox.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}/log?container="
                                           "classifier-model-initializer", accept="*/*")
    assert code == 200 and b"model.joblib" in text, text


def _endpoints(sandbox, ns, pod_prefix):
    code, out = call(sandbox, "GET", "/sandbox/v1/endpoints")
    assert code == 200, out
    return [e for e in out["items"] if e["namespace"] == ns and e["pod"].startswith(pod_prefix)]


def _pods(sandbox, ns, prefix=""):
    _, pods = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods")
    return [p for p in pods["items"] if p["metadata"]["name"].startswith(prefix)
            and not p["metadata"].get("deletionTimestamp")]


def _log(sandbox, ns, pod, container):
    code, _, text = sandbox.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}/log?container={container}",
                                    accept="*/*")
    assert code == 200, text
    return text.decode(errors="replace")


def test_v2_protocol(sandbox, model_ns, iris_uri):
    ns = model_ns
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("irisv2", [predictor("default", iris_uri)],
                                                             protocol="v2"))
    o = wait_state(sandbox, ns, "irisv2")
    assert o["status"]["address"]["url"].endswith("/v2/models/classifier/infer")
    _, dep = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/irisv2-default-0-classifier")
    model = dep["spec"]["template"]["spec"]["containers"][0]
    assert model["image"] == "docker.io/seldonio/mlserver:1.3.5-sklearn"
    env = {e["name"]: e.get("value") for e in model["env"]}
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "mlserver_sklearn.SKLearnModel"
    body = dict(IRIS_V2, outputs=[{"name": "predict_proba"}])
    code, out = gateway(sandbox, f"/seldon/{ns}/irisv2/v2/models/classifier/infer", body)
    assert code == 200, out
    assert out["model_name"] == "classifier"
    assert out["outputs"][0]["shape"] == [3, 3], out


def test_pvc_model_uri(sandbox, model_ns, iris_model):
    ns = model_ns
    code, out = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
        "metadata": {"name": "models"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName":
                                                 "standard-immediate", "resources": {"requests": {"storage": "1Gi"}}}})
    assert code == 201, out

    def bound():
        _, pvc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/models")
        return pvc if (pvc.get("status") or {}).get("phase") == "Bound" else None
    pvc = wait_for(bound, 30, what="the claim to be Bound")
    _, pv = call(sandbox, "GET", f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}")
    target = Path(pv["spec"]["hostPath"]["path"]) / "iris"
    target.mkdir(parents=True)
    shutil.copy(iris_model / "model.joblib", target / "model.joblib")
    call(sandbox, "POST", SDEP_PATH.format(ns=ns),
         sdep_body("irispvc", [predictor("default", "pvc://models/iris", env_secret=None)]))
    wait_state(sandbox, ns, "irispvc")
    code, out = gateway(sandbox, f"/seldon/{ns}/irispvc/api/v1.0/predictions", IRIS)
    assert code == 200 and _probs_ok(out), out


def test_unavailable_uri_fails_fast(sandbox, model_ns, s3):
    del s3   # the bucket exists (the fixture makes it): only the path in it is missing
    ns = model_ns
    t0 = time.monotonic()
    call(sandbox, "POST", SDEP_PATH.format(ns=ns),
         sdep_body("gcs", [predictor("default", "gs://bucket/iris", env_secret=None)]))
    o = wait_state(sandbox, ns, "gcs", ("Failed",), timeout=30)
    assert time.monotonic() - t0 < 15
    assert o["status"]["description"] == "model download failed: gs:// is not available in the sandbox"
    entry = o["status"]["deploymentStatus"]["gcs-default-0-classifier"]
    assert entry["status"] == "Failed" and "gs://" in entry["description"]

    def restarted():
        pods = _pods(sandbox, ns, "gcs-default-0-classifier")
        ics = (pods[0]["status"].get("initContainerStatuses") or [{}])[0] if pods else {}
        return ics if ics.get("restartCount", 0) >= 1 and "waiting" in ics.get("state", {}) else None
    ics = wait_for(restarted, 30, what="the storage initializer to be restarted")
    assert ics["name"] == "classifier-model-initializer"
    assert ics["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "gs:// is not available" in ics["lastState"]["terminated"]["message"]
    assert ics["lastState"]["terminated"]["exitCode"] == 1
    # a missing S3 prefix is a download failure too
    call(sandbox, "POST", SDEP_PATH.format(ns=ns),
         sdep_body("nos3", [predictor("default", "s3://models/does/not/exist")]))
    o = wait_state(sandbox, ns, "nos3", ("Failed",), timeout=30)
    assert o["status"]["description"].startswith("model download failed: directory not found"), o["status"]


def test_model_that_fails_to_load(sandbox, model_ns, s3):
    ns = model_ns
    s3.put_object(Bucket=BUCKET, Key="broken/model.joblib", Body=b"this is not a pickle")
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("broken", [predictor("default", f"s3://{BUCKET}/broken")]))
    o = wait_state(sandbox, ns, "broken", ("Failed",), timeout=90)
    desc = o["status"]["description"]
    assert "SKLEARN_SERVER model server" in desc and "model.joblib" in desc, desc

    def crashloop():
        pods = _pods(sandbox, ns, "broken-default-0-classifier")
        cs = next((c for c in (pods[0]["status"].get("containerStatuses") or []) if c["name"] == "classifier"),
                  {}) if pods else {}
        return cs if cs.get("restartCount", 0) >= 1 and cs.get("lastState", {}).get("terminated") else None
    cs = wait_for(crashloop, 60, what="the model container to be restarted")
    assert "model.joblib" in cs["lastState"]["terminated"]["message"]
    assert get_sdep(sandbox, ns, "broken")["status"]["state"] == "Failed"


def test_controller_id_scope(sandbox, model_ns, iris_uri):
    """An operator without CONTROLLER_ID ignores SeldonDeployments labelled for another controller."""
    ns = model_ns
    body = sdep_body("other", [predictor("default", iris_uri)])
    body["metadata"]["labels"] = {"seldon.io/controller-id": "someone-else"}
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), body)
    wait_for(lambda: sandbox.reconciles("seldon-operator", ns, "other"), 30,
             what="the operator component to look at the SeldonDeployment")
    assert "status" not in get_sdep(sandbox, ns, "other")


def test_canary_traffic_and_updates(sandbox, model_ns, iris_uri, s3, iris_model):
    ns = model_ns
    main = predictor("main", iris_uri, traffic=75)
    canary = predictor("canary", iris_uri, traffic=25, method="predict")
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("split", [main, canary]))
    wait_state(sandbox, ns, "split")
    _, svc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/split-canary")
    assert "weight: 25" in svc["metadata"]["annotations"]["getambassador.io/config"]
    _, svc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/split-main")
    assert "weight" not in svc["metadata"]["annotations"]["getambassador.io/config"]
    n, to_canary = 800, 0
    for _ in range(n):
        code, out = gateway(sandbox, f"/seldon/{ns}/split/api/v1.0/predictions", IRIS)
        assert code == 200, out
        rows = out["data"]["ndarray"]
        to_canary += not isinstance(rows[0], list)     # predict -> class labels, predict_proba -> rows
    assert abs(to_canary / n - 0.25) <= 0.05, to_canary

    # traffic change -> Mappings updated; model URI change -> rollout of the main Deployment
    s3.upload_file(str(iris_model / "model.joblib"), BUCKET, "iris/v2/model.joblib")
    o = get_sdep(sandbox, ns, "split")
    o["spec"]["predictors"][0]["traffic"] = 40
    o["spec"]["predictors"][1]["traffic"] = 60
    o["spec"]["predictors"][0]["graph"]["modelUri"] = f"s3://{BUCKET}/iris/v2"
    code, out = call(sandbox, "PUT", f"{SDEP_PATH.format(ns=ns)}/split", o)
    assert code == 200, out

    def weights_updated():
        _, svc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/split-canary")
        return "weight: 60" in svc["metadata"]["annotations"]["getambassador.io/config"]
    wait_for(weights_updated, 20, what="the canary Mapping weight to be 60")
    _, dep = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/split-main-0-classifier")
    assert dep["spec"]["template"]["spec"]["initContainers"][0]["args"][0] == f"s3://{BUCKET}/iris/v2"
    assert dep["metadata"]["generation"] >= 2

    def rolled_out():
        o = get_sdep(sandbox, ns, "split")
        pods = _pods(sandbox, ns, "split-main-0-classifier")
        return o["status"]["state"] == "Available" and len(pods) == 1 and \
            pods[0]["spec"]["initContainers"][0]["args"][0].endswith("/iris/v2") and o
    wait_for(rolled_out, 120, 0.5, "the main predictor to roll out the new model")
    code, out = gateway(sandbox, f"/seldon/{ns}/split/api/v1.0/predictions", IRIS)
    assert code == 200, out


def test_shadow_gets_copies(sandbox, model_ns, iris_uri):
    ns = model_ns
    main = predictor("main", iris_uri, traffic=100)
    shadow = predictor("shadow", iris_uri, shadow=True, method="predict")
    shadow["componentSpecs"] = [{"spec": {"containers": [{"name": "classifier", "env": [
        {"name": "SELDON_LOG_LEVEL", "value": "DEBUG"}]}]}}]
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("mirror", [main, shadow]))
    wait_state(sandbox, ns, "mirror")
    _, svc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/mirror-shadow")
    assert "shadow: true" in svc["metadata"]["annotations"]["getambassador.io/config"]
    n = 20
    for _ in range(n):
        code, out = gateway(sandbox, f"/seldon/{ns}/mirror/api/v1.0/predictions", IRIS)
        assert code == 200, out
        assert _probs_ok(out), out          # never the shadow's answer (class labels)
    pod = _pods(sandbox, ns, "mirror-shadow-0-classifier")[0]["metadata"]["name"]

    def mirrored():
        return _log(sandbox, ns, pod, "classifier").count("REST Request:") >= n
    wait_for(mirrored, 20, what=f"{n} mirrored requests in the shadow's log")


def test_inference_graph_abtest(sandbox, model_ns, iris_uri):
    """A RANDOM_ABTEST root (built into the executor) over two prepackaged servers in one pod."""
    ns = model_ns

    def child(name, method):
        return {"name": name, "implementation": "SKLEARN_SERVER", "modelUri": iris_uri,
                "envSecretRefName": "s3-creds", "parameters": [{"name": "method", "type": "STRING", "value": method}]}
    graph = {"name": "ab", "implementation": "RANDOM_ABTEST",
             "parameters": [{"name": "ratioA", "type": "FLOAT", "value": "0.5"}],
             "children": [child("proba", "predict_proba"), child("labels", "predict")]}
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("graph", [{"name": "default", "graph": graph}]))
    wait_state(sandbox, ns, "graph")
    _, dep = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/graph-default-0-proba-labels")
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert names == ["proba", "labels", "seldon-container-engine"]
    seen = {0: 0, 1: 0}
    for _ in range(40):
        code, out = gateway(sandbox, f"/seldon/{ns}/graph/api/v1.0/predictions", IRIS)
        assert code == 200, out
        branch = out["meta"]["routing"]["ab"]
        seen[branch] += 1
        rows = out["data"]["ndarray"]
        assert isinstance(rows[0], list) == (branch == 0), out
        assert set(out["meta"]["requestPath"]) >= {"ab"}
    assert seen[0] and seen[1], seen


CUSTOM_CLASS = """
import os

import joblib


class IrisClassifier:
    def __init__(self, **parameters):
        self.model = None

    def load(self):
        self.model = joblib.load(os.path.join(os.environ["SANDBOX_MODEL_DIR"], "model.joblib"))

    def predict(self, X, features_names=None):
        return self.model.predict_proba(X)
"""


def test_custom_image_without_engine(sandbox, model_ns, iris_uri):
    """A custom image (a class directory in DIR/images) with a modelUri, and seldon.io/no-engine."""
    img = Path(sandbox.dir) / "images" / "iris-custom"
    img.mkdir(parents=True, exist_ok=True)
    (img / "IrisClassifier.py").write_text(CUSTOM_CLASS)
    ns = model_ns
    p = {"name": "default", "annotations": {"seldon.io/no-engine": "true"},
         "componentSpecs": [{"spec": {"containers": [{"name": "clf",
                                                      "image": "registry.example.com/team/iris-custom:0.1"}]}}],
         "graph": {"name": "clf", "type": "MODEL", "modelUri": iris_uri, "envSecretRefName": "s3-creds"}}
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("custom", [p]))
    o = wait_state(sandbox, ns, "custom")
    assert o["status"]["address"]["url"] == f"http://custom-default.{ns}.svc.cluster.local:9000/api/v1.0/predictions"
    _, dep = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/custom-default-0-clf")
    assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["clf"]
    assert dep["spec"]["template"]["spec"]["initContainers"][0]["name"] == "clf-model-initializer"
    _, svc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/custom-default")
    assert {pt["port"] for pt in svc["spec"]["ports"]} == {9000, 9500}
    code, out = gateway(sandbox, f"/seldon/{ns}/custom/api/v1.0/predictions", IRIS)
    assert code == 200 and _probs_ok(out), out
    # an image the sandbox has no directory for cannot be pulled
    p2 = {"name": "default", "componentSpecs": [{"spec": {"containers": [{"name": "clf",
                                                                          "image": "example.com/nowhere:1"}]}}],
          "graph": {"name": "clf", "type": "MODEL"}}
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("nowhere", [p2]))
    o = wait_state(sandbox, ns, "nowhere", ("Failed",), timeout=60)
    assert "nowhere" in o["status"]["description"], o["status"]
    pod = _pods(sandbox, ns, "nowhere-default-0-clf")[0]
    cs = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "clf")
    assert cs["state"]["waiting"]["reason"] == "ErrImagePull"


def test_delete_stops_processes(sandbox, model_ns, iris_uri):
    ns = model_ns
    call(sandbox, "POST", SDEP_PATH.format(ns=ns), sdep_body("gone", [predictor("default", iris_uri)]))
    wait_state(sandbox, ns, "gone")
    ports = [e["port"] for e in _endpoints(sandbox, ns, "gone-default-0-classifier")]
    assert ports
    # Available means the REST port answers its readiness probe; the server's other ports (gRPC, metrics) may
    # open a moment later, as the last CI run under load found: wait until every one listens
    wait_for(lambda: all(_listening(p) for p in ports), 30, 0.2, "every port of the model server to listen")
    code, out = call(sandbox, "DELETE", f"{SDEP_PATH.format(ns=ns)}/gone")
    assert code == 200, out

    def cleaned():
        _, deps = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments")
        _, svcs = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services")
        return not deps["items"] and not svcs["items"] and not _pods(sandbox, ns) and \
            not _endpoints(sandbox, ns, "gone-") and not any(_listening(p) for p in ports)
    wait_for(cleaned, 60, 0.5, "the Deployments, Services, pods and server processes to be gone")
    code, _ = gateway(sandbox, f"/seldon/{ns}/gone/api/v1.0/predictions", IRIS)
    assert code == 404


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
