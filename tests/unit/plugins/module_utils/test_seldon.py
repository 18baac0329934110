"""SeldonDeployment builder, validation, status interpretation and explanations."""

from __future__ import annotations

import copy
import json
import os

import jsonschema
import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import seldon
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "data", "seldondeployment_v1_schema.json")
with open(SCHEMA_FILE, encoding="utf-8") as _handle:
    SCHEMA = json.load(_handle)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def valid(obj):
    errors = sorted(VALIDATOR.iter_errors(obj), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join("%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in errors)
    return obj


SKLEARN = {"name": "default", "implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/v1",
           "env_secret_ref_name": "seldon-init-container-secret"}


# -- the schema itself catches what it should ---------------------------------------------------------------
def test_schema_rejects_misspelt_fields():
    obj = seldon.build_sdep("iris", [SKLEARN], namespace="models")
    bad = copy.deepcopy(obj)
    bad["spec"]["predictors"][0]["graph"]["modelURI"] = "s3://x"
    assert list(VALIDATOR.iter_errors(bad))
    bad = copy.deepcopy(obj)
    bad["spec"]["predictors"][0]["traffic"] = "100"
    assert list(VALIDATOR.iter_errors(bad))
    bad = copy.deepcopy(obj)
    bad["spec"]["predictors"][0]["componentSpecs"] = [{"spec": {"containers": [{"name": "x", "readinessprobe": {}}]}}]
    assert list(VALIDATOR.iter_errors(bad))


# -- builder: the seed shapes ---------------------------------------------------------------------------------
def test_prepackaged_sklearn_from_s3():
    obj = valid(seldon.build_sdep("iris", [dict(SKLEARN, replicas=2)], namespace="models",
                                  labels={"team": "ds"}, annotations={"owner": "me"}))
    assert obj["apiVersion"] == "machinelearning.seldon.io/v1"
    assert obj["kind"] == "SeldonDeployment"
    assert obj["metadata"] == {"name": "iris", "namespace": "models", "labels": {"team": "ds"},
                               "annotations": {"owner": "me"}}
    pred = obj["spec"]["predictors"][0]
    assert pred == {
        "name": "default",
        "graph": {"name": "classifier", "type": "MODEL", "implementation": "SKLEARN_SERVER",
                  "modelUri": "s3://models/iris/v1", "envSecretRefName": "seldon-init-container-secret",
                  "children": []},
        "replicas": 2,
        "traffic": 100,
    }
    assert "protocol" not in obj["spec"]


def test_prepackaged_with_long_probes_like_seed_003():
    obj = valid(seldon.build_sdep("mlflow", [{
        "name": "predictor", "model_name": "prediction", "implementation": "MLFLOW_SERVER",
        "model_uri": "gs://bucket/0/abc/artifacts/model", "probe_initial_delay_seconds": 60}]))
    pred = obj["spec"]["predictors"][0]
    container = pred["componentSpecs"][0]["spec"]["containers"][0]
    assert container["name"] == "prediction" == pred["graph"]["name"]
    assert "image" not in container  # the operator's server image, only the probes are overridden
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe] == {"httpGet": {"path": "/health/ping", "port": "http", "scheme": "HTTP"},
                                    "initialDelaySeconds": 60, "periodSeconds": 5, "failureThreshold": 100,
                                    "successThreshold": 1}


def test_custom_image_env_pvc_probes_like_seed_004():
    obj = valid(seldon.build_sdep("transformer", [{
        "name": "transformer", "model_name": "transformer", "image": "transformer:latest",
        "env": {"MODEL_LOCATION": "/mnt/parameters/gpt2", "DEBUG": True},
        "pvc_mounts": [{"claim_name": "model-parameters-pvc", "mount_path": "/mnt/parameters"}],
        "readiness_probe": 120,
        "liveness_probe": {"tcpSocket": {"port": 9000}, "initialDelaySeconds": 300},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "labels": {"version": "v1"}, "replicas": 1}], namespace="models"))
    pred = obj["spec"]["predictors"][0]
    assert pred["graph"] == {"name": "transformer", "type": "MODEL", "children": []}
    pod = pred["componentSpecs"][0]["spec"]
    assert pod["volumes"] == [{"name": "model-parameters-pvc",
                               "persistentVolumeClaim": {"claimName": "model-parameters-pvc"}}]
    container = pod["containers"][0]
    assert container["name"] == "transformer"
    assert container["image"] == "transformer:latest"
    assert container["env"] == [{"name": "MODEL_LOCATION", "value": "/mnt/parameters/gpt2"},
                                {"name": "DEBUG", "value": "true"}]
    assert container["volumeMounts"] == [{"name": "model-parameters-pvc", "mountPath": "/mnt/parameters"}]
    assert container["readinessProbe"]["initialDelaySeconds"] == 120
    assert container["livenessProbe"] == {"tcpSocket": {"port": 9000}, "initialDelaySeconds": 300}
    assert container["resources"]["requests"]["memory"] == "1Gi"
    assert pred["labels"] == {"version": "v1"}


def test_canary_75_25():
    obj = valid(seldon.build_sdep("iris", [
        dict(SKLEARN, name="main", traffic=75),
        dict(SKLEARN, name="canary", model_uri="s3://models/iris/v2", traffic=25)]))
    assert [(p["name"], p["traffic"]) for p in obj["spec"]["predictors"]] == [("main", 75), ("canary", 25)]


def test_shadow_gets_no_traffic():
    obj = valid(seldon.build_sdep("iris", [
        dict(SKLEARN, name="main"),
        dict(SKLEARN, name="shadow", implementation="XGBOOST_SERVER", model_uri="s3://models/xgb", shadow=True)]))
    main, shadow = obj["spec"]["predictors"]
    assert main["traffic"] == 100
    assert shadow["shadow"] is True
    assert "traffic" not in shadow
    assert seldon.endpoints(obj)["cluster"]["shadow"]["shadow"] is True


def test_v2_protocol_and_parameters():
    obj = valid(seldon.build_sdep("iris-v2", [dict(SKLEARN, parameters={"method": "predict_proba", "version": 2})],
                                  namespace="models", protocol="v2"))
    assert obj["spec"]["protocol"] == "v2"
    assert obj["spec"]["predictors"][0]["graph"]["parameters"] == [
        {"name": "method", "value": "predict_proba", "type": "STRING"},
        {"name": "version", "value": "2", "type": "INT"}]
    ends = seldon.endpoints(obj)
    assert ends["gateway_path"] == "/seldon/models/iris-v2/v2/models/classifier/infer"
    assert ends["model_name"] == "classifier"


def test_inference_graph_with_transformer_child():
    obj = valid(seldon.build_sdep("pipeline", [{
        "name": "default",
        "graph": {"name": "preprocess", "type": "TRANSFORMER", "image": "repo/pre:1",
                  "env": [{"name": "MODE", "value": "scale"}],
                  "children": [{"name": "classifier", "implementation": "SKLEARN_SERVER",
                                "model_uri": "s3://models/iris", "env_secret_ref_name": "s3-secret",
                                "children": [{"name": "post", "type": "OUTPUT_TRANSFORMER", "image": "repo/post:1"}]}]},
    }, ], namespace="models"))
    graph = obj["spec"]["predictors"][0]["graph"]
    assert graph["type"] == "TRANSFORMER"
    assert graph["children"][0]["implementation"] == "SKLEARN_SERVER"
    assert graph["children"][0]["children"][0]["type"] == "OUTPUT_TRANSFORMER"
    containers = obj["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["preprocess", "post"]


def test_router_and_combiner_graph():
    obj = valid(seldon.build_sdep("ab", [{"graph": {
        "name": "ab-test", "type": "ROUTER", "implementation": "RANDOM_ABTEST",
        "parameters": [{"name": "ratioA", "value": 0.5, "type": "FLOAT"}],
        "children": [dict(SKLEARN, name="a"), dict(SKLEARN, name="b")]}}]))
    graph = obj["spec"]["predictors"][0]["graph"]
    assert graph["parameters"] == [{"name": "ratioA", "value": "0.5", "type": "FLOAT"}]
    assert [c["name"] for c in graph["children"]] == ["a", "b"]
    obj = valid(seldon.build_sdep("avg", [{"graph": {
        "name": "avg", "type": "COMBINER", "implementation": "AVERAGE_COMBINER",
        "children": [dict(SKLEARN, name="a"), dict(SKLEARN, name="b")]}}]))
    assert obj["spec"]["predictors"][0]["graph"]["type"] == "COMBINER"


def test_component_specs_merge_and_pod_options():
    obj = valid(seldon.build_sdep("x", [{
        "image": "repo/model:1", "model_name": "model",
        "component_specs": [{"spec": {"containers": [{"name": "model", "imagePullPolicy": "Always"}],
                                      "terminationGracePeriodSeconds": 20}}],
        "image_pull_secrets": ["regcred"], "pod_service_account_name": "seldon-sa",
        "progress_deadline_seconds": 120}]))
    pred = obj["spec"]["predictors"][0]
    pod = pred["componentSpecs"][0]["spec"]
    assert pod["containers"] == [{"name": "model", "imagePullPolicy": "Always", "image": "repo/model:1"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["serviceAccountName"] == "seldon-sa"
    assert pred["progressDeadlineSeconds"] == 120


def test_definition_validation_passes_upstream_examples():
    definition = {
        "apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
        "metadata": {"name": "transformer"},
        "spec": {"name": "transformer", "predictors": [{
            "name": "transformer", "replicas": 1, "labels": {"version": "v1"},
            "graph": {"name": "transformer", "type": "MODEL", "endpoint": {"type": "REST"}},
            "componentSpecs": [{"spec": {
                "volumes": [{"name": "model-parameters",
                             "persistentVolumeClaim": {"claimName": "model-parameters-pvc"}}],
                "containers": [{"image": "transformer", "name": "transformer",
                                "env": [{"name": "MODEL_LOCATION", "value": "/mnt/parameters/x"}],
                                "volumeMounts": [{"mountPath": "/mnt/parameters", "name": "model-parameters"}]}]}}]}]},
    }
    assert seldon.validate_sdep(valid(definition)) is definition


# -- builder: bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("predictors, message", [
    ([dict(SKLEARN, name="a", traffic=60), dict(SKLEARN, name="b", traffic=30)],
     "traffic split: the non-shadow predictors must add up to 100, got 90 (a=60, b=30)"),
    ([dict(SKLEARN, name="a", traffic=50), dict(SKLEARN, name="b")],
     "traffic split: predictors b need a traffic percentage"),
    ([dict(SKLEARN, name="a"), dict(SKLEARN, name="b", shadow=True, traffic=10)],
     "predictor b is a shadow: it gets a copy of every request and no traffic share"),
    ([dict(SKLEARN, shadow=True)], "every predictor is a shadow"),
    ([dict(SKLEARN, implementation="PYTORCH_SERVER")],
     "unknown implementation PYTORCH_SERVER; use one of SKLEARN_SERVER, XGBOOST_SERVER, MLFLOW_SERVER"),
    ([{"implementation": "SKLEARN_SERVER"}], "implementation SKLEARN_SERVER needs model_uri"),
    ([{"name": "default"}], "give implementation (one of SKLEARN_SERVER"),
    ([dict(SKLEARN, image="repo/x:1")], "give either implementation (a prepackaged server) or image"),
    ([dict(SKLEARN, name="a"), dict(SKLEARN, name="a", traffic=0)], "predictor names must be unique"),
    ([dict(SKLEARN, name="Bad_Name")], "predictor name 'Bad_Name' must be lower case"),
    ([dict(SKLEARN, type="SPLITTER")], "type SPLITTER is not one of MODEL"),
    ([dict(SKLEARN, children=[dict(SKLEARN, name="classifier")])], "node name 'classifier' is used twice"),
    ([dict(SKLEARN, children=[{"name": "c", "image": "x", "traffic": 5}])], "unknown option(s) traffic"),
    ([dict(SKLEARN, pvc_mounts=[{"claim_name": "x"}])], "a PVC mount needs claim_name and mount_path"),
    ([dict(SKLEARN, parameters=[{"name": "x", "value": 1, "type": "LONG"}])], "has type LONG"),
    ([dict(SKLEARN, graph={"name": "g", "image": "x"})], "give the root node either in graph or as"),
    ([{"implementation": "RANDOM_ABTEST", "model_uri": "s3://x"}], "implementation RANDOM_ABTEST takes no model_uri"),
])
def test_bad_input(predictors, message):
    with pytest.raises(K8sError) as info:
        seldon.build_sdep("iris", predictors)
    assert message in info.value.msg


def test_bad_top_level_input():
    with pytest.raises(K8sError, match="name 'Iris' is not a valid name: it must have at most 253 lower case"):
        seldon.build_sdep("Iris", [SKLEARN])
    with pytest.raises(K8sError, match="give at least one predictor"):
        seldon.build_sdep("iris", [])
    with pytest.raises(K8sError, match="protocol grpc is not one of"):
        seldon.build_sdep("iris", [SKLEARN], protocol="grpc")
    with pytest.raises(K8sError, match="definition must be a SeldonDeployment"):
        seldon.validate_sdep({"kind": "Deployment"})
    with pytest.raises(K8sError, match="needs modelUri"):
        seldon.validate_sdep({"apiVersion": seldon.API_VERSION, "kind": seldon.KIND, "metadata": {"name": "x"},
                              "spec": {"predictors": [{"name": "p", "graph": {"name": "c",
                                                                              "implementation": "SKLEARN_SERVER"}}]}})


# -- endpoints ----------------------------------------------------------------------------------------------
def test_endpoints_seldon_protocol():
    obj = seldon.build_sdep("iris", [dict(SKLEARN, name="main", traffic=75),
                                     dict(SKLEARN, name="canary", traffic=25)], namespace="models")
    obj["status"] = {"address": {"url": "http://iris-main.models.svc.cluster.local:8000/api/v1.0/predictions"}}
    ends = seldon.endpoints(obj)
    assert ends["gateway_path"] == "/seldon/models/iris/api/v1.0/predictions"
    assert ends["cluster"]["main"] == {"http": "http://iris-main.models.svc.cluster.local:8000",
                                       "grpc": "iris-main.models.svc.cluster.local:5001", "shadow": False}
    assert ends["cluster"]["canary"]["http"] == "http://iris-canary.models.svc.cluster.local:8000"
    assert ends["address"].startswith("http://iris-main")
    assert seldon.predictor_service("a" * 60, {"name": "default"}).startswith("seldon-")
    assert seldon.predictor_service("x", {"name": "p", "annotations": {"seldon.io/svc-name": "mine"}}) == "mine"
    assert seldon.gateway_path("ns", "m", "tensorflow", "half") == "/seldon/ns/m/v1/models/half:predict"


# -- status -------------------------------------------------------------------------------------------------
def sdep_with_status(status, generation=1):
    obj = seldon.build_sdep("iris", [SKLEARN], namespace="models")
    obj["metadata"].update({"generation": generation, "uid": "u1", "resourceVersion": "10"})
    obj["status"] = status
    return valid(obj)


def test_status_check():
    assert seldon.status_check(None) == (False, None)
    assert seldon.status_check(sdep_with_status({})) == (False, None)
    assert seldon.status_check(sdep_with_status({"state": "Creating"})) == (False, None)
    assert seldon.status_check(sdep_with_status({"state": "Available"})) == (True, None)
    done, reason = seldon.status_check(sdep_with_status({
        "state": "Failed", "description": "Deployment is no longer progressing and not available.",
        "deploymentStatus": {"iris-default-0-classifier": {
            "replicas": 1, "availableReplicas": 0, "status": "Failed", "description": "model load error"}}}))
    assert not done
    assert reason == ("Deployment is no longer progressing and not available.; failing: predictor default "
                      "(Deployment iris-default-0-classifier): status Failed, 0/1 replicas available, model load error")
    done, reason = seldon.status_check(sdep_with_status({"state": "Failed"}))
    assert reason == "the operator gave no description"


def test_describe_status():
    assert "is the Seldon Core operator running" in seldon.describe_status(sdep_with_status({}))
    text = seldon.describe_status(sdep_with_status({
        "state": "Creating",
        "deploymentStatus": {"iris-default-0-classifier": {"replicas": 2, "availableReplicas": 1}}}))
    assert text == "state Creating; predictor default (Deployment iris-default-0-classifier): 1/2 replicas available"
    assert seldon.describe_status(None) == "the SeldonDeployment does not exist"


def test_freshness():
    applied = sdep_with_status({"state": "Available"}, generation=2)
    fresh = seldon.Freshness(applied, spec_changed=True, settle=10, clock=lambda: 0)
    assert not fresh.fresh(copy.deepcopy(applied))  # the Available from before the change
    creating = sdep_with_status({"state": "Creating"}, generation=2)
    assert fresh.fresh(creating)  # the operator reacted: from now on any status is ours
    assert fresh.fresh(copy.deepcopy(applied))
    # observedGeneration, when the operator writes one, decides
    fresh = seldon.Freshness(applied, spec_changed=True, clock=lambda: 0)
    assert not fresh.fresh(sdep_with_status({"state": "Available", "observedGeneration": 1}, generation=2))
    assert fresh.fresh(sdep_with_status({"state": "Available", "observedGeneration": 2}, generation=2))
    # nothing changed in the spec: the status is current
    assert seldon.Freshness(applied, spec_changed=False).fresh(applied)


# -- explanation from canned objects ------------------------------------------------------------------------
@pytest.fixture
def seldon_cluster(fake_cluster):
    fake_cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")
    fake_cluster.add_kind("v1", "Event", "events")
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    return fake_cluster


def _client(cluster, tmp_path):
    from k8s_fake import make_client

    return make_client(cluster, cache_file=str(tmp_path / "discovery.json"))


def put_broken_namespace(cluster, waiting_reason="CrashLoopBackOff", restarts=4):
    obj = seldon.build_sdep("iris", [SKLEARN], namespace="models")
    obj["status"] = {"state": "Creating", "deploymentStatus": {
        "iris-default-0-classifier": {"replicas": 1, "availableReplicas": 0}}}
    cluster.put(obj)
    labels = {"seldon-deployment-id": "iris", "app": "iris-default-0-classifier"}
    cluster.put({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "iris-default-0-classifier", "namespace": "models", "labels": labels},
                 "spec": {"replicas": 1},
                 "status": {"replicas": 1, "unavailableReplicas": 1, "conditions": [
                     {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                      "message": "Deployment does not have minimum availability."},
                     {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                      "message": "ReplicaSet is progressing."}]}})
    cluster.put({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "iris-default-0-classifier-7d9f-abcde", "namespace": "models", "labels": labels},
                 "status": {"phase": "Pending",
                            "initContainerStatuses": [{
                                "name": "classifier-model-initializer", "ready": False, "restartCount": restarts,
                                "state": {"waiting": {"reason": waiting_reason,
                                                      "message": "back-off 40s restarting failed container"}},
                                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                             "message": "NoSuchKey: s3://models/iris/v1 not found"}}}],
                            "containerStatuses": [{"name": "classifier", "ready": False, "restartCount": 0,
                                                   "state": {"waiting": {"reason": "PodInitializing"}}}]}})
    cluster.put({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "unrelated", "namespace": "models", "labels": {"app": "other"}},
                 "status": {"phase": "Running"}})
    for second, (name, kind, reason, message) in enumerate((
            ("iris-default-0-classifier-7d9f-abcde", "Pod", "BackOff", "Back-off restarting failed container"),
            ("iris-default-0-classifier-7d9f", "ReplicaSet", "FailedCreate", "quota exceeded"),
            ("other-pod", "Pod", "BackOff", "not ours"),
            ("iris", "SeldonDeployment", "InternalError", "cannot create service"))):
        cluster.put({"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": reason, "message": message,
                     "count": 5 if kind == "Pod" else 1, "lastTimestamp": "2026-01-01T00:00:%02dZ" % (50 - second),
                     "metadata": {"name": "%s.1" % name, "namespace": "models"},
                     "involvedObject": {"kind": kind, "name": name, "namespace": "models"}})
    cluster.put({"apiVersion": "v1", "kind": "Event", "type": "Normal", "reason": "Pulled", "message": "ok",
                 "metadata": {"name": "n.1", "namespace": "models"},
                 "involvedObject": {"kind": "Pod", "name": "iris-default-0-classifier-7d9f-abcde"}})


