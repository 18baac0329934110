"""canary: the predictors of each step, the measures of a step's answers, the decision."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import canary as cn
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

MAIN = {"name": "default", "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER",
                                     "modelUri": "s3://m/v1", "envSecretRefName": "s3"}, "replicas": 2}
LIMITS = {"max_error_rate": 0.01, "min_canary_answers": 5, "max_latency_ratio": 2.0, "latency_slack_ms": 50.0,
          "max_accuracy_drop": 0.05, "min_accuracy": None}
MAIN_KEY = "classifier=seldonio/sklearnserver:1.18.2"
CANARY_KEY = "canary-classifier=seldonio/sklearnserver:1.18.2"


def sdep(*predictors):
    return {"metadata": {"name": "iris", "namespace": "models"}, "spec": {"predictors": list(predictors)}}


@pytest.mark.parametrize(("steps", "message"), [
    ([], "at least one"), ([0, 10], "from 1 to 99"), ([100], "from 1 to 99"), ([25, 10], "must increase"),
    ([True], "from 1 to 99"), (["10"], "from 1 to 99")])
def test_steps_are_refused_with_a_reason(steps, message):
    with pytest.raises(K8sError, match=message):
        cn.check_steps(steps)


def test_the_live_main_predictor_and_an_interrupted_canary():
    assert cn.split_live(sdep(MAIN), "canary") == (MAIN, None)
    shadow = dict(MAIN, name="shadow", shadow=True)
    assert cn.split_live(sdep(MAIN, shadow), "canary") == (MAIN, None)
    left = dict(MAIN, name="canary", traffic=10)
    assert cn.split_live(sdep(dict(MAIN, traffic=90), left), "canary") == (dict(MAIN, traffic=90), left)
    with pytest.raises(K8sError, match=r"has 2 .*default, other"):
        cn.split_live(sdep(MAIN, dict(MAIN, name="other")), "canary")


def test_the_canary_root_node_is_renamed_away_from_the_main_one():
    pred = cn.canary_predictor({"implementation": "SKLEARN_SERVER", "model_uri": "s3://m/v2", "traffic": 50}, MAIN)
    assert pred["name"] == "canary" and pred["graph"]["name"] == "canary-classifier"
    assert "traffic" not in pred
    custom = cn.canary_predictor({"name": "v2", "image": "me/model:2", "model_name": "classifier"}, MAIN)
    assert custom["graph"]["name"] == "v2-classifier"
    assert [c["name"] for c in custom["componentSpecs"][0]["spec"]["containers"]] == ["v2-classifier"]
    with pytest.raises(K8sError, match="main predictor's"):
        cn.canary_predictor({"name": "default", "model_uri": "s3://m/v2", "implementation": "SKLEARN_SERVER"}, MAIN)


def test_same_model_ignores_names_traffic_replicas_and_server_defaults():
    pred = cn.canary_predictor({"implementation": "SKLEARN_SERVER", "model_uri": "s3://m/v1",
                                "env_secret_ref_name": "s3"}, MAIN)
    live = dict(MAIN, traffic=100, graph=dict(MAIN["graph"], type="MODEL", children=[]))
    assert cn.same_model(live, pred)
    assert not cn.same_model(live, dict(pred, graph=dict(pred["graph"], modelUri="s3://m/v2")))


def test_steps_promotion_and_restore():
    can = {"name": "canary", "graph": {"name": "canary-classifier", "modelUri": "s3://m/v2"}}
    assert cn.step_predictors(MAIN, can, 10) == [dict(MAIN, traffic=90), dict(can, traffic=10)]
    new_main = {"name": "default", "graph": {"name": "classifier", "modelUri": "s3://m/v2"}, "replicas": 2}
    assert cn.promoted(MAIN, can) == new_main
    assert cn.promotion(MAIN, can) == [[dict(new_main, traffic=0), dict(can, traffic=100)], [new_main]]
    assert cn.restored(dict(MAIN, traffic=90)) == MAIN


def rec(key, ms=10.0, status=200, score=None):
    return {"status": status, "ms": ms, "key": key, "score": score}


def test_a_good_canary_passes():
    records = [rec(MAIN_KEY, score=1.0)] * 90 + [rec(CANARY_KEY, 12.0, score=1.0)] * 10
    stats = cn.measure(records, MAIN, {"graph": {"name": "canary-classifier"}})
    assert stats["canary"] == {"answers": 10, "p99_ms": 12.0, "accuracy": 1.0, "error_rate": 0.0}
    assert stats["main"]["answers"] == 90
    assert cn.decide(stats, 10, LIMITS) == (True, [])
    assert cn.describe(10, stats, True, []).endswith(": pass")


@pytest.mark.parametrize(("records", "reason"), [
    ([rec(MAIN_KEY)] * 90 + [rec(None, status=500)] * 10, "error rate 100.0 % (10 failed of 100 requests"),
    ([rec(MAIN_KEY)] * 98 + [rec(CANARY_KEY)] * 2, "the canary answered 2 of 100 requests at 10 %"),
    ([rec(MAIN_KEY, 10.0)] * 90 + [rec(CANARY_KEY, 500.0)] * 10, "p99 latency 500.0 ms is above 60.0 ms"),
    ([rec(MAIN_KEY, score=1.0)] * 90 + [rec(CANARY_KEY, score=0.0)] * 10, "accuracy 0.000 is below 0.950"),
])
def test_a_bad_canary_fails_with_the_number_that_decided(records, reason):
    stats = cn.measure(records, MAIN, {"graph": {"name": "canary-classifier"}})
    passed, reasons = cn.decide(stats, 10, LIMITS)
    assert not passed and any(r.startswith(reason) for r in reasons), reasons
    assert "FAIL: " + reasons[0] in cn.describe(10, stats, passed, reasons)


def test_accuracy_judge_reads_probabilities_or_classes():
    judge = cn.accuracy_judge([0, 1, 2])
    probs = {"data": {"ndarray": [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.0, 0.6, 0.4]]}}
    assert judge(probs) == pytest.approx(2 / 3)
    assert judge({"data": {"ndarray": [0, 1, 2]}}) == 1.0
    assert judge({"data": {"ndarray": [0]}}) == 0.0
    assert judge({"unexpected": True}) == 0.0
