"""predict_batch: percentiles, the summary of a batch, which predictor answered, the expectation, the runner."""

from __future__ import annotations

import json
import threading

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import predict_batch as pb
from ansible_collections.mlops.k8s.plugins.module_utils.predict import PredictError

MAIN = "classifier=seldonio/sklearnserver:1.18.2"
CANARY = "classifier-canary=seldonio/sklearnserver:1.18.2"


def rec(status=200, ms=10.0, key=MAIN):
    return {"status": status, "ms": ms, "key": key}


# -- percentiles ------------------------------------------------------------------------------------------
def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert pb.percentile(values, 50) == 50
    assert pb.percentile(values, 95) == 95
    assert pb.percentile(values, 99) == 99
    assert pb.percentile(values, 100) == 100
    assert pb.percentile([7.0], 99) == 7.0
    assert pb.percentile([1, 2, 3], 50) == 2
    assert pb.percentile([1, 2, 3, 4], 50) == 2
    assert pb.percentile([], 50) is None


def test_latency_summary_of_known_values():
    summary = pb.latency_summary([float(v) for v in range(1000, 0, -1)])  # unsorted on purpose
    assert summary == {"min": 1.0, "mean": 500.5, "p50": 500.0, "p95": 950.0, "p99": 990.0, "max": 1000.0}
    assert pb.latency_summary([]) == {}


# -- which predictor answered -----------------------------------------------------------------------------
def test_request_path_key_of_a_seldon_answer():
    answer = {"data": {}, "meta": {"requestPath": {"b": "img:2", "a": "img:1"}}}
    assert pb.request_path_key(answer) == "a=img:1,b=img:2"
    assert pb.request_path_key({"meta": {}}) is None
    assert pb.request_path_key({"outputs": []}) is None
    assert pb.request_path_key(["not", "a", "mapping"]) is None


@pytest.mark.parametrize(("selector", "expected"), [
    ("classifier-canary", "canary"),                            # a node name
    ("classifier-canary=seldonio/sklearnserver:1.18.2", "canary"),  # node=image
    ("classifier", "main"),
    ("seldonio/sklearnserver:1.18.2", "main"),                  # an image: the first predictor that has it
])
def test_predictor_of_by_node_image_or_both(selector, expected):
    predictors = {"main": "classifier", "canary": "classifier-canary"}
    key = CANARY if expected == "canary" else MAIN
    assert pb.predictor_of(key, predictors) == expected
    assert pb._matches(key, selector)


def test_predictor_of_without_names_unknown_and_unmatched():
    assert pb.predictor_of(MAIN, None) == MAIN
    assert pb.predictor_of(None, {"main": "classifier"}) == "unknown"
    assert pb.predictor_of("other=img:1", {"main": "classifier"}) == "unknown"
    # a substring of a node name is not the node
    assert pb.predictor_of(MAIN, {"x": "class"}) == "unknown"


# -- summary ----------------------------------------------------------------------------------------------
def test_summarize_counts_split_and_errors():
    records = [rec(key=MAIN)] * 72 + [rec(key=CANARY)] * 24 + [rec(503, key=None)] * 3 + [rec(None, key=None)]
    result = pb.summarize(records, {"main": "classifier", "canary": "classifier-canary"}, elapsed=2.0)
    assert result["count"] == 100
    assert result["succeeded"] == 96 and result["failed"] == 4
    assert result["error_rate"] == 0.04
    assert result["errors_by_status"] == {"503": 3, "connection": 1}
    assert result["predictors"] == {"main": 72, "canary": 24}
    assert result["request_paths"] == {MAIN: 72, CANARY: 24}
    assert result["split"] == {"main": 75.0, "canary": 25.0}
    assert result["requests_per_second"] == 50.0
    assert result["latency_ms"]["p99"] == 10.0


def test_summarize_when_everything_failed():
    result = pb.summarize([rec(500, key=None)] * 5)
    assert result["succeeded"] == 0 and result["error_rate"] == 1.0
    assert result["split"] == {} and result["predictors"] == {}
    assert result["errors_by_status"] == {"500": 5}