def test_explain_crashloop_with_termination_message_and_events(seldon_cluster, tmp_path):
    put_broken_namespace(seldon_cluster)
    expl = seldon.explain(_client(seldon_cluster, tmp_path), "iris", "models")
    assert expl["state"] == "Creating"
    comp = expl["components"][0]
    assert comp["predictor"] == "default"
    assert comp["deployment"] == "iris-default-0-classifier"
    assert "0/1 replicas available" in comp["issues"]
    assert comp["issues"] == ["0/1 replicas available"]  # Available=False MinimumReplicasUnavailable says the same
    pod = comp["pods"][0]
    assert pod["issues"][0] == ("init container classifier-model-initializer CrashLoopBackOff (restarts: 4): back-off "
                                "40s restarting failed container; last exit 1 (Error): NoSuchKey: s3://models/iris/v1 "
                                "not found")
    assert expl["fatal"].startswith("pod iris-default-0-classifier-7d9f-abcde: init container")
    assert len(expl["components"]) == 1  # the unrelated pod is not selected by the seldon-deployment-id label
    assert expl["events"] == [  # oldest first
        "SeldonDeployment iris: InternalError: cannot create service",
        "ReplicaSet iris-default-0-classifier-7d9f: FailedCreate: quota exceeded",
        "Pod iris-default-0-classifier-7d9f-abcde: BackOff: Back-off restarting failed container (x5)",
    ]
    summary = expl["summary"]
    assert summary.startswith("state Creating. predictor default (Deployment iris-default-0-classifier): "
                              "0/1 replicas available; pod iris-default-0-classifier-7d9f-abcde: init container")
    assert "NoSuchKey: s3://models/iris/v1 not found" in summary
    assert "recent warnings: SeldonDeployment iris: InternalError" in summary
    assert "not ours" not in summary


