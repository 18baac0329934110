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


# -- redirects, URL schemes (issue 15) ---------------------------------------------------------------------------
class _Recorder:
    """Local HTTP servers: ``redirector`` answers every request with ``status`` to ``target``; ``target`` records."""

    def __init__(self, status):
        import http.server
        import threading

        self.seen = []
        recorder = self

        class Target(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                recorder.seen.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
                body = json.dumps({"data": {"ndarray": [[1]]}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
        location = "http://127.0.0.1:%d/elsewhere" % self.target.server_address[1]

        class Redirector(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
        self.location = location
        self.url = "http://127.0.0.1:%d" % self.redirector.server_address[1]
        for server in (self.target, self.redirector):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self):
        for server in (self.target, self.redirector):
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_the_token_stays_home(run_module, status):
    servers = _Recorder(status)
    try:
        failed, result = run_module(model_predict, {"url": servers.url, "name": "iris", "data": [[1]],
                                                    "bearer_token": "s3cr3t-token", "timeout": 0})
    finally:
        servers.close()
    assert failed, result
    assert servers.seen == []  # neither the token nor the payload went to the other server
    assert "redirect" in result["msg"] and servers.location in result["msg"], result["msg"]
    assert result["status"] == status and "exception" not in result


@pytest.mark.parametrize(("url", "message"), [
    ("notaurl", "url must be an http:// or https:// URL"),
    ("ftp://127.0.0.1:9", "url must be an http:// or https:// URL"),
    ("http://", "url must be an http:// or https:// URL"),
])
def test_a_url_that_is_not_http_fails_cleanly(run_module, url, message):
    failed, result = run_module(model_predict, {"url": url, "name": "iris", "data": [[1]], "timeout": 0})
    assert failed and message in result["msg"] and "exception" not in result, result


def test_a_file_url_is_refused_and_nothing_is_read(run_module, tmp_path):
    path = tmp_path / "seldon" / "default" / "iris" / "api" / "v1.0" / "predictions"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"data": {"ndarray": [["local file content"]]}}))
    failed, result = run_module(model_predict, {"url": "file://%s" % tmp_path, "name": "iris", "data": [[1]],
                                                "timeout": 0})
    assert failed and "url must be an http:// or https:// URL" in result["msg"], result
    assert "local file content" not in json.dumps(result)
