"""mlops.k8s.apply run as Ansible runs it, against the recorded-response API."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.modules import apply

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata:
  name: models
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: iris
spec:
  replicas: 1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  threshold: "0.5"
"""


def test_create_then_unchanged(fake_cluster, run_module):
    failed, result = run_module(apply, {"definition": MANIFESTS, "namespace": "models"})
    assert not failed, result
    assert result["changed"] is True
    assert result["summary"] == {"created": 3, "configured": 0, "unchanged": 0, "deleted": 0, "absent": 0}
    assert [(r["kind"], r["namespace"], r["name"], r["action"]) for r in result["results"]] == [
        ("Namespace", None, "models", "created"), ("ConfigMap", "models", "settings", "created"),
        ("Deployment", "models", "iris", "created")]
    assert "diff" not in result["results"][0]

    mark = fake_cluster.mark()
    failed, result = run_module(apply, {"definition": MANIFESTS, "namespace": "models"})
    assert not failed and result["changed"] is False
    assert result["summary"]["unchanged"] == 3
    assert [r for r in fake_cluster.since(mark) if r.is_write] == []


def test_src_directory_check_mode_and_diff(fake_cluster, run_module, tmp_path):
    (tmp_path / "10-ns.yaml").write_text(MANIFESTS.split("---", maxsplit=1)[0])
    (tmp_path / "20-cm.yaml").write_text(MANIFESTS.split("---")[2])
    failed, result = run_module(apply, {"src": str(tmp_path), "namespace": "models"}, check_mode=True, diff=True)
    assert not failed, result
    assert result["changed"] is True
    assert [d["after"]["metadata"]["name"] for d in result["diff"]] == ["models", "settings"]
    assert result["results"][0]["diff"]["before"] == {}
    assert fake_cluster.writes() == []


def test_state_absent(fake_cluster, run_module):
    run_module(apply, {"definition": MANIFESTS, "namespace": "models"})
    failed, result = run_module(apply, {"definition": MANIFESTS, "namespace": "models", "state": "absent",
                                        "delete_propagation": "Background"})
    assert not failed, result
    assert [r["kind"] for r in result["results"]] == ["Deployment", "ConfigMap", "Namespace"]
    assert result["summary"]["deleted"] == 3
    failed, result = run_module(apply, {"definition": MANIFESTS, "namespace": "models", "state": "absent"})
    assert result["changed"] is False and result["summary"]["absent"] == 3


def test_wait_for_rollout(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    ready = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "iris", "namespace": "models", "generation": 1, "resourceVersion": "5000"},
             "spec": {"replicas": 1},
             "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}
    fake_cluster.queue_watch({"type": "MODIFIED", "object": ready})
    deployment = MANIFESTS.split("---")[1]
    failed, result = run_module(apply, {"definition": deployment, "namespace": "models", "wait": True,
                                        "wait_timeout": 30})
    assert not failed, result
    assert result["results"][0]["object"]["status"]["availableReplicas"] == 1
    assert result["results"][0]["waited"] >= 0


@pytest.mark.parametrize(("args", "message"), [
    ({}, "one of the following is required: definition, src"),
    ({"definition": "kind: [", "namespace": "x"},
     "definition: invalid YAML (line 1, column 8): expected the node content"),
    ({"definition": {"apiVersion": "v1", "kind": "ConfigMap"}},
     "definition (ConfigMap): metadata.name (or metadata.generateName) is required"),
    ({"definition": {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}},
     "definition: no kind Widget in apiVersion example.com/v1 on this cluster"),
    ({"definition": [], "wait_timeout": "soon"}, "wait_timeout"),
    ({"definition": [], "state": "gone"}, "value of state must be one of: present, absent"),
    ({"definition": [1]}, "definition[0]: expected a mapping (a Kubernetes object), got int 1"),
])
def test_bad_input_fails_cleanly(fake_cluster, run_module, args, message):
    failed, result = run_module(apply, args)
    assert failed
    assert message in result["msg"]
    assert "Traceback" not in result["msg"] and "exception" not in result


def test_api_error_fails_with_one_line(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "iris", "namespace": "models"},
           "spec": {"replicas": -1}}
    failed, result = run_module(apply, {"definition": bad})
    assert failed
    assert result["msg"].startswith('Deployment models/iris: 422 Invalid: Deployment.apps "iris" is invalid')
    assert result["status"] == 422 and result["reason"] == "Invalid"