def test_explain_few_restarts_is_not_fatal_but_image_pull_is(seldon_cluster, tmp_path):
    put_broken_namespace(seldon_cluster, restarts=1)
    assert seldon.explain(_client(seldon_cluster, tmp_path), "iris", "models")["fatal"] is None
    put_broken_namespace(seldon_cluster, waiting_reason="ImagePullBackOff", restarts=0)
    expl = seldon.explain(_client(seldon_cluster, tmp_path), "iris", "models")
    assert "ImagePullBackOff" in expl["fatal"]


def test_explain_readiness_and_unschedulable(seldon_cluster, tmp_path):
    seldon_cluster.put(seldon.build_sdep("iris", [SKLEARN], namespace="models"))
    labels = {"seldon-deployment-id": "iris", "app": "iris-default-0-classifier"}
    seldon_cluster.put({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "iris-default-0-classifier-1", "namespace": "models", "labels": labels},
                        "status": {"phase": "Running", "containerStatuses": [
                            {"name": "classifier", "ready": False, "restartCount": 0, "state": {"running": {}}}]}})
    seldon_cluster.put({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "iris-default-0-classifier-2", "namespace": "models", "labels": labels},
                        "status": {"phase": "Pending", "conditions": [
                            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                             "message": "0/3 nodes are available: 3 Insufficient memory."}]}})
    expl = seldon.explain(_client(seldon_cluster, tmp_path), "iris", "models")
    text = expl["summary"]
    assert "container classifier running but not ready (readiness probe not passing yet)" in text
    assert "not scheduled: Unschedulable 0/3 nodes are available: 3 Insufficient memory." in text
    assert "no predictor Deployment exists" in text  # pods without a Deployment: the operator did not make them
    assert expl["fatal"] is None


