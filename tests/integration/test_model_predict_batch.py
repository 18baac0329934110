"""model_predict's batch mode (count, concurrency, the split by meta.requestPath, the expectation) through the
sandbox's gateway, and target service_proxy through the API server's services/proxy subresource (real
ansible-playbook runs against the emulator's Seldon operator, gateway and API server)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from sandbox import components

REPO = Path(__file__).resolve().parents[2]
HAS_SELDON_COMPONENT = any("seldon" in spec.lower() for spec in components.COMPONENTS)

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.flow("model_predict's batch statistics over the sandbox's gateway and model servers"),
    pytest.mark.skipif(not HAS_SELDON_COMPONENT,
                       reason="the sandbox has no Seldon operator component yet (sandbox.components.COMPONENTS)"),
]

NAMESPACE = "predict-batch-%s" % uuid.uuid4().hex[:6]
SECRET = "s3-secret"
SDEP = "iris-split"
IRIS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]
# the two predictors run the same image; their graph nodes have different names, which meta.requestPath reports
PREDICTORS = {"main": "classifier", "canary": "classifier-canary"}


def play(*tasks, roles=None):
    item = {"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}
    if roles:
        item["roles"] = roles
    return yaml.safe_dump([item], sort_keys=False)


def task(title, module, /, register=None, **args):
    out = {"name": title, module: args}
    if register:
        out["register"] = register
    return out


def run_ok(run_playbook, playbook, **kwargs):
    run = run_playbook(playbook, **kwargs)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-4000:]
    return run


def run_failed(run_playbook, playbook, title, **kwargs):
    run = run_playbook(playbook, **kwargs)
    assert run.rc != 0, run.stdout[-4000:]
    result = run.task(title)
    assert result.get("failed"), result
    return result


@pytest.fixture(scope="module")
def gateway(sandbox):
    if sandbox.env.get("SANDBOX_SELDON_OPERATOR") != "1":
        pytest.skip("the sandbox does not run the Seldon operator (SANDBOX_SELDON_OPERATOR=1 missing from its env)")
    url = sandbox.env.get("MLOPS_K8S_GATEWAY_URL") or sandbox.env.get("SANDBOX_GATEWAY_URL")
    if not url:
        pytest.skip("the sandbox exports no gateway URL (SANDBOX_GATEWAY_URL)")
    return url


@pytest.fixture
def run_playbook(run_playbook, gateway):
    def run(playbook, **kwargs):
        env = dict(kwargs.pop("env", None) or {}, MLOPS_K8S_GATEWAY_URL=gateway)
        return run_playbook(playbook, env=env, **kwargs)

    return run


_STATE = {}


@pytest.fixture
def split_deployment(run_playbook, tmp_path_factory):
    """Seldon Core and the gateway installed; SeldonDeployment iris-split: main 75 %, canary 25 % (once)."""
    if "ready" not in _STATE:
        model = tmp_path_factory.mktemp("iris-model")
        subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "train.py"), str(model)], check=True,
                       capture_output=True, timeout=300)
        uri = "{{ artifact.model_uri }}"
        pred = {"implementation": "SKLEARN_SERVER", "model_uri": uri, "env_secret_ref_name": SECRET}
        run_ok(run_playbook, play(
            task("namespace", "mlops.k8s.namespace", name=NAMESPACE),
            task("storage secret", "mlops.k8s.storage_secret", name=SECRET, namespace=NAMESPACE, format="rclone",
                 endpoint_url="{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') | default(omit, true) }}"),
            task("upload the model", "mlops.k8s.s3_artifact", register="artifact", bucket="models",
                 prefix="predict-batch/iris", src=str(model), create_bucket=True),
            task("deploy", "mlops.k8s.seldon_deployment", name=SDEP, namespace=NAMESPACE, wait_timeout=300,
                 predictors=[dict(pred, name="main", traffic=75),
                             dict(pred, name="canary", traffic=25, model_name="classifier-canary")]),
            roles=[{"role": "mlops.k8s.seldon_core"}, {"role": "mlops.k8s.ambassador"}],
        ))
        _STATE["ready"] = True
    return SDEP


def predict(title="predict", **args):
    base = {"name": SDEP, "namespace": NAMESPACE, "data": IRIS, "timeout": 60}
    base.update(args)
    return task(title, "mlops.k8s.model_predict", **base)


# -- batch through the gateway ------------------------------------------------------------------------------------
def test_batch_counts_answers_per_predictor_near_the_split(split_deployment, run_playbook):
    run = run_ok(run_playbook, play(predict(count=400, concurrency=8, predictors=PREDICTORS,
                                            expect={"split": {"main": 75, "canary": 25}, "tolerance": 5,
                                                    "max_error_rate": 0})))
    result = run.task("predict")
    assert result["count"] == 400 and result["succeeded"] == 400 and result["errors_by_status"] == {}
    assert set(result["predictors"]) == {"main", "canary"}, result["predictors"]
    assert 80 <= result["predictors"]["canary"] <= 120, result["predictors"]
    # what upstream Seldon's model server reports: graph node -> image (the seldon-config image of SKLEARN_SERVER)
    assert sorted(key.partition("=")[0] for key in result["request_paths"]) == ["classifier", "classifier-canary"]
    assert all(key.endswith("seldonio/sklearnserver:1.18.2") for key in result["request_paths"]), result
    latency = result["latency_ms"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert result["shape"] == [3, 3] and result["warmup_attempts"] >= 1


def test_batch_expectation_failure_gives_the_numbers(split_deployment, run_playbook):
    result = run_failed(run_playbook, play(predict(count=200, concurrency=4, predictors=PREDICTORS,
                                                   expect={"split": {"main": 50, "canary": 50}, "tolerance": 5})),
                        "predict")
    assert "200 predictions to " in result["msg"], result["msg"]
    assert "predictor main answered 75.0 % of the successful requests (150 of 200), expected 50 % +/- 5" \
        in result["msg"], result["msg"]
    assert result["expectation_failures"] and result["predictors"] == {"main": 150, "canary": 50}


# -- through the API server's service proxy ---------------------------------------------------------------------
@pytest.mark.emulator_only(
    "a model server reached through the API server's service proxy: kube-apiserver proxies a Service only to an "
    "endpoint whose address is one of its pod's IPs and refuses loopback pod IPs ('address not allowed'), and the "
    "sandbox's pod IPs are loopback (the network rule); the 503 and RBAC answers are tested on both")
def test_service_proxy_reaches_the_named_predictor(split_deployment, run_playbook):
    run = run_ok(run_playbook, play(
        predict("one", target="service_proxy", predictor="canary", expected={"shape": [3, 3]}),
        predict("batch", via="service_proxy", count=30, concurrency=3, predictors=PREDICTORS,
                expect={"split": {"main": 100}, "max_error_rate": 0}),
    ))
    one = run.task("one")
    assert one["url"].endswith("/api/v1/namespaces/%s/services/%s-canary:http/proxy/api/v1.0/predictions"
                               % (NAMESPACE, SDEP)), one["url"]
    assert list(one["json"]["meta"]["requestPath"]) == ["classifier-canary"], one["json"]
    batch = run.task("batch")
    assert batch["url"].endswith("/services/%s-main:http/proxy/api/v1.0/predictions" % SDEP), batch["url"]
    assert batch["predictors"] == {"main": 30} and batch["succeeded"] == 30


def test_service_proxy_without_endpoints_is_503(split_deployment, run_playbook):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody-home", "namespace": NAMESPACE},
           "spec": {"selector": {"app": "nothing-matches"}, "ports": [{"name": "http", "port": 8000}]}}
    result = run_failed(run_playbook, play(
        task("service", "mlops.k8s.apply", definition=svc),
        predict(target="service_proxy", service="nobody-home", timeout=0),
    ), "predict")
    assert result["status"] == 503, result
    assert 'no endpoints available for service \\"nobody-home\\"' in result["msg"] or \
        'no endpoints available for service "nobody-home"' in result["msg"], result["msg"]


def test_service_proxy_needs_services_proxy_rbac(split_deployment, run_playbook, sandbox):
    from kubernetes import client

    run_ok(run_playbook, play(task("sa", "mlops.k8s.service_account", name="deployer", namespace=NAMESPACE,
                                   preset="seldon-deployer")))
    core = client.CoreV1Api(sandbox.api_client())
    body = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    token = core.create_namespaced_service_account_token("deployer", NAMESPACE, body).status.token
    result = run_failed(run_playbook, play(predict(target="service_proxy", api_key=token, timeout=0)), "predict")
    assert result["status"] == 403, result
    assert 'cannot create resource \\"services/proxy\\"' in result["msg"] or \
        'cannot create resource "services/proxy"' in result["msg"], result["msg"]
    assert "system:serviceaccount:%s:deployer" % NAMESPACE in result["msg"], result["msg"]
