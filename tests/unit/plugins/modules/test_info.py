"""mlops.k8s.info against the recorded-response API."""

from __future__ import annotations

import socket
import time

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import retries
from ansible_collections.mlops.k8s.plugins.modules import info

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}


def cm(name, **labels):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "models",
                                                                  "labels": labels}}


def test_get_by_name(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(cm("a"))
    failed, result = run_module(info, {"kind": "ConfigMap", "name": "a", "namespace": "models"})
    assert not failed, result
    assert result["api_found"] is True and result["changed"] is False
    assert [r["metadata"]["name"] for r in result["resources"]] == ["a"]
    assert "managedFields" not in result["resources"][0]["metadata"]
    failed, result = run_module(info, {"kind": "ConfigMap", "name": "zz", "namespace": "models"})
    assert not failed and result["resources"] == []


def test_list_with_selectors(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.put(cm("a", app="iris", tier="model"))
    fake_cluster.put(cm("b", app="iris"))
    fake_cluster.put(cm("c", app="other"))
    failed, result = run_module(info, {"kind": "ConfigMap", "namespace": "models",
                                       "label_selectors": ["app=iris", "tier=model"]})
    assert not failed
    assert [r["metadata"]["name"] for r in result["resources"]] == ["a"]
    assert result["resources"][0]["kind"] == "ConfigMap"
    request = [r for r in fake_cluster.requests if r.path == "/api/v1/namespaces/models/configmaps"][-1]
    assert request.query["labelSelector"] == "app=iris,tier=model"
    failed, result = run_module(info, {"kind": "Namespace", "apiVersion": "v1"})
    assert [r["metadata"]["name"] for r in result["resources"]] == ["models"]


def test_api_not_found_is_not_an_error(fake_cluster, run_module):
    failed, result = run_module(info, {"api_version": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment"})
    assert not failed
    assert result["api_found"] is False and result["resources"] == []


def test_wait_for_existence(fake_cluster, run_module):
    fake_cluster.put(NS)
    created = dict(cm("late"), metadata=dict(cm("late")["metadata"], resourceVersion="4000"))
    fake_cluster.queue_watch({"type": "ADDED", "object": created})
    failed, result = run_module(info, {"kind": "ConfigMap", "name": "late", "namespace": "models", "wait": True,
                                       "wait_timeout": 10})
    assert not failed, result
    assert result["resources"][0]["metadata"]["name"] == "late"
    watch = next(r for r in fake_cluster.requests if r.query.get("watch"))
    assert watch.query["fieldSelector"] == "metadata.name=late"


def test_wait_for_selector_match(fake_cluster, run_module):
    fake_cluster.put(NS)
    fake_cluster.queue_watch({"type": "ADDED", "object": cm("x", app="iris")})
    failed, result = run_module(info, {"kind": "ConfigMap", "namespace": "models", "label_selectors": ["app=iris"],
                                       "wait": True, "wait_timeout": 10})
    assert not failed, result
    assert [r["metadata"]["name"] for r in result["resources"]] == ["x"]


def test_wait_timeout_message(fake_cluster, run_module):
    fake_cluster.put(NS)
    failed, result = run_module(info, {"kind": "ConfigMap", "namespace": "models", "label_selectors": ["app=none"],
                                       "wait": True, "wait_timeout": 1})
    assert failed
    assert result["msg"] == "timed out after 1s waiting for ConfigMap in namespace models matching app=none"


def test_bad_input(fake_cluster, run_module):
    failed, result = run_module(info, {"name": "a"})
    assert failed and "missing required arguments: kind" in result["msg"]
    failed, result = run_module(info, {"kind": "ConfigMap", "name": "a"})
    assert failed and result["msg"] == "namespace is required to get ConfigMap a by name"
    failed, result = run_module(info, {"kind": "ConfigMap", "label_selectors": "app=x", "wait": "maybe"})
    assert failed and "wait" in result["msg"]


# -- a server that accepts the connection and never answers (issue 15) ------------------------------------------
@pytest.fixture
def silent_server():
    """A listening socket nobody reads from: connections are accepted by the kernel, no byte ever comes back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield "http://127.0.0.1:%d" % sock.getsockname()[1]
    sock.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("from_env", [False, True])
def test_a_silent_api_server_fails_within_the_request_timeout(silent_server, run_module, monkeypatch, from_env):
    monkeypatch.setattr(retries, "K8S_API_BACKOFF", 0)
    args = {"kind": "ConfigMap", "name": "a", "namespace": "models", "host": silent_server,
            "api_key": "unit-test-token"}
    if from_env:
        monkeypatch.setenv("K8S_AUTH_REQUEST_TIMEOUT", "1")
    else:
        args["request_timeout"] = 1
    start = time.monotonic()
    failed, result = run_module(info, args)
    elapsed = time.monotonic() - start
    assert failed, result
    assert "timed out" in result["msg"] and "request_timeout" in result["msg"], result["msg"]
    assert "exception" not in result
    assert elapsed < 10  # 1 s per attempt, the attempt and its 2 retries


def test_a_bad_request_timeout_fails_before_any_request(run_module, monkeypatch):
    failed, result = run_module(info, {"kind": "ConfigMap", "host": "http://127.0.0.1:9", "api_key": "unit-test-token",
                                       "request_timeout": 0})
    assert failed and "request_timeout must be a whole number of seconds" in result["msg"]
    monkeypatch.setenv("K8S_AUTH_REQUEST_TIMEOUT", "soon")
    failed, result = run_module(info, {"kind": "ConfigMap", "host": "http://127.0.0.1:9", "api_key": "unit-test-token"})
    assert failed and "K8S_AUTH_REQUEST_TIMEOUT='soon' is not an integer" in result["msg"]


# -- Secrets are masked by default (issue 15) ------------------------------------------------------------------
SECRET_VALUE = "info-secret-value-in-clear"


def kubectl_applied_secret():
    import base64
    import json

    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "models"},
                "data": {"token": base64.b64encode(SECRET_VALUE.encode()).decode()}}
    live = json.loads(json.dumps(manifest))
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest),
                                       "team": "risk"}
    return live


def test_secret_values_are_masked_unless_revealed(fake_cluster, run_module):
    import base64
    import json

    fake_cluster.put(NS)
    fake_cluster.put(kubectl_applied_secret())
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for args in ({"name": "s"}, {"label_selectors": []}):
        failed, result = run_module(info, dict(args, kind="Secret", namespace="models"))
        assert not failed, result
        assert encoded not in json.dumps(result) and SECRET_VALUE not in json.dumps(result)
        assert result["resources"][0]["data"] == {"token": "********"}
    failed, result = run_module(info, {"kind": "Secret", "name": "s", "namespace": "models", "reveal_secrets": True})
    assert result["resources"][0]["data"] == {"token": encoded}
    failed, result = run_module(info, {"kind": "Secret", "name": "s", "namespace": "models",
                                       "hide_fields": ["metadata.annotations", "data.token", "spec.missing[3]"]})
    assert not failed and "annotations" not in result["resources"][0]["metadata"]
    assert result["resources"][0]["data"] == {}


def test_hide_fields_paths():
    from ansible_collections.mlops.k8s.plugins.module_utils.service import present_object

    obj = {"kind": "Pod", "spec": {"containers": [{"name": "a", "env": [1]}, {"name": "b", "env": [2]}]},
           "metadata": {"labels": {"app.kubernetes.io/name": "x", "keep": "y"}}}
    out = present_object(obj, hide_fields=["spec.containers[1].env", "metadata.labels['app.kubernetes.io/name']",
                                           "status", "spec.containers[9]"])
    assert out["spec"]["containers"] == [{"name": "a", "env": [1]}, {"name": "b"}]
    assert out["metadata"]["labels"] == {"keep": "y"}
    assert obj["spec"]["containers"][1]["env"] == [2]  # a copy