def test_explain_without_anything(seldon_cluster, tmp_path):
    expl = seldon.explain(_client(seldon_cluster, tmp_path), "ghost", "models")
    assert "the operator has not reconciled it" in expl["summary"]
    assert expl["components"] == [] and expl["events"] == []


def test_explain_never_fails_on_forbidden_lists(seldon_cluster, tmp_path):
    put_broken_namespace(seldon_cluster)
    seldon_cluster.fail("GET", "/pods", 403, times=5)
    expl = seldon.explain(_client(seldon_cluster, tmp_path), "iris", "models")
    assert any("cannot list Pod" in n for n in expl["notes"])
    assert "cannot list Pod" in expl["summary"]


# -- wait_available -----------------------------------------------------------------------------------------
def _event(etype, obj):
    return {"type": etype, "object": obj}


def test_wait_available_ignores_stale_available(seldon_cluster, tmp_path):
    client = _client(seldon_cluster, tmp_path)
    applied = sdep_with_status({"state": "Available"}, generation=2)
    applied["metadata"]["uid"] = "uid-0001"
    stored = seldon_cluster.put(applied)
    creating = copy.deepcopy(stored)
    creating["status"] = {"state": "Creating"}
    available = copy.deepcopy(stored)
    available["status"] = {"state": "Available", "address": {"url": "http://x"}}
    seldon_cluster.queue_watch(_event("MODIFIED", creating), _event("MODIFIED", available))
    result = seldon.wait_available(client, "iris", "models", applied=stored, spec_changed=True, timeout=5, tick=2,
                                   sleep=lambda s: None)
    assert result.object["status"]["address"]["url"] == "http://x"


