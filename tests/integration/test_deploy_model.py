"""playbooks/deploy_model.yml (roles model_namespace + model_deployment) on the session sandbox.

Real ansible-playbook runs: install the platform (install_platform.yml), train the iris model, deploy it with the
playbook, check the prediction that came back through the gateway, re-run (changed=0 and no write request), check
mode, a canary from model URIs (nothing uploaded), and state=absent. Needs the sandbox's Seldon operator.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from deploy_harness import gateway_url

REPO = Path(__file__).resolve().parents[2]
DEPLOY = str(REPO / "playbooks" / "deploy_model.yml")
INSTALL = str(REPO / "playbooks" / "install_platform.yml")
NAMESPACE = "deploy-it-%s" % uuid.uuid4().hex[:6]
BUCKET = "deploy-it"
SDEP_PATH = "/apis/machinelearning.seldon.io/v1/namespaces/%s/seldondeployments/%s"

pytestmark = [pytest.mark.sandbox,
              pytest.mark.timeout(1200)]


def find(run, prefix: str) -> dict:
    """The last task whose name starts with prefix, without the "role : " part (names carry templated suffixes)."""
    matches = [t for t in run.tasks() if t["_task"].split(" : ", 1)[-1].startswith(prefix)]
    assert matches, "no task starting with %r; have %s" % (prefix, [t["_task"] for t in run.tasks()])
    return matches[-1]


def ok(run):
    assert run.rc == 0, run.stdout[-8000:] + run.stderr[-4000:]
    return run


@pytest.fixture(scope="module")
def gateway(sandbox) -> str:
    return gateway_url(sandbox)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """The iris model trained twice: seed 0 (main) and seed 1 (canary)."""
    out = {}
    for seed in (0, 1):
        path = tmp_path_factory.mktemp("iris-seed%d" % seed)
        subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "train.py"), "--seed", str(seed), str(path)],
                       check=True, capture_output=True, timeout=300)
        out[seed] = path
    return out


_INSTALLED = []


@pytest.fixture
def deploy(gateway, run_playbook):
    """The platform installed (once per module); returns a runner of deploy_model.yml with the gateway env."""
    if not _INSTALLED:
        ok(run_playbook(INSTALL))
        _INSTALLED.append(True)

    def run(*args, **extra_vars):
        base = {"deploy_model_namespace": NAMESPACE, "deploy_model_bucket": BUCKET, "deploy_model_wait_timeout": 300}
        return run_playbook(DEPLOY, *args, extra_vars={**base, **extra_vars}, env={"MLOPS_K8S_GATEWAY_URL": gateway})

    return run


def test_deploy_predict_rerun_check_and_absent(sandbox, deploy, models, gateway):
    run = ok(deploy(deploy_model_name="iris", deploy_model_dir=str(models[0])))
    assert run.stats["changed"] >= 3  # namespace, secret, upload, SeldonDeployment
    upload = find(run, "Upload the model artifacts")
    assert upload["changed"] is True
    assert upload["results"][0]["model_uri"] == "s3://%s/%s/iris" % (BUCKET, NAMESPACE)
    sdep = find(run, "Apply the SeldonDeployment")
    assert sdep["changed"] is True and sdep["state"] == "Available"

    # the prediction came back through the gateway: three rows of class probabilities, the right classes
    smoke = find(run, "Smoke prediction")
    assert smoke["url"] == "%s/seldon/%s/iris/api/v1.0/predictions" % (gateway.rstrip("/"), NAMESPACE)
    output = smoke["output"]
    assert smoke["shape"] == [3, 3]
    assert all(abs(sum(row) - 1.0) < 1e-6 for row in output)
    assert [row.index(max(row)) for row in output] == [0, 1, 2]  # setosa, versicolor, virginica
    assert find(run, "Show the prediction")["msg"]["output"] == output
    result = find(run, "Report the deployment")["ansible_facts"]["model_deployment_result"]
    assert result["model_uris"] == {"main": "s3://%s/%s/iris" % (BUCKET, NAMESPACE)}
    assert result["predictors"] == ["default"]

    # a second run changes nothing and sends no write request (the smoke prediction still runs)
    mark = sandbox.audit_mark()
    run = ok(deploy(deploy_model_name="iris", deploy_model_dir=str(models[0])))
    assert run.stats["changed"] == 0, [t["_task"] for t in run.tasks() if t.get("changed")]
    assert sandbox.writes(mark) == []
    assert find(run, "Smoke prediction")["shape"] == [3, 3]

    # check mode on the deployed model: nothing to change, nothing written
    mark = sandbox.audit_mark()
    run = ok(deploy("--check", deploy_model_name="iris", deploy_model_dir=str(models[0])))
    assert run.stats["changed"] == 0
    assert sandbox.writes(mark) == []

    # state=absent deletes the SeldonDeployment (and waits); again: nothing to do
    run = ok(deploy(deploy_model_name="iris", deploy_model_state="absent"))
    assert find(run, "Delete the SeldonDeployment")["changed"] is True
    status, _headers, _body = sandbox.request("GET", SDEP_PATH % (NAMESPACE, "iris"))
    assert status == 404
    run = ok(deploy(deploy_model_name="iris", deploy_model_state="absent"))
    assert run.stats["changed"] == 0


def test_canary_from_model_uris_uploads_nothing(sandbox, deploy, models):
    # upload the two models under their own prefixes (the first deploys too), then deploy by URI with a canary
    ok(deploy(deploy_model_name="iris-a", deploy_model_dir=str(models[0]), deploy_model_prefix="uris/v1"))
    ok(deploy(deploy_model_name="iris-b", deploy_model_dir=str(models[1]), deploy_model_prefix="uris/v2"))
    run = ok(deploy(deploy_model_name="iris-canary", deploy_model_uri="s3://%s/uris/v1" % BUCKET,
                    deploy_model_canary={"name": "canary", "traffic": 25, "model_uri": "s3://%s/uris/v2" % BUCKET}))
    assert find(run, "Upload the model artifacts")["results"][0].get("skipped") is True
    sdep = find(run, "Apply the SeldonDeployment")
    assert sdep["state"] == "Available"
    predictors = {p["name"]: p for p in sdep["resource"]["spec"]["predictors"]}
    assert predictors["default"]["traffic"] == 75 and predictors["canary"]["traffic"] == 25
    assert predictors["default"]["graph"]["modelUri"] == "s3://%s/uris/v1" % BUCKET
    assert predictors["canary"]["graph"]["modelUri"] == "s3://%s/uris/v2" % BUCKET
    assert find(run, "Smoke prediction")["shape"] == [3, 3]
    for name in ("iris-a", "iris-b", "iris-canary"):
        ok(deploy(deploy_model_name=name, deploy_model_state="absent"))


def test_missing_model_fails_with_a_clear_message(deploy):
    run = deploy(deploy_model_name="iris-nothing")
    assert run.rc != 0
    failed = find(run, "Check the artifact settings")
    assert failed.get("failed") is True
    assert "needs a model URI, or a model directory" in str(failed)
