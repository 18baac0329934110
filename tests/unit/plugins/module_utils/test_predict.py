"""Prediction payloads, URLs, expectations and the retry loop (with a fake opener and a fake clock)."""

from __future__ import annotations

import io
import json
from urllib.error import HTTPError, URLError

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import predict, retries

IRIS = [[5.1, 3.5, 1.4, 0.2], [6.2, 3.4, 5.4, 2.3], [5.9, 3.0, 4.2, 1.5]]
PROBA = [[0.97, 0.03, 0.0], [0.0, 0.02, 0.98], [0.01, 0.9, 0.09]]


# -- payloads -----------------------------------------------------------------------------------------------
def test_seldon_payloads():
    assert predict.build_payload("seldon", data=IRIS, names=["a", "b", "c", "d"]) == {
        "data": {"ndarray": IRIS, "names": ["a", "b", "c", "d"]}}
    assert predict.build_payload("seldon", str_data="hello") == {"strData": "hello"}
    assert predict.build_payload("seldon", json_data={"k": [1]}) == {"jsonData": {"k": [1]}}
    assert predict.build_payload("seldon", payload={"raw": 1}, data=[1]) == {"raw": 1}


def test_v2_payloads():
    body = predict.build_payload("v2", data=IRIS)
    assert body == {"inputs": [{"name": "input-0", "data": [v for row in IRIS for v in row], "shape": [3, 4],
                                "datatype": "FP64"}]}
    body = predict.build_payload("v2", inputs=[{"name": "x", "data": [[1, 2]], "datatype": "fp32"},
                                               {"name": "flags", "data": [True, False]},
                                               {"name": "text", "data": ["a"]},
                                               {"name": "given", "data": [1, 2, 3, 4], "shape": [2, 2]}])
    assert body["inputs"] == [
        {"name": "x", "data": [1, 2], "shape": [1, 2], "datatype": "FP32"},
        {"name": "flags", "data": [True, False], "shape": [2], "datatype": "BOOL"},
        {"name": "text", "data": ["a"], "shape": [1], "datatype": "BYTES"},
        {"name": "given", "data": [1, 2, 3, 4], "shape": [2, 2], "datatype": "INT64"},
    ]


@pytest.mark.parametrize("protocol, kwargs, message", [
    ("seldon", {}, "give exactly one of data, str_data and json_data for the Seldon protocol (got none)"),
    ("seldon", {"data": [1], "str_data": "x"}, "(got data, str_data)"),
    ("seldon", {"inputs": [{"data": [1]}]}, "inputs belong to the V2 protocol"),
    ("v2", {"str_data": "x"}, "str_data, json_data and names belong to the Seldon protocol"),
    ("v2", {}, "give the V2 inputs"),
    ("v2", {"inputs": [{"name": "x"}]}, "inputs[0] must be a mapping with data"),
    ("v2", {"inputs": [{"data": [1], "datatype": "FLOAT"}]}, "inputs[0].datatype FLOAT is not one of"),
])
def test_bad_payloads(protocol, kwargs, message):
    with pytest.raises(predict.PredictError) as info:
        predict.build_payload(protocol, **kwargs)
    assert message in info.value.msg


def test_urls():
    assert predict.predict_url("http://gw:8080/", "iris", "models") == \
        "http://gw:8080/seldon/models/iris/api/v1.0/predictions"
    assert predict.predict_url("http://gw", "iris", "models", protocol="v2", model_name="classifier") == \
        "http://gw/seldon/models/iris/v2/models/classifier/infer"
    assert predict.predict_url("http://iris-default.models:8000", target="service") == \
        "http://iris-default.models:8000/api/v1.0/predictions"
    assert predict.predict_url("http://gw", path="custom/path") == "http://gw/custom/path"
    with pytest.raises(predict.PredictError, match="MLOPS_K8S_GATEWAY_URL"):
        predict.predict_url(None, "iris")
    with pytest.raises(predict.PredictError, match="name is required"):
        predict.predict_url("http://gw", None)