def test_wait_available_fails_fast_on_failed(seldon_cluster, tmp_path):
    client = _client(seldon_cluster, tmp_path)
    put_broken_namespace(seldon_cluster)
    failed = copy.deepcopy(seldon_cluster.get_obj(seldon.API_VERSION, seldon.KIND, "iris", "models"))
    failed["status"] = {"state": "Failed", "description": "Deployment is no longer progressing and not available.",
                        "deploymentStatus": {"iris-default-0-classifier": {"replicas": 1}}}
    seldon_cluster.queue_watch(_event("MODIFIED", failed))
    with pytest.raises(seldon.SeldonError) as info:
        seldon.wait_available(client, "iris", "models", applied=None, spec_changed=False, timeout=30, tick=5,
                              sleep=lambda s: None)
    err = info.value
    assert err.reason == "Failed"
    assert err.msg.startswith("SeldonDeployment models/iris failed: state Failed: Deployment is no longer progressing "
                              "and not available. predictor default (Deployment iris-default-0-classifier): "
                              "0/1 replicas available; pod iris-default-0-classifier-7d9f-abcde: init container")
    assert "NoSuchKey" in err.msg
    assert err.explanation["components"][0]["predictor"] == "default"


def test_wait_available_fails_fast_on_crashloop_and_times_out(seldon_cluster, tmp_path):
    client = _client(seldon_cluster, tmp_path)
    put_broken_namespace(seldon_cluster)
    with pytest.raises(seldon.SeldonError) as info:
        seldon.wait_available(client, "iris", "models", applied=None, spec_changed=False, timeout=30, tick=0.05,
                              sleep=lambda s: None)
    assert info.value.reason == "Failed"
    assert "cannot become Available: pod iris-default-0-classifier-7d9f-abcde: init container" in info.value.msg

    with pytest.raises(seldon.SeldonError) as info:
        seldon.wait_available(client, "iris", "models", applied=None, spec_changed=False, timeout=0.1, tick=0.05,
                              fail_fast=False, sleep=lambda s: None)
    assert info.value.reason == "Timeout"
    assert info.value.msg.startswith("timed out after 0.1s waiting for SeldonDeployment models/iris to be Available: "
                                     "state Creating")
    assert "NoSuchKey" in info.value.msg