def test_empty_definition_is_a_no_op(fake_cluster, run_module):
    failed, result = run_module(apply, {"definition": "---\n"})
    assert not failed and result["changed"] is False and result["results"] == []


def test_a_module_imports_no_http_library_and_no_kubernetes_package():
    """The client is on the standard library: urllib3 and the kubernetes package cost a task's start-up (#16)."""
    import os
    import subprocess
    import sys

    code = ("import sys; from ansible_collections.mlops.k8s.plugins.modules import apply, info, wait; "
            "from ansible_collections.mlops.k8s.plugins.module_utils import client, http_pool, transport; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('urllib3', 'kubernetes', 'requests')))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env=env)
    assert out.stdout.strip() == "[]"


def test_no_connection_settings(run_module):
    failed, result = run_module(apply, {"definition": {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "a"}}})
    assert failed
    assert result["msg"].startswith("no Kubernetes connection settings")


def test_auth_options_reach_the_client(fake_cluster, run_module):
    run_module(apply, {"definition": [], "host": "https://h", "verify_ssl": False, "ssl_ca_cert": "/ca"})
    # empty definition: nothing to do, no client built
    assert fake_cluster.built_with == []
    run_module(apply, {"definition": MANIFESTS.split("---", maxsplit=1)[0], "host": "https://h", "verify_ssl": False,
                       "api_key": "secret-token"})
    params = fake_cluster.built_with[0]
    assert (params["host"], params["validate_certs"], params["api_key"]) == ("https://h", False, "secret-token")


def test_failure_reports_what_was_done(fake_cluster, run_module):
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "iris"}, "spec": {"replicas": -1}}
    namespace = MANIFESTS.split("---", maxsplit=1)[0]
    failed, result = run_module(apply, {"definition": [namespace, bad], "namespace": "models"})
    assert failed and "422 Invalid" in result["msg"]
    assert result["changed"] is True
    assert [(r["kind"], r["action"]) for r in result["results"]] == [("Namespace", "created")]
    assert result["summary"]["created"] == 1


# -- prune -------------------------------------------------------------------------------------------------------
def cm(name, app="x"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": app}},
            "data": {"name": name}}


PRUNE = {"namespace": "models", "prune": True, "prune_selector": "app=x"}


