"""Bad input found by the generated suite (tests/unit/plugins/bad_input): each fails with a message that names the
option and the rule, without a traceback, and before any request reaches the cluster."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import predict
from ansible_collections.mlops.k8s.plugins.modules import (
    apply,
    canary_rollout,
    cron_workflow,
    info,
    model_predict,
    namespace,
    pvc,
    seldon_deployment,
    service_account,
    storage_secret,
    wait,
)

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}}
PREDICTOR = {"name": "default", "implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/v1"}
CANARY = {"name": "iris", "namespace": "models", "url": "http://gw.local", "data": [[5.1, 3.5, 1.4, 0.2]],
          "canary": {"implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/v2"}}
WF_SPEC = {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]}
SECRET = {"name": "s3", "namespace": "models", "access_key": "AKIAVALIDATION", "secret_key": "validation-secret"}
BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 10)]
    + ["kind: ConfigMap", "apiVersion: v1", "metadata: {name: bomb}", "data: {x: *a9}"])


@pytest.mark.parametrize(("module", "args", "message"), [
    # options with suboptions given a number or a list: ansible-core's own check raised a TypeError
    (info, {"kind": "ConfigMap", "proxy_headers": 7}, "proxy_headers must be a dictionary, got an integer"),
    (apply, {"definition": CONFIGMAP, "proxy_headers": [1, 2]}, "proxy_headers must be a dictionary, got a list"),
    (wait, {"kind": "ConfigMap", "name": "x", "namespace": "models", "condition": True},
     "condition must be a dictionary, got a boolean"),
    (namespace, {"name": "team-a", "limit_range": 1.5}, "limit_range must be a dictionary, got a number"),
    # YAML that never ended or crashed PyYAML
    (apply, {"definition": BILLION_LAUGHS}, "aliases expand it to more than 1000000 nodes"),
    (seldon_deployment, {"definition": "[" * 5000 + "]" * 5000}, "nested deeper than 100 levels"),
    (seldon_deployment, {"definition": {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
                                        "metadata": "a"}}, "definition: metadata must be a mapping, got a str"),
    # names and namespaces that would change the URL
    (apply, {"definition": CONFIGMAP, "namespace": "x?watch=1"}, "namespace 'x?watch=1' is not a valid name"),
    (apply, {"definition": CONFIGMAP, "concurrency": 0}, "concurrency must be between 1 and 32 (got 0)"),
    (apply, {"definition": CONFIGMAP, "concurrency": 1000}, "concurrency must be between 1 and 32 (got 1000)"),
    (apply, {"definition": dict(CONFIGMAP, metadata={"name": "a/b"})}, "metadata.name 'a/b' is not a valid name"),
    (seldon_deployment, {"name": "iris", "namespace": "Models", "predictors": [PREDICTOR]},
     "namespace 'Models' is not a valid name"),
    (seldon_deployment, {"name": "a" * 254, "predictors": [PREDICTOR]}, "it must have at most 253"),
    (seldon_deployment, {"name": "iris\n", "predictors": [PREDICTOR]}, "name 'iris\\n' is not a valid name"),
    (cron_workflow, {"name": "nightly\n", "namespace": "models", "schedule": "0 3 * * *", "workflow_spec": WF_SPEC},
     "is not a valid name"),
    (info, {"kind": "ConfigMap", "name": "..", "namespace": "models"}, "name '..' is not a valid name"),
    (wait, {"kind": "ConfigMap", "name": "x", "namespace": "a/b", "for": "exists"},
     "namespace 'a/b' is not a valid name"),
    (namespace, {"name": "team-a", "quota_name": "Quota"}, "quota_name 'Quota' is not a valid name"),
    (namespace, {"name": "team-a", "limit_range_name": "a/b"}, "limit_range_name 'a/b' is not a valid name"),
    (namespace, {"name": "team-a", "labels": {"bad key!": "v"}}, "labels: label key 'bad key!'"),
    (namespace, {"name": "team-a", "labels": {"k": "v" * 64}}, "labels: label value"),
    (namespace, {"name": "team-a", "annotations": {"a/b/c": "free text"}}, "annotations: annotation key 'a/b/c'"),
    (service_account, {"name": "deployer", "namespace": "models", "preset": "seldon-deployer", "role_name": "Role_1"},
     "role_name 'Role_1' is not a valid name"),
    (service_account, {"name": "deployer", "namespace": "models", "preset": "seldon-deployer",
                       "image_pull_secrets": ["Bad Name"]}, "image_pull_secrets entry 'Bad Name' is not a valid name"),
    # URLs and URIs
    (storage_secret, dict(SECRET, endpoint_url="http://[::1"), "endpoint_url must be an http:// or https:// URL"),
    (seldon_deployment, {"name": "iris", "predictors": [dict(PREDICTOR, model_uri="s3:///iris")]},
     "modelUri s3:// is not a location"),
    (seldon_deployment, {"name": "iris", "predictors": [dict(PREDICTOR, model_uri="javascript:alert(1)")]},
     "is not a location the storage initializer reads"),
    # numbers out of range
    (seldon_deployment, {"name": "iris", "predictors": [PREDICTOR], "replicas": 2 ** 31},
     "replicas must be a whole number from 0 to 2147483647"),
    (seldon_deployment, {"name": "iris", "predictors": [PREDICTOR], "crashloop_restarts": -1},
     "crashloop_restarts must be a whole number from 0"),
    (seldon_deployment, {"name": "iris", "predictors": [PREDICTOR], "wait_timeout": -1},
     "wait_timeout must be a whole number from 0 to 31622400"),
    (namespace, {"name": "team-a", "wait_timeout": -5}, "wait_timeout must be a whole number from 0"),
    (pvc, {"name": "data", "namespace": "models", "size": "1Gi", "wait_timeout": -5}, "wait_timeout must be"),
    (wait, {"kind": "ConfigMap", "name": "x", "namespace": "models", "for": "exists", "timeout": -1},
     "timeout must be a whole number from 0"),
    (cron_workflow, {"name": "nightly", "namespace": "models", "schedule": "0 3 * * *", "workflow_spec": WF_SPEC,
                     "successful_jobs_history_limit": 2 ** 31}, "successfulJobsHistoryLimit must be a whole number"),
    (cron_workflow, {"name": "nightly", "namespace": "models", "schedule": "0 3 * * *", "workflow_spec": WF_SPEC,
                     "failed_jobs_history_limit": 2 ** 40}, "failedJobsHistoryLimit must be a whole number"),
    # the canary rollout's plan and limits
    (canary_rollout, dict(CANARY, steps=[50, 10]), "steps must increase"),
    (canary_rollout, dict(CANARY, steps=[100]), "steps: each is a whole percentage from 1 to 99"),
    (canary_rollout, dict(CANARY, expected_classes=[0, 1]), "expected_classes has 2 entries for 1 rows of data"),
    (canary_rollout, dict(CANARY, max_error_rate=5), "max_error_rate must be from 0 to 1"),
    (canary_rollout, dict(CANARY, requests=0), "requests must be a whole number from 1 to 1000000, got 0"),
    (canary_rollout, dict(CANARY, url="gw.local"), "url"),
    (canary_rollout, dict(CANARY, namespace="a/b"), "namespace 'a/b' is not a valid name"),
])
def test_refused_before_any_request(fake_cluster, run_module, module, args, message):
    failed, result = run_module(module, args)
    assert failed, result
    assert message in result["msg"], result["msg"]
    assert "exception" not in result and "Traceback" not in result["msg"]
    assert fake_cluster.requests == []


def test_request_timeout_has_an_upper_bound():
    from ansible_collections.mlops.k8s.plugins.module_utils import client
    from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

    with pytest.raises(K8sError, match="request_timeout must be at most 31622400 seconds"):
        client.request_timeouts({"request_timeout": 10 ** 12})


def test_a_secret_in_a_bad_suboption_value_is_not_returned(fake_cluster, run_module):
    failed, result = run_module(info, {"kind": "ConfigMap", "api_key": "sekret-token", "proxy_headers": ["hunter2"]})
    assert failed and "hunter2" not in str(result) and "sekret-token" not in str(result)


def test_endpoint_url_credentials_are_not_echoed(fake_cluster, run_module):
    failed, result = run_module(storage_secret, dict(SECRET, endpoint_url="ftp://user:pa55word@minio:9000"))
    assert failed and "pa55word" not in result["msg"] and "***@minio" in result["msg"]


def _predict_params(**overrides):
    params = {k: v.get("default") for k, v in model_predict.argument_spec().items()}
    params.update(url="http://gw.local", name="iris", namespace="models", data=[[1.0, 2.0]], timeout=0)
    params.update(overrides)
    return params


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": ".."}, "name '..' is not a valid name"),
    ({"name": "iris/../../admin"}, "is not a valid name"),
    ({"namespace": "models?x=1"}, "namespace 'models?x=1' is not a valid name"),
    ({"name": "iris\n"}, "is not a valid name"),
    ({"protocol": "v2", "model_name": "a/b"}, "model_name 'a/b' is not a valid name"),
    ({"timeout": -1}, "timeout must be a whole number from 0"),
    ({"request_timeout": -5}, "request_timeout must be a whole number from 1"),
    ({"request_timeout": 0}, "request_timeout must be a whole number from 1"),
])
def test_model_predict_refuses_before_sending(overrides, message):
    sent = []
    with pytest.raises(predict.PredictError) as err:
        model_predict.run(_predict_params(**overrides), opener=lambda url, **kw: sent.append(url))
    assert message in err.value.msg
    assert sent == []


def test_model_predict_path_ignores_the_names():
    params = _predict_params(name=None, path="/seldon/models/iris/api/v1.0/predictions")
    assert predict.predict_url(params["url"], None, "models", path=params["path"]).endswith("/predictions")


@pytest.mark.parametrize("uri", ["s3://models/iris", "gs://b/p", "pvc://claim/model", "https://acc.blob.core.windows.net/c/m",
                                 "minio:models/iris/v1", "my_remote:bucket", "s3remote:my-bucket.eu/path with space"])
def test_model_uris_that_stay_valid(uri):
    from ansible_collections.mlops.k8s.plugins.module_utils import seldon

    assert seldon.check_model_uri(uri, "predictor default") == uri


@pytest.mark.parametrize("uri", ["s3:///iris", "gs://", "javascript:alert(1)", "C:\\models", "remote:/abs",
                                 "remote:(x)"])
def test_model_uris_refused(uri):
    from ansible_collections.mlops.k8s.plugins.module_utils import seldon
    from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

    with pytest.raises(K8sError, match="is not a location the storage initializer reads"):
        seldon.check_model_uri(uri, "predictor default")