def test_wait_available_accepts_settled_rollout_without_status_change(seldon_cluster, tmp_path):
    client = _client(seldon_cluster, tmp_path)
    applied = sdep_with_status({"state": "Available"}, generation=3)
    stored = seldon_cluster.put(applied)
    seldon_cluster.put({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "iris-default-0-classifier", "namespace": "models", "generation": 2,
                                     "labels": {"seldon-deployment-id": "iris"}},
                        "spec": {"replicas": 1},
                        "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                                   "availableReplicas": 1}})
    result = seldon.wait_available(client, "iris", "models", applied=stored, spec_changed=True, timeout=5, tick=0.05,
                                   settle=0.1, sleep=lambda s: None)
    assert result.object["status"]["state"] == "Available"


def test_single_predictor_traffic_is_not_a_split():
    obj = seldon.build_sdep("iris", [dict(SKLEARN, traffic=0)])
    assert obj["spec"]["predictors"][0]["traffic"] == 0  # the operator routes everything to the only predictor


def test_pods_of_an_old_replicaset_never_make_the_wait_give_up(seldon_cluster, tmp_path):
    seldon_cluster.add_kind("apps/v1", "ReplicaSet", "replicasets")
    put_broken_namespace(seldon_cluster)  # its crash-looping pod has pod-template-hash 7d9f
    pod = seldon_cluster.get_obj("v1", "Pod", "iris-default-0-classifier-7d9f-abcde", "models")
    pod["metadata"]["labels"]["pod-template-hash"] = "7d9f"
    for rs_hash, revision in (("7d9f", "1"), ("5c8f", "2")):
        seldon_cluster.put({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": "iris-default-0-classifier-%s" % rs_hash, "namespace": "models",
            "labels": {"seldon-deployment-id": "iris", "pod-template-hash": rs_hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"kind": "Deployment", "name": "iris-default-0-classifier"}]}})
    expl = seldon.explain(_client(seldon_cluster, tmp_path), "iris", "models")
    assert expl["fatal"] is None
    assert "pod iris-default-0-classifier-7d9f-abcde (old revision, being replaced): init container" in expl["summary"]
    assert "BackOff" in " ".join(expl["events"])  # its events are still shown