# -- answers ------------------------------------------------------------------------------------------------
SELDON_ANSWER = {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": PROBA}, "meta": {"requestPath": {"c": "img"}}}
V2_ANSWER = {"model_name": "classifier", "outputs": [{"name": "predict_proba", "shape": [3, 3], "datatype": "FP64",
                                                      "data": [v for row in PROBA for v in row]}]}


def test_main_output_and_shape():
    assert predict.main_output(SELDON_ANSWER) == (PROBA, [3, 3])
    assert predict.main_output(V2_ANSWER, "v2") == (V2_ANSWER["outputs"][0]["data"], [3, 3])
    assert predict.main_output({"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}) == ([1, 2], [1, 2])
    assert predict.main_output({"strData": "x"}) == ("x", None)
    assert predict.main_output(None) == (None, None)


def test_expected():
    assert predict.check_expected(SELDON_ANSWER, {"shape": [3, 3], "data.names": ["t:0", "t:1", "t:2"],
                                                  "data.ndarray[0][0]": "0.97"}) == []
    assert predict.check_expected(V2_ANSWER, {"shape": [3, 3], "outputs[0].datatype": "FP64",
                                              "model_name": "classifier"}, protocol="v2") == []
    problems = predict.check_expected(SELDON_ANSWER, {"shape": [1, 3], "data.missing": 1})
    assert problems == ["shape is [3, 3], expected [1, 3]", "data.missing is missing from the answer"]
    assert predict.check_expected(SELDON_ANSWER, expected_contains={
        "data.names": "t:1", "meta.requestPath": {"c": "img"}}) == []
    assert predict.check_expected({"strData": "What are we going to do? - yes"},
                                  expected_contains={"strData": "going to"}) == []
    assert predict.check_expected(SELDON_ANSWER, expected_contains={"data.names": ["t:9"]}) == [
        'data.names is ["t:0", "t:1", "t:2"], which does not contain ["t:9"]']
    assert predict.check_expected(SELDON_ANSWER, {"output": PROBA}) == []


# -- retry loop ---------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeResponse:
    def __init__(self, body, status=200):
        self._body = body.encode() if isinstance(body, str) else body
        self.status = status

    def read(self):
        return self._body

    def getcode(self):
        return self.status


def http_error(code, body=""):
    return HTTPError("http://gw/x", code, "Error", {}, io.BytesIO(body.encode()))


class FakeOpener:
    """Answers from a script: exceptions are raised, strings are 200 bodies."""

    def __init__(self, clock, *script):
        self.clock = clock
        self.script = list(script)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append((url, kwargs))
        self.clock.now += 0.1
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return FakeResponse(item)


def send(opener, clock, **kwargs):
    kwargs.setdefault("timeout", 30)
    return predict.send("http://gw/seldon/models/iris/api/v1.0/predictions", {"data": {"ndarray": [[1]]}},
                        opener=opener, clock=clock, sleep=clock.sleep, **kwargs)


def test_retries_while_the_route_warms_up():
    clock = FakeClock()
    opener = FakeOpener(clock, URLError(ConnectionRefusedError(111, "Connection refused")), http_error(404, "no route"),
                        http_error(503, "upstream connect error"), json.dumps(SELDON_ANSWER))
    result = send(opener, clock, headers={"X-Team": "ds"})
    assert result["status"] == 200
    assert result["json"] == SELDON_ANSWER
    assert result["attempts"] == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    url, kwargs = opener.calls[0]
    assert url.endswith("/api/v1.0/predictions")
    assert kwargs["method"] == "POST"
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert kwargs["headers"]["X-Team"] == "ds"
    assert json.loads(kwargs["data"]) == {"data": {"ndarray": [[1]]}}


def test_backoff_is_bounded_and_gives_up_at_the_timeout():
    clock = FakeClock()
    opener = FakeOpener(clock, *[http_error(503, "warming") for _attempt in range(50)])
    with pytest.raises(predict.PredictError) as info:
        send(opener, clock, timeout=20)
    assert max(clock.sleeps) <= retries.PREDICTION_BACKOFF_MAX
    assert 20 <= clock.now <= 20.1 + 1e-9  # the whole window is used; the last attempt starts at the deadline
    assert info.value.msg.startswith("no answer from http://gw/seldon/models/iris/api/v1.0/predictions after")
    assert "last: HTTP 503 Error: warming" in info.value.msg
    assert info.value.result["status"] == 503


def test_model_errors_are_not_retried():
    clock = FakeClock()
    opener = FakeOpener(clock, http_error(500, '{"status": {"info": "shapes (1,1) and (4,3) not aligned"}}'))
    with pytest.raises(predict.PredictError) as info:
        send(opener, clock)
    assert info.value.result["attempts"] == 1
    assert "answered HTTP 500" in info.value.msg and "not aligned" in info.value.msg
    assert info.value.result["json"]["status"]["info"].startswith("shapes")


def test_timeout_zero_sends_once():
    clock = FakeClock()
    opener = FakeOpener(clock, URLError("refused"))
    with pytest.raises(predict.PredictError, match="after 1 attempt"):
        send(opener, clock, timeout=0)


def test_non_json_answer():
    clock = FakeClock()
    result = send(FakeOpener(clock, "plain text"), clock)
    assert result["json"] is None and result["body"] == "plain text"
