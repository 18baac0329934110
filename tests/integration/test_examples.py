"""Every workflow example (examples/<workflow>/playbook.yml, documented in docs/workflows/) runs on the sandbox.

Each playbook asserts on its own results (predictions, traffic split); the tests check the run and read the
objects back. An example is skipped, with the reason, only when the sandbox lacks a part it needs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

pytestmark = [pytest.mark.sandbox,
              pytest.mark.flow("the examples' playbooks end to end, as `make demo` runs them on the emulator")]

_STATE: dict = {}


@pytest.fixture
def run_example(run_playbook, sandbox, tmp_path_factory):
    """Run examples/<name>/playbook.yml on the sandbox with the platform installed (once)."""
    if sandbox.env.get("SANDBOX_SELDON_OPERATOR") != "1":
        pytest.skip("the sandbox runs no Seldon operator (SANDBOX_SELDON_OPERATOR=1 missing from its env)")
    env = {"MLOPS_K8S_GATEWAY_URL": sandbox.env["SANDBOX_GATEWAY_URL"],
           "MLOPS_EXAMPLES_WORKDIR": str(tmp_path_factory.getbasetemp() / "examples-work")}
    if "platform" not in _STATE:
        run = run_playbook(REPO / "playbooks" / "install_platform.yml", env=env)
        assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
        _STATE["platform"] = True

    def run(name: str, *args: str, **kwargs):
        result = run_playbook(EXAMPLES / name / "playbook.yml", *args, env=env, **kwargs)
        assert result.rc == 0, result.stdout[-8000:] + result.stderr[-3000:]
        assert result.stats.get("failures", 0) == 0
        return result

    return run


def _get(sandbox, path: str) -> dict:
    status, _headers, body = sandbox.request("GET", path)
    assert status == 200, f"GET {path}: {status} {body[:300]!r}"
    return json.loads(body)


def _sdep(sandbox, namespace: str, name: str) -> dict:
    return _get(sandbox, f"/apis/machinelearning.seldon.io/v1/namespaces/{namespace}/seldondeployments/{name}")


def test_every_workflow_has_a_doc_and_a_playbook():
    workflows = sorted(p.parent.name for p in EXAMPLES.glob("*/playbook.yml"))
    assert workflows == ["argo_train_deploy", "bodywork_pipeline", "canary_shadow", "mlflow_model", "safe_rollouts",
                         "tempo_metaflow"]
    docs = (REPO / "docs" / "workflows").glob("*.md")
    linked = "\n".join(p.read_text() for p in docs)
    for workflow in workflows:
        assert f"examples/{workflow}/playbook.yml" in linked, f"no page of docs/workflows/ points at {workflow}"


def test_tempo_metaflow(run_example, sandbox):
    run = run_example("tempo_metaflow")
    answer = run.task("Predict (V2 inference protocol, what Tempo's client.predict sends)")
    assert [int(v) for v in answer["json"]["outputs"][0]["data"]] == [0, 1, 2]
    sdep = _sdep(sandbox, "production", "test-iris-sklearn")
    assert sdep["spec"]["protocol"] == "v2" and sdep["status"]["state"] == "Available"
    # the pipeline's service account and its namespaced RBAC, no cluster-wide grant
    _get(sandbox, "/api/v1/namespaces/production/serviceaccounts/tempo-pipeline")
    roles = _get(sandbox, "/apis/rbac.authorization.k8s.io/v1/namespaces/production/roles")["items"]
    assert any("machinelearning.seldon.io" in r.get("apiGroups", []) for role in roles for r in role["rules"])
    # a second run changes nothing
    again = run_example("tempo_metaflow")
    assert again.stats.get("changed", 0) == 0, [t["_task"] for t in again.tasks() if t.get("changed")]


def test_bodywork_pipeline(run_example, sandbox):
    run = run_example("bodywork_pipeline")
    shown = run.task("Show the scoring endpoint and its answer")["msg"]
    assert shown["endpoint"].endswith("/seldon/bodywork-ml-pipeline/iris-tree-classifier/api/v1.0/predictions")
    assert float(shown["accuracy"]) >= 0.9
    sdep = _sdep(sandbox, "bodywork-ml-pipeline", "iris-tree-classifier")
    assert sdep["status"]["state"] == "Available"
    graph = sdep["spec"]["predictors"][0]["graph"]
    assert graph["modelUri"] == "s3://bodywork-ml-pipeline-project/models/iris-tree-classifier"


def test_mlflow_model(run_example, sandbox):
    run = run_example("mlflow_model")
    assert run.task("Predict through Ambassador (/seldon/<namespace>/<name>/api/v1.0/predictions)")["output"] == [0, 2]
    sdep = _sdep(sandbox, "seldon", "mlflow-iris")
    graph = sdep["spec"]["predictors"][0]["graph"]
    assert graph["implementation"] == "MLFLOW_SERVER"
    assert graph["modelUri"].startswith("s3://mlflow/0/example-run/artifacts/model")
    container = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    assert container["readinessProbe"]["failureThreshold"] == 100


def test_canary_shadow(run_example, sandbox):
    run = run_example("canary_shadow", "-e", "canary_requests=120")
    batch = run.task("Check the candidate's share of requests through the gateway, count 120")
    assert batch["count"] == 120 and batch["succeeded"] == 120, batch
    assert set(batch["predictors"]) == {"main", "candidate"}, batch["predictors"]
    assert 15 <= batch["predictors"]["candidate"] <= 45, batch["predictors"]  # 25% of 120 = 30
    predictors = _sdep(sandbox, "rollouts", "iris-rollout")["spec"]["predictors"]
    assert [p["name"] for p in predictors] == ["main", "candidate"]
    assert predictors[1].get("shadow") is True


def test_argo_train_deploy(run_example, sandbox):
    if sandbox.env.get("SANDBOX_ARGO_CONTROLLER") != "1":
        pytest.skip("the sandbox runs no Argo Workflows controller (SANDBOX_ARGO_CONTROLLER=1 missing from its env)")
    # The training image of the example, loaded into the sandbox as `kind load docker-image` would (on a cluster:
    # docker build -t ghcr.io/mlops-k8s/iris-train:0.1.0 examples/iris).
    subprocess.run([sys.executable, "-m", "sandbox", "load-image", "ghcr.io/mlops-k8s/iris-train:0.1.0",
                    str(EXAMPLES / "iris"), "--dir", str(sandbox.dir)],
                   check=True, capture_output=True, cwd=REPO, timeout=120)
    run = run_example("argo_train_deploy")
    shown = run.task("Show the steps and where the model was trained to")["msg"]
    assert shown["phase"] == "Succeeded"
    assert shown["model_location"] == "iris"
    workflow = _get(sandbox, "/apis/argoproj.io/v1alpha1/namespaces/models/workflows/train-deploy-iris")
    assert workflow["status"]["phase"] == "Succeeded"
    sdep = _sdep(sandbox, "models", "iris-argo")
    assert sdep["spec"]["predictors"][0]["graph"]["modelUri"] == "pvc://model-parameters-pvc/iris"
    assert sdep["status"]["state"] == "Available"
    # a second run finds the Workflow unchanged: nothing submitted again
    again = run_example("argo_train_deploy")
    assert again.stats.get("changed", 0) == 0, [t["_task"] for t in again.tasks() if t.get("changed")]


def test_safe_rollouts(run_example, sandbox):
    run = run_example("safe_rollouts")
    bad = run.task("Update to a model that is not in the bucket; it cannot load, so version 1 is applied again")
    assert bad["failed"] is True and bad["rolled_back"] is True, bad.get("msg")
    assert bad["msg"].endswith("rolled back to the last Available spec, which is Available again"), bad["msg"]
    rollout = run.task("Roll version 2 out as a canary in steps, percent 20, 50")
    assert rollout["promoted"] is True and [s["weight"] for s in rollout["steps"]] == [20, 50], rollout["decisions"]
    assert all(line.endswith(": pass") for line in rollout["decisions"]), rollout["decisions"]
    predictors = _sdep(sandbox, "safe-rollouts", "iris-safe")["spec"]["predictors"]
    assert [(p["name"], p["graph"]["name"]) for p in predictors] == [("default", "classifier")]
    assert predictors[0]["graph"]["modelUri"].endswith("/iris/v2")