# -- error messages never echo values (issue 15) -----------------------------------------------------------------
@pytest.mark.parametrize(("field", "value"), [
    ("env", [{"value": "seldon-env-secret-value"}]),
    ("env", ["PASSWORD=seldon-env-secret-value"]),
    ("parameters", [{"name": "token", "type": "STRING"}, {"value": "seldon-env-secret-value"}]),
])
def test_env_and_parameter_errors_do_not_print_the_value(field, value):
    with pytest.raises(K8sError) as err:
        seldon.build_sdep("iris", [dict(SKLEARN, **{field: value})])
    assert "seldon-env-secret-value" not in err.value.msg
    assert "got a " in err.value.msg


# -- replicas and modelUri (issue 15) -----------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["ftp://models/iris", "bogus", "s3://", "file:///mnt/models", "azure://c/path",
                                 "/mnt/models", 42])
def test_a_model_uri_the_storage_initializer_cannot_read_is_refused(uri):
    with pytest.raises(K8sError, match="is not a location the storage initializer reads"):
        seldon.build_sdep("iris", [dict(SKLEARN, model_uri=uri)])
    obj = valid(seldon.build_sdep("iris", [SKLEARN]))
    obj["spec"]["predictors"][0]["graph"]["modelUri"] = uri
    with pytest.raises(K8sError, match="is not a location the storage initializer reads"):
        seldon.validate_sdep(obj)


