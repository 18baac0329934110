"""mlops.k8s.model_predict: argument handling, the answer, expectations (HTTP through a fake opener)."""

from __future__ import annotations

import json
from urllib.error import URLError

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import predict
from ansible_collections.mlops.k8s.plugins.modules import model_predict

PROBA = [[0.97, 0.03, 0.0], [0.0, 0.02, 0.98], [0.01, 0.9, 0.09]]


def params(**overrides):
    base = {k: v.get("default") for k, v in model_predict.argument_spec().items()}
    base.update(url="http://gw", name="iris", namespace="models", timeout=0)
    base.update(overrides)
    return base


class Opener:
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append((url, kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        answer = self.answer

        class Response:
            status = 200

            def read(self):
                return json.dumps(answer).encode()

        return Response()


def test_seldon_prediction_with_expected_shape():
    opener = Opener({"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": PROBA}})
    failed, result = model_predict.run(params(data=[[5.1, 3.5, 1.4, 0.2]] * 3, expected={"shape": [3, 3]},
                                              bearer_token="s3cr3t"), opener=opener)
    assert not failed, result
    assert result["shape"] == [3, 3] and result["output"] == PROBA
    assert result["url"] == "http://gw/seldon/models/iris/api/v1.0/predictions"
    assert result["request"] == {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]] * 3}}
    assert result["changed"] is False and result["attempts"] == 1
    assert opener.calls[0][1]["headers"]["Authorization"] == "Bearer s3cr3t"
    assert "body" not in result


def test_v2_prediction_and_mismatch():
    answer = {"model_name": "classifier", "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64",
                                                       "data": [0]}]}
    failed, result = model_predict.run(params(protocol="v2", model_name="classifier",
                                              inputs=[{"name": "predict", "data": [[1.0, 2.0, 3.0, 4.0]]}],
                                              expected={"shape": [1, 3]}), opener=Opener(answer))
    assert failed
    assert result["url"] == "http://gw/seldon/models/iris/v2/models/classifier/infer"
    assert result["mismatches"] == ["shape is [1], expected [1, 3]"]
    assert result["msg"] == ("the answer from http://gw/seldon/models/iris/v2/models/classifier/infer does not match: "
                             "shape is [1], expected [1, 3]")
    assert result["request"]["inputs"][0]["shape"] == [1, 4]


def test_v2_needs_a_model_name():
    with pytest.raises(predict.PredictError, match="model_name is required with protocol v2"):
        model_predict.run(params(protocol="v2", data=[[1]]), opener=Opener({}))


def test_unreachable_gateway_message():
    with pytest.raises(predict.PredictError) as info:
        model_predict.run(params(data=[[1]]), opener=Opener(URLError("[Errno 111] Connection refused")))
    assert "connection failed: [Errno 111] Connection refused" in info.value.msg


def test_module_entry_point_fails_cleanly(run_module, monkeypatch):
    monkeypatch.delenv(predict.GATEWAY_ENV, raising=False)
    failed, result = run_module(model_predict, {"name": "iris", "data": [[1]]})
    assert failed and "url is required" in result["msg"] and "exception" not in result
    failed, result = run_module(model_predict, {"name": "iris", "data": [[1]], "payload": {"x": 1},
                                                "url": "http://gw"})
    assert failed and "mutually exclusive" in result["msg"]


def test_url_from_environment(run_module, monkeypatch):
    monkeypatch.setenv(predict.GATEWAY_ENV, "http://127.0.0.1:9")  # discard port: refused at once
    failed, result = run_module(model_predict, {"name": "iris", "data": [[1]], "timeout": 0})
    assert failed
    assert result["url"] == "http://127.0.0.1:9/seldon/default/iris/api/v1.0/predictions"
    assert result["attempts"] == 1
