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


# -- batch mode --------------------------------------------------------------------------------------------------
def seldon_answer(node):
    return {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": PROBA}, "meta": {"requestPath": {node: "img:1"}}}


def test_batch_after_the_first_answer_counts_predictors_and_latencies():
    sent = []

    def factory(url, headers):
        assert url == "http://gw/seldon/models/iris/api/v1.0/predictions"

        def send(data):
            sent.append(json.loads(data))
            node = "classifier-canary" if len(sent) % 4 == 0 else "classifier"
            return 200, json.dumps(seldon_answer(node)).encode()

        return send

    failed, result = model_predict.run(
        params(data=[[1, 2, 3, 4]], count=40, concurrency=1, predictors={"main": "classifier",
                                                                         "canary": "classifier-canary"},
               expect={"split": {"main": 75, "canary": 25}, "tolerance": 1, "max_error_rate": 0}),
        opener=Opener(seldon_answer("classifier")), sender_factory=factory)
    assert not failed, result.get("msg")
    assert len(sent) == 40 and sent[0] == {"data": {"ndarray": [[1, 2, 3, 4]]}}
    assert result["predictors"] == {"main": 30, "canary": 10} and result["split"] == {"main": 75.0, "canary": 25.0}
    assert result["count"] == 40 and result["succeeded"] == 40 and result["errors_by_status"] == {}
    assert set(result["latency_ms"]) == {"min", "mean", "p50", "p95", "p99", "max"}
    assert result["warmup_attempts"] == 1 and "attempts" not in result
    assert result["shape"] == [3, 3]  # the first answer's


def test_batch_expectation_failure_is_a_failed_task_with_the_numbers():
    def factory(url, headers):
        return lambda data: (503, b"no healthy upstream")

    failed, result = model_predict.run(params(data=[[1]], count=10, expect={"max_error_rate": 0.5}),
                                       opener=Opener(seldon_answer("classifier")), sender_factory=factory)
    assert failed
    assert result["msg"] == ('10 predictions to http://gw/seldon/models/iris/api/v1.0/predictions: error rate 1.0000 '
                             '(10 of 10 failed: {"503": 10}) is over 0.5')
    assert result["first_error"] == "HTTP 503: no healthy upstream"


@pytest.mark.parametrize(("overrides", "text"), [
    ({"rate": 5.0}, "rate only apply to a batch: set count"),
    ({"expect": {"max_error_rate": 0}}, "expect only apply to a batch"),
    ({"count": 0}, "count must be a whole number from 1"),
    ({"count": 5, "concurrency": 0}, "concurrency must be"),
    ({"count": 5, "predictors": {"main": ""}}, "predictors must map"),
    ({"count": 5, "expect": {"split": {"main": 120}}}, "expect.split.main must be a number from 0 to 100"),
    ({"target": "service_proxy", "bearer_token": "t0ken"}, "bearer_token cannot be used with target service_proxy"),
    ({"target": "service_proxy", "name": None}, "target service_proxy needs service"),
    ({"target": "service_proxy", "service": "Bad_Name"}, "service"),
    ({"target": "service_proxy", "service": "ok", "service_port": "no/slash"}, "service_port"),
])
def test_bad_batch_and_proxy_options_fail_before_any_request(overrides, text):
    opener = Opener(seldon_answer("classifier"))
    with pytest.raises(predict.PredictError) as err:
        model_predict.run(params(data=[[1]], **overrides), opener=opener,
                          sender_factory=lambda url, headers: pytest.fail("no batch expected"))
    assert text in err.value.msg
    assert opener.calls == []


def test_service_proxy_path():
    from ansible_collections.mlops.k8s.plugins.module_utils import predict_http

    assert predict_http.service_proxy_path("models", "iris-main", "http", "/api/v1.0/predictions") == \
        "/api/v1/namespaces/models/services/iris-main:http/proxy/api/v1.0/predictions"
    assert predict_http.service_proxy_path("models", "iris-main", "8000", "v2/models/m/infer") == \
        "/api/v1/namespaces/models/services/iris-main:8000/proxy/v2/models/m/infer"
    with pytest.raises(predict.PredictError):
        predict_http.service_proxy_path("models", "iris-main", "99999", "/")


def test_predictor_service_follows_the_operator_names():
    from ansible_collections.mlops.k8s.plugins.module_utils import seldon

    sdep = {"metadata": {"name": "iris"}, "spec": {"predictors": [
        {"name": "shadow", "shadow": True}, {"name": "main"},
        {"name": "canary", "annotations": {"seldon.io/svc-name": "my-canary"}}]}}
    assert model_predict._predictor_service(sdep, None, seldon) == "iris-main"
    assert model_predict._predictor_service(sdep, "canary", seldon) == "my-canary"
    with pytest.raises(predict.PredictError, match="has no predictor nope"):
        model_predict._predictor_service(sdep, "nope", seldon)


# -- the service proxy transport, against a local HTTP server standing in for the API server ---------------------
@pytest.fixture
def api_server():
    import http.server
    import threading

    seen = []
    plan = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization"), "body": body,
                         "content_type": self.headers.get("Content-Type")})
            status, data = plan.pop(0) if plan else (200, b'{"meta": {"requestPath": {"classifier": "img"}}}')
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_port, seen, plan
    server.shutdown()
    server.server_close()


def test_service_proxy_sends_with_the_kubernetes_credentials_and_never_retries_a_post(api_server):
    from ansible_collections.mlops.k8s.plugins.module_utils import predict_http
    from ansible_collections.mlops.k8s.plugins.module_utils.client import build_client

    host, seen, plan = api_server
    client = build_client({"host": host, "api_key": "s3cret"}, discovery_cache=False, pool_maxsize=64)
    assert client.transport.pool.maxsize >= 64
    proxy = predict_http.ServiceProxy(client)
    path = predict_http.service_proxy_path("models", "iris-main", "http", "/api/v1.0/predictions")
    plan.append((503, b'{"kind": "Status", "code": 503, "message": "no endpoints available for service"}'))
    send = proxy.sender(path, {"Authorization": "Bearer model-token", "X-Extra": "1"}, request_timeout=5)
    status, data = send(b'{"data": {"ndarray": [[1]]}}')
    assert status == 503 and b"no endpoints" in data
    assert len(seen) == 1  # the client's retry policy does not resend a POST
    assert seen[0]["path"] == "/api/v1/namespaces/models/services/iris-main:http/proxy/api/v1.0/predictions"
    assert seen[0]["authorization"] == "Bearer s3cret"  # the API server's, never a model token
    assert seen[0]["content_type"] == "application/json"
    # the single-request opener turns a status >= 300 into HTTPError, as open_url does, for predict.send's retries
    plan.append((503, b"busy"))
    answer = predict.send(proxy.url(path), {"data": 1}, opener=proxy.opener_for(path), timeout=5,
                          retry_statuses=(503,), sleep=lambda seconds: None)
    assert answer["status"] == 200 and answer["attempts"] == 2
    assert answer["json"] == {"meta": {"requestPath": {"classifier": "img"}}}
