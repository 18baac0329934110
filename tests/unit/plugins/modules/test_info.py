"""mlops.k8s.info against the recorded-response API."""

from __future__ import annotations

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