@pytest.mark.parametrize("uri", ["s3://models/iris/v1", "gs://seldon-models/v1.18.0/sklearn/iris",
                                 "pvc://model-parameters-pvc/iris", "https://example.test/models/iris.tar.gz",
                                 "https://account.blob.core.windows.net/models/iris", "minio:models/iris/v1"])
def test_model_uris_of_the_storage_initializer_are_accepted(uri):
    seldon.build_sdep("iris", [dict(SKLEARN, model_uri=uri)])


@pytest.mark.parametrize("where", ["predictor", "spec"])
def test_negative_replicas_are_refused(where):
    with pytest.raises(K8sError, match=r"replicas must be a whole number >= 0 \(got -3\)"):
        if where == "predictor":
            seldon.build_sdep("iris", [dict(SKLEARN, replicas=-3)])
        else:
            seldon.build_sdep("iris", [SKLEARN], replicas=-3)
    obj = valid(seldon.build_sdep("iris", [SKLEARN]))
    target = obj["spec"]["predictors"][0] if where == "predictor" else obj["spec"]
    target["replicas"] = -3
    with pytest.raises(K8sError, match=r"replicas must be a whole number >= 0 \(got -3\)"):
        seldon.validate_sdep(obj)
    assert seldon.build_sdep("iris", [dict(SKLEARN, replicas="2")])["spec"]["predictors"][0]["replicas"] == 2


def test_a_forbidden_deployments_list_in_the_rollout_check_is_a_clear_message(tmp_path):
    from k8s_fake import FakeCluster, make_client

    cluster = FakeCluster()
    cluster.fail("GET", "/apis/apps/v1/namespaces/models/deployments", 403, times=5)
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    with pytest.raises(K8sError) as err:
        seldon.deployments_rolled_out(client, "iris", "models")
    assert err.value.status == 403
    assert "listing Deployments (apps) in namespace models is forbidden" in err.value.msg
    assert "seldon-deployer and pipeline presets" in err.value.msg
