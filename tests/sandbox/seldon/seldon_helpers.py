"""Fixtures for the sandbox Seldon operator tests: the CRD and a minimal operator Deployment (shaped like the
seldon_core role's), the sandbox S3 with a trained iris model, and helpers to wait and to call the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from sbx import wait_for

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SDEP_PATH = "/apis/machinelearning.seldon.io/v1/namespaces/{ns}/seldondeployments"
OPERATOR_NS = "seldon-system"
BUCKET = "models"


def call(sandbox, method, path, obj=None, content_type="application/json"):
    body = json.dumps(obj).encode() if obj is not None else None
    code, _, data = sandbox.request(method, path, body, content_type=content_type)
    try:
        return code, json.loads(data) if data else None
    except ValueError:
        return code, data.decode(errors="replace")


def apply(sandbox, path, obj):
    """Create or replace (keeping the resourceVersion)."""
    code, out = call(sandbox, "POST", path, obj)
    if code == 409:
        name = obj["metadata"]["name"]
        code, cur = call(sandbox, "GET", f"{path}/{name}")
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=cur["metadata"]["resourceVersion"]))
        code, out = call(sandbox, "PUT", f"{path}/{name}", obj)
    assert code in (200, 201), out
    return out


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "seldondeployments.machinelearning.seldon.io"},
    "spec": {"group": "machinelearning.seldon.io", "scope": "Namespaced",
             "names": {"kind": "SeldonDeployment", "listKind": "SeldonDeploymentList", "plural": "seldondeployments",
                       "singular": "seldondeployment", "shortNames": ["sdep"]},
             "versions": [{"name": v, "served": True, "storage": v == "v1",
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}
                          for v in ("v1", "v1alpha2", "v1alpha3")]}}

SELECTOR = {"app": "seldon", "control-plane": "seldon-controller-manager",
            "app.kubernetes.io/name": "seldon-core-operator", "app.kubernetes.io/instance": "seldon-core"}


def operator_deployment(env=None):
    base_env = {"AMBASSADOR_ENABLED": "true", "AMBASSADOR_SINGLE_NAMESPACE": "false", "CONTROLLER_ID": "",
                "WATCH_NAMESPACE": "", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "9000",
                "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "9500", "USE_EXECUTOR": "true",
                "EXECUTOR_CONTAINER_IMAGE_AND_VERSION": "docker.io/seldonio/seldon-core-executor:1.18.2"}
    base_env.update(env or {})
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "seldon-controller-manager", "namespace": OPERATOR_NS, "labels": dict(SELECTOR)},
            "spec": {"replicas": 1, "selector": {"matchLabels": dict(SELECTOR)},
                     "template": {"metadata": {"labels": dict(SELECTOR)},
                                  "spec": {"containers": [{"name": "manager",
                                                           "image": "docker.io/seldonio/seldon-core-operator:1.18.2",
                                                           "command": ["/manager"],
                                                           "ports": [{"name": "webhook-server",
                                                                      "containerPort": 4443}],
                                                           "env": [{"name": k, "value": v}
                                                                   for k, v in base_env.items()]}]}}}}


SELDON_CONFIG = {
    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seldon-config", "namespace": OPERATOR_NS},
    "data": {
        "predictor_servers": json.dumps({
            "SKLEARN_SERVER": {"protocols": {
                "seldon": {"image": "docker.io/seldonio/sklearnserver", "defaultImageVersion": "1.18.2"},
                "v2": {"image": "docker.io/seldonio/mlserver", "defaultImageVersion": "1.3.5-sklearn"}}},
            "XGBOOST_SERVER": {"protocols": {
                "seldon": {"image": "docker.io/seldonio/xgboostserver", "defaultImageVersion": "1.18.2"},
                "v2": {"image": "docker.io/seldonio/mlserver", "defaultImageVersion": "1.3.5-xgboost"}}},
            "TENSORFLOW_SERVER": {"protocols": {
                "tensorflow": {"image": "docker.io/tensorflow/serving", "defaultImageVersion": "2.1.0"}}}}),
        "storageInitializer": json.dumps({"image": "docker.io/seldonio/rclone-storage-initializer:1.18.2",
                                          "cpuRequest": "100m", "memoryRequest": "100Mi", "cpuLimit": "1",
                                          "memoryLimit": "1Gi"})}}


@pytest.fixture(scope="session")
def seldon_crd(sandbox):
    apply(sandbox, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)

    def served():
        code, _ = call(sandbox, "GET", SDEP_PATH.format(ns="default"))
        return code == 200
    wait_for(served, 10, what="the SeldonDeployment CRD to be served")
    return True


@pytest.fixture(scope="session")
def seldon_operator(sandbox, seldon_crd):
    """The operator Deployment + seldon-config; Available (simulated pod); probe delays scaled down 10x."""
    call(sandbox, "POST", "/api/v1/namespaces", {"metadata": {"name": OPERATOR_NS}})
    apply(sandbox, f"/api/v1/namespaces/{OPERATOR_NS}/configmaps", SELDON_CONFIG)
    apply(sandbox, f"/apis/apps/v1/namespaces/{OPERATOR_NS}/deployments", operator_deployment())
    code, out = call(sandbox, "POST", "/sandbox/v1/controllers/seldon-operator", {"time_scale": 0.1})
    assert code == 200, out

    def available():
        _, d = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{OPERATOR_NS}/deployments/seldon-controller-manager")
        return any(c["type"] == "Available" and c["status"] == "True"
                   for c in (d.get("status") or {}).get("conditions") or [])
    wait_for(available, 30, what="the operator Deployment to be Available")
    return True


@pytest.fixture(scope="session")
def s3(sandbox):
    import boto3
    env = sandbox.env
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("iris")
    subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "train.py"), str(out)], check=True,
                   capture_output=True, timeout=300)
    assert (out / "model.joblib").is_file()
    return out


@pytest.fixture(scope="session")
def iris_uri(s3, iris_model):
    for f in ("model.joblib",):
        s3.upload_file(str(iris_model / f), BUCKET, f"iris/v1/{f}")
    return f"s3://{BUCKET}/iris/v1"


@pytest.fixture
def model_ns(sandbox, seldon_operator):
    """A namespace with an rclone-style storage secret for the sandbox S3."""
    name = "m-" + uuid.uuid4().hex[:8]
    code, body = call(sandbox, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert code == 201, body
    env = sandbox.env
    secret = {"metadata": {"name": "s3-creds"}, "type": "Opaque", "stringData": {
        "RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other", "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        "RCLONE_CONFIG_S3_ENDPOINT": env["AWS_ENDPOINT_URL"], "RCLONE_CONFIG_S3_REGION": env["AWS_DEFAULT_REGION"]}}
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{name}/secrets", secret)
    assert code == 201, body
    yield name
    call(sandbox, "DELETE", f"/api/v1/namespaces/{name}")


def sdep_body(name, predictors, protocol=None, annotations=None):
    body = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": name}, "spec": {"predictors": predictors}}
    if protocol:
        body["spec"]["protocol"] = protocol
    if annotations:
        body["spec"]["annotations"] = annotations
    return body


def predictor(name, uri, *, traffic=None, shadow=False, method=None, implementation="SKLEARN_SERVER",
              env_secret="s3-creds", replicas=1):  # noqa: S107 - a Secret name
    graph = {"name": "classifier", "implementation": implementation, "modelUri": uri}
    if env_secret:
        graph["envSecretRefName"] = env_secret
    if method:
        graph["parameters"] = [{"name": "method", "type": "STRING", "value": method}]
    p = {"name": name, "replicas": replicas, "graph": graph}
    if traffic is not None:
        p["traffic"] = traffic
    if shadow:
        p["shadow"] = True
    return p


def get_sdep(sandbox, ns, name):
    code, out = call(sandbox, "GET", f"{SDEP_PATH.format(ns=ns)}/{name}")
    return out if code == 200 else None


def wait_state(sandbox, ns, name, states=("Available",), timeout=180):
    def check():
        o = get_sdep(sandbox, ns, name)
        st = ((o or {}).get("status") or {})
        return o if st.get("state") in states else None
    try:
        return wait_for(check, timeout, 0.5, f"SeldonDeployment {ns}/{name} to be {states}")
    except AssertionError:
        o = get_sdep(sandbox, ns, name)
        _, pods = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods")
        raise AssertionError(f"{ns}/{name} status {json.dumps((o or {}).get('status'), indent=1)}\npods: "
                             + json.dumps([p.get("status") for p in (pods or {}).get("items", [])], indent=1)
                             ) from None


def gateway(sandbox, path, body, timeout=30):
    url = sandbox.env["AMBASSADOR_URL"] + path
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - local http
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


IRIS = {"data": {"names": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
                 "ndarray": [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]}}
IRIS_V2 = {"inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64",
                       "data": [5.1, 3.5, 1.4, 0.2, 6.4, 3.2, 4.5, 1.5, 6.3, 3.3, 6.0, 2.5]}]}