def test_prune_then_idempotent(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    failed, result = run_module(apply, dict(PRUNE, definition=[cm("a"), cm("b"), cm("c")]))
    assert not failed, result
    assert result["pruned"] == [] and result["prune_skipped"] == [] and result["summary"]["pruned"] == 0

    failed, result = run_module(apply, dict(PRUNE, definition=[cm("a"), cm("b")]))
    assert not failed, result
    assert result["changed"] is True  # nothing applied changed, one object pruned
    assert result["summary"] == {"created": 0, "configured": 0, "unchanged": 2, "deleted": 0, "absent": 0,
                                 "pruned": 1}
    assert [(p["kind"], p["api_version"], p["namespace"], p["name"]) for p in result["pruned"]] == [
        ("ConfigMap", "v1", "models", "c")]
    assert [r["name"] for r in result["results"]] == ["a", "b"]  # pruned objects are not in results
    assert fake_cluster.get_obj("v1", "ConfigMap", "c", "models") is None
    deletes = [r for r in fake_cluster.requests if r.method == "DELETE"]
    assert deletes[0].body["propagationPolicy"] == "Foreground"

    mark = fake_cluster.mark()
    failed, result = run_module(apply, dict(PRUNE, definition=[cm("a"), cm("b")]))
    assert not failed and result["changed"] is False and result["pruned"] == []
    assert [r for r in fake_cluster.since(mark) if r.is_write] == []


def test_prune_check_mode_and_diff(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    run_module(apply, dict(PRUNE, definition=[cm("a"), cm("c")]))
    mark = fake_cluster.mark()
    failed, result = run_module(apply, dict(PRUNE, definition=[cm("a")]), check_mode=True, diff=True)
    assert not failed, result
    assert result["changed"] is True
    assert [p["name"] for p in result["pruned"]] == ["c"]
    assert [r for r in fake_cluster.since(mark) if r.is_write] == []
    assert fake_cluster.get_obj("v1", "ConfigMap", "c", "models") is not None
    assert result["diff"] == [{"before": result["pruned"][0]["diff"]["before"], "after": {}}]
    assert result["diff"][0]["before"]["metadata"]["name"] == "c"


def test_prune_nothing_when_an_apply_fails(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    run_module(apply, dict(PRUNE, definition=[cm("a"), cm("old")]))
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "iris", "labels": {"app": "x"}},
           "spec": {"replicas": -1}}
    failed, result = run_module(apply, dict(PRUNE, definition=[cm("a"), bad]))
    assert failed and "422 Invalid" in result["msg"]
    assert result["pruned"] == [] and result["summary"]["pruned"] == 0
    assert fake_cluster.get_obj("v1", "ConfigMap", "old", "models") is not None
    assert [r for r in fake_cluster.requests if r.method == "DELETE"] == []


def test_prune_warnings(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    failed, result = run_module(apply, dict(PRUNE, definition=[cm("a"), cm("b", app="y")]))
    assert not failed, result
    assert ("1 applied object(s) do not match prune_selector 'app=x', so they will not be pruned once removed "
            "from the manifests: ConfigMap models/b") in str(result["warnings"])
    failed, result = run_module(apply, {"definition": [cm("a")], "namespace": "models", "prune_selector": "app=x"})
    assert not failed and "pruned" not in result
    assert "prune_selector and prune_kinds are ignored without prune=true" in str(result["warnings"])
    failed, result = run_module(apply, dict(PRUNE, definition="---\n"))
    assert not failed and result["pruned"] == [] and result["changed"] is False
    assert "no object to apply, so nothing is pruned" in str(result["warnings"])


@pytest.mark.parametrize(("args", "message"), [
    ({"prune": True}, "prune=true requires prune_selector, a label selector such as app=iris"),
    ({"prune": True, "prune_selector": " "}, "prune=true requires prune_selector"),
    ({"prune": True, "prune_selector": "app in (x"}, "prune_selector 'app in (x': 'app in (x' is not a label"),
    ({"prune": True, "prune_selector": "app=x,"}, "empty requirement"),
    ({"prune": True, "prune_selector": "app!=x"}, "only excludes labels, so it matches unlabelled objects too"),
    ({"prune": True, "prune_selector": "app=x", "state": "absent"}, "prune=true works with state=present only"),
    ({"prune": True, "prune_selector": "app=x", "prune_kinds": ["ConfigMap"]},
     "prune_kinds: 'ConfigMap' is not <apiVersion>/<kind>"),
    ({"prune": True, "prune_selector": "app=x", "prune_kinds": ["example.com/v1/Widget"]},
     "prune_kinds: no kind Widget in apiVersion example.com/v1 on this cluster"),
])
def test_prune_bad_input_fails_before_any_write(fake_cluster, run_module, args, message):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    fake_cluster.put(dict(cm("old"), metadata={"name": "old", "namespace": "models", "labels": {"app": "x"}}))
    failed, result = run_module(apply, dict(args, definition=[cm("a")], namespace="models"))
    assert failed
    assert message in result["msg"]
    assert "Traceback" not in result["msg"]
    assert fake_cluster.writes() == []
    assert [r for r in fake_cluster.requests if r.method in ("PATCH", "DELETE", "POST")] == []


def test_prune_uses_one_client(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    run_module(apply, dict(PRUNE, definition=[cm("a"), cm("c")], prune_kinds=["v1/ConfigMap", "v1/Secret"]))
    assert len(fake_cluster.built_with) == 1
    assert fake_cluster.discovery_hits <= 1


@pytest.mark.parametrize("definition", ["hello", ["hello", "world"]])
def test_a_string_definition_fails_cleanly_before_any_request(fake_cluster, run_module, definition):
    failed, result = run_module(apply, {"definition": definition})
    assert failed and "expected a mapping" in result["msg"], result
    assert "exception" not in result and fake_cluster.requests == []


def test_secret_values_in_the_last_applied_annotation_are_masked(fake_cluster, run_module):
    import base64
    import json

    old = "kubectl-applied-old-secret-value"
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "models"},
                "data": {"token": base64.b64encode(old.encode()).decode()}}
    live = json.loads(json.dumps(manifest))
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest)}
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    fake_cluster.put(live)
    definition = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "models"},
                  "stringData": {"token": "new-secret-value-from-apply"}}
    failed, result = run_module(apply, {"definition": definition}, diff=True)
    assert not failed, result
    text = json.dumps(result)
    for value in (old, "new-secret-value-from-apply"):
        assert value not in text and base64.b64encode(value.encode()).decode() not in text
    assert "managedFields" not in text  # they name the keys only, and are dropped from results anyway
