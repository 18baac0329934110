"""What the sandbox operator makes of a SeldonDeployment (pure functions, no sandbox needed)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from sandbox.seldon import spec as S
from sandbox.seldon.operator import derivative
from sandbox.seldon.storage import DownloadError, download


def _sdep(predictors, name="iris", ns="models", protocol=None, labels=None):
    o = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
         "metadata": {"name": name, "namespace": ns, "uid": "u1", "labels": labels or {}},
         "spec": {"predictors": predictors}}
    if protocol:
        o["spec"]["protocol"] = protocol
    return o


def _pred(name="default", traffic=None, shadow=False, uri="s3://models/iris"):
    p = {"name": name, "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": uri,
                                 "envSecretRefName": "creds"}}
    if traffic is not None:
        p["traffic"] = traffic
    if shadow:
        p["shadow"] = True
    return p


CFG = S.OperatorConfig(servers={"SKLEARN_SERVER": {"protocols": {
    "seldon": {"image": "reg.local/seldonio/sklearnserver", "defaultImageVersion": "1.18.2"},
    "v2": {"image": "reg.local/seldonio/mlserver", "defaultImageVersion": "1.3.5-sklearn"}}}},
    storage_initializer={"image": "reg.local/seldonio/rclone-storage-initializer:1.18.2"})


def test_prepackaged_deployment_and_services():
    d = S.build(_sdep([_pred()]), CFG)
    assert [x["metadata"]["name"] for x in d.deployments] == ["iris-default-0-classifier"]
    assert sorted(s["metadata"]["name"] for s in d.services) == ["iris-default", "iris-default-classifier"]
    dep = d.deployments[0]
    tpl = dep["spec"]["template"]
    assert tpl["metadata"]["labels"]["seldon-app"] == "iris-default"
    assert dep["spec"]["selector"]["matchLabels"] == {"seldon-deployment-id": "iris", "seldon-app-svc":
                                                      "iris-default-classifier", "seldon-app": "iris-default"}
    model, engine = tpl["spec"]["containers"]
    assert model["image"] == "reg.local/seldonio/sklearnserver:1.18.2"
    assert engine["name"] == "seldon-container-engine"
    params = json.loads(next(e["value"] for e in model["env"] if e["name"] == "PREDICTIVE_UNIT_PARAMETERS"))
    assert {"name": "model_uri", "type": "STRING", "value": "/mnt/models"} in params
    pred = json.loads(base64.b64decode(next(e["value"] for e in engine["env"] if e["name"] == "ENGINE_PREDICTOR")))
    assert pred["graph"]["name"] == "classifier"
    init = tpl["spec"]["initContainers"][0]
    assert init["image"] == "reg.local/seldonio/rclone-storage-initializer:1.18.2"
    assert init["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert {"name": "classifier-provision-location", "emptyDir": {}} in tpl["spec"]["volumes"]
    assert d.address == "http://iris-default.models.svc.cluster.local:8000/api/v1.0/predictions"


def test_v2_and_pvc():
    d = S.build(_sdep([_pred(uri="pvc://claim/some/dir")], protocol="v2"), CFG)
    tpl = d.deployments[0]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in tpl["containers"][0]["env"]}
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "mlserver_sklearn.SKLearnModel"
    assert tpl["containers"][0]["image"] == "reg.local/seldonio/mlserver:1.3.5-sklearn"
    assert tpl["initContainers"][0]["args"] == ["/mnt/pvc/some/dir", "/mnt/models"]
    assert {"name": "kfserving-pvc-source", "persistentVolumeClaim": {"claimName": "claim"}} in tpl["volumes"]
    assert d.address.endswith("/v2/models/classifier/infer")


def test_ambassador_canary_and_shadow():
    preds = [_pred("main", traffic=75), _pred("canary", traffic=25), _pred("mirror", shadow=True)]
    d = S.build(_sdep(preds), CFG)
    ann = {s["metadata"]["name"]: s["metadata"].get("annotations", {}).get(S.AMBASSADOR_ANNOTATION)
           for s in d.services}
    main = list(yaml.safe_load_all(ann["iris-main"]))
    assert main[0]["prefix"] == "/seldon/models/iris/" and main[0]["service"] == "iris-main.models:8000"
    assert "weight" not in main[0] and main[1]["grpc"] is True
    canary = list(yaml.safe_load_all(ann["iris-canary"]))
    assert canary[0]["weight"] == 25
    mirror = list(yaml.safe_load_all(ann["iris-mirror"]))
    assert mirror[0]["shadow"] is True
    labels = {x["metadata"]["name"]: x["metadata"]["labels"] for x in d.deployments}
    assert labels["iris-canary-0-classifier"]["seldon.io/canary"] == "true"
    assert labels["iris-mirror-0-classifier"]["seldon.io/shadow"] == "true"


@pytest.mark.parametrize("preds,msg", [
    ([_pred("a", traffic=50), _pred("b", traffic=20)], "Traffic must sum to 100"),
    ([_pred("a"), _pred("a")], "duplicate predictor names"),
    ([], "no predictors"),
])
def test_validation(preds, msg):
    with pytest.raises(S.SpecError, match=msg):
        S.build(_sdep(preds), CFG)


def test_custom_container_without_implementation():
    p = {"name": "default", "componentSpecs": [{"spec": {"containers": [{"name": "clf", "image": "me/iris:1.0"}]}}],
         "graph": {"name": "clf", "type": "MODEL"}}
    d = S.build(_sdep([p]), CFG)
    con = d.deployments[0]["spec"]["template"]["spec"]["containers"][0]
    assert con["image"] == "me/iris:1.0" and "initContainers" not in d.deployments[0]["spec"]["template"]["spec"]
    with pytest.raises(S.SpecError, match="Can't find container"):
        S.build(_sdep([{"name": "default", "graph": {"name": "x"}}]), CFG)


def test_operator_config_scope():
    deploy = {"metadata": {"name": "seldon-controller-manager", "namespace": "seldon-system"},
              "spec": {"template": {"spec": {"containers": [{"name": "manager", "env": [
                  {"name": "WATCH_NAMESPACE", "value": "models"}, {"name": "CONTROLLER_ID", "value": "team-a"},
                  {"name": "AMBASSADOR_SINGLE_NAMESPACE", "value": "true"}]}]}}}}
    cfg = S.OperatorConfig.from_objects(deploy, None)
    assert cfg.watches(_sdep([_pred()], labels={"seldon.io/controller-id": "team-a"}))
    assert not cfg.watches(_sdep([_pred()]))
    assert not cfg.watches(_sdep([_pred()], ns="other", labels={"seldon.io/controller-id": "team-a"}))
    # as upstream: the cache is limited to "models", so seldon-config in seldon-system cannot be read
    with pytest.raises(S.SpecError, match="No entry in predictors map for SKLEARN_SERVER"):
        S.build(_sdep([_pred()]), cfg)
    deploy["metadata"]["namespace"] = "models"  # the operator inside the watched namespace (upstream's chart)
    cfg = S.OperatorConfig.from_objects(deploy, None)
    d = S.build(_sdep([_pred()]), cfg)
    svc = next(s for s in d.services if s["metadata"]["name"] == "iris-default")
    assert len(list(yaml.safe_load_all(svc["metadata"]["annotations"][S.AMBASSADOR_ANNOTATION]))) == 4


def test_derivative():
    assert derivative({"a": 1, "b": [{"c": 2}]}, {"a": 1, "b": [{"c": 2, "d": 3}], "e": 4})
    assert not derivative({"a": 1, "b": [{"c": 2}]}, {"a": 1, "b": [{"c": 3}]})
    assert not derivative({"b": [1, 2]}, {"b": [1]})


def test_download_errors(tmp_path):
    with pytest.raises(DownloadError, match=r"gs:// is not available in the sandbox"):
        download("gs://bucket/m", str(tmp_path / "a"), {}, lambda p: None)
    with pytest.raises(DownloadError, match="didn't find section"):
        download("myremote:bucket/m", str(tmp_path / "b"), {}, lambda p: None)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "model.joblib").write_text("x")
    assert download(f"file://{src}", str(tmp_path / "c"), {}, lambda p: None) == 1
    assert (tmp_path / "c" / "sub" / "model.joblib").read_text() == "x"
    assert download("/mnt/pvc/src", str(tmp_path / "d"), {}, lambda p: str(src) if p == "/mnt/pvc/src" else None) == 1