# -- expectation ------------------------------------------------------------------------------------------
def test_check_expect_normalises_and_refuses_bad_values():
    assert pb.check_expect(None) is None
    assert pb.check_expect({"split": {"main": "75", "canary": 25}}) == {
        "split": {"main": 75.0, "canary": 25}, "tolerance": 5.0}
    with pytest.raises(PredictError, match="unknown keys splitt"):
        pb.check_expect({"splitt": {}})
    with pytest.raises(PredictError, match=r"expect\.split\.main must be a number from 0 to 100"):
        pb.check_expect({"split": {"main": 175}})
    with pytest.raises(PredictError, match="max_error_rate must be a number from 0 to 1"):
        pb.check_expect({"max_error_rate": 5})
    with pytest.raises(PredictError, match="max_p99_ms must be a number 0 or more"):
        pb.check_expect({"max_p99_ms": "fast"})
    with pytest.raises(PredictError, match="split must map"):
        pb.check_expect({"split": [75, 25]})


def _result(main, canary, failed=0, p99=10.0):
    records = [rec(key=MAIN)] * main + [rec(key=CANARY)] * canary + [rec(503, key=None)] * failed
    result = pb.summarize(records, {"main": "classifier", "canary": "classifier-canary"})
    result["latency_ms"]["p99"] = p99
    return result


def test_expectation_holds_within_the_tolerance():
    expect = pb.check_expect({"split": {"main": 75, "canary": 25}, "tolerance": 5, "max_error_rate": 0.01,
                              "max_p99_ms": 50})
    assert pb.expectation_problems(_result(710, 290), expect) == []
    assert pb.expectation_problems(_result(750, 250), None) == []


def test_expectation_fails_with_the_numbers():
    expect = pb.check_expect({"split": {"main": 75, "canary": 25}, "tolerance": 5, "max_error_rate": 0.01,
                              "max_p99_ms": 50})
    problems = pb.expectation_problems(_result(500, 480, failed=20, p99=80.0), expect)
    assert problems == [
        "predictor main answered 51.0 % of the successful requests (500 of 980), expected 75 % +/- 5",
        "predictor canary answered 49.0 % of the successful requests (480 of 980), expected 25 % +/- 5",
        'error rate 0.0200 (20 of 1000 failed: {"503": 20}) is over 0.01',
        "p99 latency 80.0 ms is over 50 ms",
    ]


def test_expectation_names_an_unexpected_predictor():
    expect = pb.check_expect({"split": {"main": 100}})
    problems = pb.expectation_problems(_result(80, 20), expect)
    assert problems[0].startswith("predictor main answered 80.0 %")
    assert problems[1] == "canary answered 20.0 % of the successful requests (20), not in expect.split ['main']"


def test_check_batch_bounds():
    pb.check_batch(1000, 10, None)
    pb.check_batch(1, 1, 0.5)
    for args, text in (((0, 1, None), "count"), ((10, 0, None), "concurrency"), ((10, 1000, None), "concurrency"),
                       ((10, 1, 0), "rate"), ((True, 1, None), "count")):
        with pytest.raises(PredictError, match=text):
            pb.check_batch(*args)


# -- the runner -------------------------------------------------------------------------------------------
def test_run_sends_count_requests_from_concurrency_threads():
    seen = []
    lock = threading.Lock()
    answers = [{"meta": {"requestPath": {"classifier": "img"}}}, {"meta": {"requestPath": {"other": "img"}}}]

    def send(data):
        with lock:
            seen.append((threading.current_thread().name, data))
            index = len(seen)
        if index % 10 == 0:
            return 503, b"no healthy upstream"
        if index % 25 == 0:
            raise ConnectionError("reset")
        return 200, json.dumps(answers[index % 2]).encode()

    records, elapsed, first_error = pb.run(send, b"{}", 100, concurrency=4)
    assert len(seen) == 100 and all(data == b"{}" for _name, data in seen)
    assert len({name for name, _data in seen}) <= 4
    assert all(r is not None for r in records) and elapsed >= 0
    result = pb.summarize(records)
    # requests 10, 20, ... 100 answer 503; 25 and 75 fail to connect (50 and 100 are already 503s)
    assert result["errors_by_status"] == {"503": 10, "connection": 2}
    assert result["failed"] == 12 and result["succeeded"] == 88
    assert sum(result["request_paths"].values()) == 88
    assert first_error.startswith(("HTTP 503: no healthy upstream", "connection failed: reset"))


def test_run_honours_the_rate():
    now = [0.0]
    sleeps = []

    def clock():
        return now[0]

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    records, elapsed, _first = pb.run(lambda data: (200, b"{}"), b"{}", 5, concurrency=1, rate=2,
                                      clock=clock, sleep=sleep)
    assert len(records) == 5
    assert sleeps == [0.5, 0.5, 0.5, 0.5]  # request i starts at i / rate seconds
    assert elapsed == 2.0
