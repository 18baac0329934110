"""mlops.k8s.seldon_deployment run as Ansible runs it, against the recorded-response API."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from ansible_collections.mlops.k8s.plugins.module_utils import seldon
from ansible_collections.mlops.k8s.plugins.modules import seldon_deployment

PREDICTOR = {"name": "default", "implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/v1",
             "env_secret_ref_name": "seldon-init-container-secret"}
ARGS = {"name": "iris", "namespace": "models", "predictors": [PREDICTOR]}


@pytest.fixture
def cluster(fake_cluster):
    fake_cluster.add_kind(seldon.API_VERSION, seldon.KIND, "seldondeployments")
    fake_cluster.add_kind("v1", "Event", "events")
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    return fake_cluster


def stored(cluster, name="iris"):
    return cluster.get_obj(seldon.API_VERSION, seldon.KIND, name, "models")


def with_status(obj, **status):
    out = copy.deepcopy(obj)
    out["status"] = status
    return out


def test_create_waits_available_then_second_run_writes_nothing(cluster, run_module):
    cluster.queue_watch({"type": "MODIFIED", "object": {"metadata": {"name": "iris", "resourceVersion": "1"}}},
                        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "2"}}})

    # the watch answers with the operator's status updates once the object exists
    def queue_after_create():
        obj = stored(cluster)
        cluster.watch_queue[:] = [[{"type": "MODIFIED", "object": with_status(obj, state="Creating")},
                                   {"type": "MODIFIED", "object": with_status(
                                       obj, state="Available", address={"url": "http://iris-default.models:8000"})}]]

    original = cluster._apply

    def apply_and_queue(req, ctx):
        status, body = original(req, ctx)
        if not req.dry_run and status in (200, 201):
            queue_after_create()
        return status, body

    cluster._apply = apply_and_queue
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10))
    assert not failed, result
    assert result["changed"] is True and result["action"] == "created"
    assert result["state"] == "Available"
    assert result["endpoints"]["gateway_path"] == "/seldon/models/iris/api/v1.0/predictions"
    assert result["endpoints"]["cluster"]["default"]["http"] == "http://iris-default.models.svc.cluster.local:8000"
    assert result["endpoints"]["address"] == "http://iris-default.models:8000"
    assert "managedFields" not in result["resource"]["metadata"]
    applied = [r for r in cluster.writes() if r.method == "PATCH"]
    assert [r.query["fieldManager"] for r in applied] == ["mlops.k8s", "mlops.k8s-rollback"]
    assert applied[0].body["spec"]["predictors"][0]["graph"]["modelUri"] == "s3://models/iris/v1"
    # the spec that became Available is kept on the object by its own field manager, for a later rollback
    kept = applied[1].body["metadata"]["annotations"]["mlops.k8s/last-available-spec"]
    assert json.loads(kept) == applied[0].body["spec"] and set(applied[1].body) == {"apiVersion", "kind", "metadata"}

    # the operator's status is stored; a second run sends only reads and dry runs
    cluster.objects[(seldon.API_VERSION, "seldondeployments", "models", "iris")]["status"] = {"state": "Available"}
    mark = cluster.mark()
    failed, result = run_module(seldon_deployment, ARGS)
    assert not failed, result
    assert result["changed"] is False and result["action"] == "unchanged"
    assert result["state"] == "Available"
    assert [r for r in cluster.since(mark) if r.is_write] == []
    reads = [r.path for r in cluster.since(mark) if r.method == "GET" and r.path.endswith("/seldondeployments/iris")]
    assert len(reads) == 1  # one read of the object per task
    # already Available as read: the wait needs no list and no watch
    assert [r.path for r in cluster.since(mark) if r.path.endswith("/seldondeployments")] == []


def test_failed_state_fails_with_the_reason(cluster, run_module):
    original = cluster._apply

    def apply_and_fail(req, ctx):
        status, body = original(req, ctx)
        if not req.dry_run and status in (200, 201):
            cluster.watch_queue[:] = [[{"type": "MODIFIED", "object": with_status(
                stored(cluster), state="Failed", description="Deployment is no longer progressing and not available.",
                deploymentStatus={"iris-default-0-classifier": {"replicas": 1, "availableReplicas": 0}})}]]
        return status, body

    cluster._apply = apply_and_fail
    failed, result = run_module(seldon_deployment, dict(ARGS, predictors=[dict(PREDICTOR, model_uri="s3://nope/x")]))
    assert failed
    assert result["msg"].startswith("SeldonDeployment models/iris failed: state Failed: Deployment is no longer "
                                    "progressing and not available.; predictor default (Deployment "
                                    "iris-default-0-classifier): 0/1 replicas available")
    assert result["reason"] == "Failed"
    assert result["changed"] is True
    assert result["state"] == "Failed"
    assert "summary" in result["explanation"]


def test_no_wait_and_diff_on_update(cluster, run_module):
    failed, result = run_module(seldon_deployment, dict(ARGS, wait=False))
    assert not failed and result["action"] == "created" and "waited" not in result
    failed, result = run_module(seldon_deployment, dict(ARGS, wait=False, predictors=[dict(PREDICTOR, replicas=3)]),
                                diff=True)
    assert not failed, result
    assert result["action"] == "configured"
    assert "replicas" not in result["diff"]["before"]["spec"]["predictors"][0]
    assert result["diff"]["after"]["spec"]["predictors"][0]["replicas"] == 3


def test_check_mode_is_a_server_dry_run(cluster, run_module):
    failed, result = run_module(seldon_deployment, ARGS, check_mode=True, diff=True)
    assert not failed, result
    assert result["changed"] is True and result["action"] == "created"
    assert result["diff"]["before"] == {}
    assert cluster.writes() == []
    assert any(r.dry_run for r in cluster.requests)


def test_check_mode_without_the_crd_says_so(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    failed, result = run_module(seldon_deployment, ARGS, check_mode=True)
    assert not failed, result
    assert result["changed"] is True
    assert "the SeldonDeployment CRD (machinelearning.seldon.io/v1, kind SeldonDeployment) is not installed" in \
        result["msg"]
    assert "check mode could not validate" in str(result["warnings"])
    failed, result = run_module(seldon_deployment, ARGS)
    assert failed
    assert result["msg"].startswith("the SeldonDeployment CRD (machinelearning.seldon.io/v1, kind SeldonDeployment) "
                                    "is not installed on this cluster")


def test_render_only_needs_no_cluster(fake_cluster, run_module):
    failed, result = run_module(seldon_deployment, dict(ARGS, render_only=True, protocol="v2"))
    assert not failed, result
    assert result["changed"] is False and result["action"] == "rendered"
    assert fake_cluster.requests == [] and fake_cluster.built_with == []
    assert yaml.safe_load(result["yaml"]) == result["manifest"]
    assert result["manifest"]["spec"]["protocol"] == "v2"
    assert result["endpoints"]["gateway_path"] == "/seldon/models/iris/v2/models/classifier/infer"


def test_dest_writes_once(fake_cluster, run_module, tmp_path):
    dest = tmp_path / "iris.yaml"
    args = dict(ARGS, dest=str(dest))
    failed, result = run_module(seldon_deployment, args, check_mode=True, diff=True)
    assert not failed and result["changed"] is True and not dest.exists()
    assert result["diff"]["before"] == ""
    failed, result = run_module(seldon_deployment, args)
    assert not failed and result["changed"] is True
    assert yaml.safe_load(dest.read_text())["metadata"] == {"name": "iris", "namespace": "models"}
    failed, result = run_module(seldon_deployment, args)
    assert not failed and result["changed"] is False
    assert fake_cluster.requests == []
    failed, result = run_module(seldon_deployment, dict(args, dest=str(tmp_path / "missing" / "x.yaml")))
    assert failed and "does not exist" in result["msg"]


def test_definition(cluster, run_module):
    definition = yaml.safe_dump(seldon.build_sdep("iris", [PREDICTOR]))
    failed, result = run_module(seldon_deployment, {"definition": definition, "namespace": "models", "wait": False})
    assert not failed, result
    assert result["resource"]["metadata"]["namespace"] == "models"
    assert stored(cluster)["spec"]["predictors"][0]["traffic"] == 100


@pytest.mark.parametrize("args, message", [
    (dict(ARGS, definition={"kind": "SeldonDeployment"}), "parameters are mutually exclusive: definition|predictors"),
    (dict(ARGS, predictors=[dict(PREDICTOR, traffic=60), dict(PREDICTOR, name="canary", traffic=30)]),
     "traffic split: the non-shadow predictors must add up to 100, got 90 (default=60, canary=30)"),
    (dict(ARGS, predictors=[dict(PREDICTOR, implementation="PYTORCH_SERVER")]),
     "unknown implementation PYTORCH_SERVER"),
    (dict(ARGS, predictors=[dict(PREDICTOR, model_uri=None)]), "implementation SKLEARN_SERVER needs model_uri"),
    ({"name": "iris"}, "state is present but any of the following are missing: predictors, definition"),
    ({"definition": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}},
     "definition must be a SeldonDeployment"),
])
def test_bad_input_fails_without_traceback(fake_cluster, run_module, args, message):
    failed, result = run_module(seldon_deployment, args)
    assert failed
    assert message in result["msg"]
    assert "exception" not in result
    assert fake_cluster.requests == []


def test_graph_with_children_through_the_module(fake_cluster, run_module):
    failed, result = run_module(seldon_deployment, {"name": "pipe", "render_only": True, "predictors": [{
        "name": "default", "graph": {"name": "pre", "type": "TRANSFORMER", "image": "repo/pre:1",
                                     "children": [{"name": "classifier", "implementation": "SKLEARN_SERVER",
                                                   "model_uri": "s3://m"}]}}]})
    assert not failed, result
    graph = result["manifest"]["spec"]["predictors"][0]["graph"]
    assert graph["type"] == "TRANSFORMER" and graph["children"][0]["name"] == "classifier"


def test_absent(cluster, run_module):
    run_module(seldon_deployment, dict(ARGS, wait=False))
    failed, result = run_module(seldon_deployment, {"name": "iris", "namespace": "models", "state": "absent"},
                                check_mode=True)
    assert not failed and result["changed"] is True and stored(cluster) is not None
    failed, result = run_module(seldon_deployment, {"name": "iris", "namespace": "models", "state": "absent"})
    assert not failed, result
    assert result["changed"] is True and result["action"] == "deleted"
    assert stored(cluster) is None
    failed, result = run_module(seldon_deployment, {"name": "iris", "namespace": "models", "state": "absent"})
    assert not failed and result["changed"] is False and result["action"] == "absent"


def test_absent_without_the_crd(fake_cluster, run_module):
    failed, result = run_module(seldon_deployment, {"name": "iris", "namespace": "models", "state": "absent"})
    assert not failed and result["changed"] is False and result["action"] == "absent"


@pytest.mark.parametrize("definition", ["hello", ["hello", "world"]])
def test_a_string_definition_fails_cleanly(cluster, run_module, definition):
    mark = cluster.mark()
    failed, result = run_module(seldon_deployment, {"name": "iris", "namespace": "models", "definition": definition})
    assert failed and "expected a mapping" in result["msg"], result
    assert cluster.writes() == [] and not [r for r in cluster.since(mark) if r.method != "GET"]


@pytest.mark.parametrize("change", [{"replicas": -3}, {"model_uri": "ftp://models/iris"}, {"model_uri": "bogus"}])
def test_bad_replicas_and_model_uri_fail_before_any_request(cluster, run_module, change):
    mark = cluster.mark()
    failed, result = run_module(seldon_deployment, dict(ARGS, predictors=[dict(PREDICTOR, **change)]),
                                check_mode=True)
    assert failed and ("replicas must be" in result["msg"] or "storage initializer" in result["msg"]), result
    assert cluster.since(mark) == []


# -- rollback_on_failure ---------------------------------------------------------------------------------------
KEY = (seldon.API_VERSION, "seldondeployments", "models", "iris")
FAILED = {"state": "Failed", "description": "Deployment is no longer progressing and not available."}


@pytest.fixture
def operator(cluster):
    """After each real apply the operator reports Available for model URIs in ``good``, Failed for the others."""
    good = {"s3://models/iris/v1"}
    original = cluster._apply

    def apply_and_report(req, ctx):
        status, body = original(req, ctx)
        if not req.dry_run and status in (200, 201) and req.query.get("fieldManager") == "mlops.k8s":
            obj = cluster.objects[KEY] = copy.deepcopy(cluster.objects[KEY])  # the answer keeps its own status
            uri = obj["spec"]["predictors"][0]["graph"]["modelUri"]
            obj["status"] = {"state": "Available"} if uri in good else dict(FAILED)
            cluster._stamp(obj["metadata"])
            # a watch from the list's version sees the operator go Creating, then to the state stored
            events = [with_status(obj, state="Creating"), copy.deepcopy(obj)]
            for event in events:
                cluster._stamp(event["metadata"])
            cluster.watch_queue[:] = [[{"type": "MODIFIED", "object": e} for e in events]]
        return status, body

    cluster._apply = apply_and_report
    return good


def spec_applies(cluster, mark):
    return [r.body["spec"]["predictors"][0]["graph"]["modelUri"] for r in cluster.since(mark)
            if r.method == "PATCH" and not r.dry_run and "spec" in r.body]


def test_a_failed_update_is_rolled_back_to_the_available_spec(cluster, operator, run_module):
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10))
    assert not failed, result.get("msg")
    mark = cluster.mark()
    v2 = dict(ARGS, wait_timeout=10, predictors=[dict(PREDICTOR, model_uri="s3://models/iris/v2")])
    failed, result = run_module(seldon_deployment, v2)
    assert failed
    assert result["msg"].startswith("SeldonDeployment models/iris failed: state Failed")
    assert result["msg"].endswith("; rolled back to the last Available spec, which is Available again")
    assert result["rolled_back"] is True and result["changed"] is True and result["state"] == "Available"
    assert spec_applies(cluster, mark) == ["s3://models/iris/v2", "s3://models/iris/v1"]
    live = cluster.objects[KEY]
    assert live["spec"]["predictors"][0]["graph"]["modelUri"] == "s3://models/iris/v1"
    # the rolled back spec is the one kept: no new annotation write
    assert [r for r in cluster.since(mark) if r.query.get("fieldManager") == "mlops.k8s-rollback"] == []


def test_an_interrupted_failed_update_rolls_back_from_the_annotation_next_run(cluster, operator, run_module):
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10))
    assert not failed, result.get("msg")
    v2 = dict(ARGS, wait_timeout=10, predictors=[dict(PREDICTOR, model_uri="s3://models/iris/v2")])
    # the previous run applied v2 and was killed before it could roll back: Failed, the annotation says v1
    failed, result = run_module(seldon_deployment, dict(v2, wait=False))
    assert not failed and cluster.objects[KEY]["status"]["state"] == "Failed"
    mark = cluster.mark()
    failed, result = run_module(seldon_deployment, dict(v2, predictors=[dict(PREDICTOR, model_uri="s3://x/v3")]))
    assert failed and result["rolled_back"] is True, result
    assert spec_applies(cluster, mark) == ["s3://x/v3", "s3://models/iris/v1"]


def test_no_rollback_for_a_create_or_when_turned_off(cluster, operator, run_module):
    bad = [dict(PREDICTOR, model_uri="s3://models/iris/bad")]
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10, predictors=bad))
    assert failed and result["rolled_back"] is False
    assert "rolled back" not in result["msg"]
    cluster.objects.pop(KEY)
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10))
    assert not failed, result.get("msg")
    mark = cluster.mark()
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10, predictors=bad,
                                                        rollback_on_failure=False))
    assert failed and result["rolled_back"] is False
    assert spec_applies(cluster, mark) == ["s3://models/iris/bad"]


def test_a_rollback_that_fails_too_says_both(cluster, operator, run_module):
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10))
    assert not failed, result.get("msg")
    operator.clear()  # v1 stops working too (its model was deleted from the bucket)
    failed, result = run_module(seldon_deployment, dict(ARGS, wait_timeout=10,
                                                        predictors=[dict(PREDICTOR, model_uri="s3://models/v2")]))
    assert failed and result["rolled_back"] is True
    assert "rolled back to the last Available spec, which did not become Available either" in result["msg"]
    assert result["rollback_error"].startswith("SeldonDeployment models/iris failed")
