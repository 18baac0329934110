"""http_pool.py against real sockets on loopback: keep-alive and threads, the K8S_API retry budget (which failures,
which methods, which pauses), timeouts, streaming, TLS (CA file and data, server name, client certificates, no
verification) and an HTTP proxy's CONNECT tunnel."""

from __future__ import annotations

import base64
import contextlib
import http.server
import socket
import socketserver
import ssl
import threading
import time

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import http_pool, retries
from ansible_collections.mlops.k8s.plugins.module_utils.errors import TransportError, to_k8s_error

from sandbox.certs import ensure_certs

T = http_pool.Timeout(5, 5)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def _answer(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        srv.seen.append((self.command, self.path, self.headers, body, self.connection.getpeername()))
        step = srv.plan.pop(0) if srv.plan else (200, {}, b'{"ok": true}')
        if step == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if step[0] == "sleep":
            time.sleep(step[1])
            step = (200, {}, b"{}")
        if step[0] == "lines":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in step[1]:
                data = line + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                srv.sent.set()
                time.sleep(0.3)
            self.wfile.write(b"0\r\n\r\n")
            return
        status, headers, data = step
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


def _serve(context=None):
    server = Server(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.seen, server.plan, server.sent = [], [], threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def server():
    srv = _serve()
    yield srv
    srv.shutdown()
    srv.server_close()


def _pool(srv, scheme="http", **kw):
    return http_pool.Pool("%s://127.0.0.1:%d" % (scheme, srv.server_port), **kw)


def _retry(sleeps):
    return retries.k8s_api_retry(sleep=sleeps.append)


def _url(srv, path="/x", scheme="http"):
    return "%s://127.0.0.1:%d%s" % (scheme, srv.server_port, path)


# -- keep-alive ---------------------------------------------------------------------------------------------------
def test_one_connection_carries_sequential_requests_and_repeated_headers(server):
    pool = _pool(server)
    for _attempt in range(3):
        response = pool.request("GET", _url(server, "/a?b=1"), headers=[("X-G", "1"), ("X-G", "2")], timeout=T)
        assert (response.status, response.data) == (200, b'{"ok": true}')
    assert len({peer for *_r, peer in server.seen}) == 1
    assert server.seen[0][1] == "/a?b=1" and server.seen[0][2].get_all("X-G") == ["1", "2"]


def test_a_connection_the_server_closed_while_idle_is_not_used_again(server):
    pool = _pool(server)
    server.plan = [(200, {"Connection": "close"}, b"{}")]
    assert pool.request("GET", _url(server), timeout=T).status == 200
    assert pool.request("POST", _url(server), body=b"{}", timeout=T, retries=_retry([])).status == 200
    assert [m for m, *_r in server.seen] == ["GET", "POST"]


def test_threads_share_the_pool_and_it_keeps_at_most_maxsize_idle(server):
    pool = _pool(server, maxsize=2)
    results = []
    threads = [threading.Thread(target=lambda: results.append(pool.request("GET", _url(server), timeout=T).status))
               for _thread in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8 and len(pool._idle) <= 2


def test_a_body_less_patch_says_content_length_zero(server):
    _pool(server).request("PATCH", _url(server), timeout=T)
    assert server.seen[0][2]["Content-Length"] == "0"


# -- retries ------------------------------------------------------------------------------------------------------
def test_statuses_are_retried_for_idempotent_methods_with_backoff(server):
    sleeps = []
    server.plan = [(503, {}, b""), (500, {}, b""), (502, {}, b"")]
    assert _pool(server).request("GET", _url(server), timeout=T, retries=_retry(sleeps)).status == 200
    assert len(server.seen) == 4 and sleeps == [0.0, 1.0, 2.0]


def test_retry_after_is_honoured_up_to_its_bound(server):
    sleeps = []
    server.plan = [(429, {"Retry-After": "3"}, b""), (503, {"Retry-After": "600"}, b"")]
    assert _pool(server).request("PUT", _url(server), body=b"{}", timeout=T, retries=_retry(sleeps)).status == 200
    assert sleeps == [3.0, float(retries.K8S_API_RETRY_AFTER_MAX)]


def test_a_post_is_never_retried_on_a_status_or_a_lost_answer(server):
    sleeps = []
    server.plan = [(503, {}, b"busy"), "drop"]
    response = _pool(server).request("POST", _url(server), body=b"{}", timeout=T, retries=_retry(sleeps))
    assert (response.status, response.data) == (503, b"busy")
    with pytest.raises(TransportError):
        _pool(server).request("POST", _url(server), body=b"{}", timeout=T, retries=_retry(sleeps))
    assert len(server.seen) == 2 and sleeps == []


def test_when_the_budget_is_spent_the_last_answer_is_returned(server):
    server.plan = [(503, {}, b"")] * 10
    response = _pool(server).request("GET", _url(server), timeout=T, retries=_retry([]))
    assert response.status == 503 and len(server.seen) == 1 + retries.K8S_API_RETRIES


def test_lost_answers_are_retried_twice_for_a_get(server):
    server.plan = ["drop"] * 5
    with pytest.raises(TransportError) as info:
        _pool(server).request("GET", _url(server), timeout=T, retries=_retry([]))
    assert len(server.seen) == 1 + retries.K8S_API_READ_RETRIES
    assert to_k8s_error(info.value).msg.startswith("cannot reach the Kubernetes API (%s): " % _url(server))


def test_a_refused_connection_is_retried_for_any_method_then_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        sleeps = []
        pool = http_pool.Pool("http://127.0.0.1:%d" % port)
        with pytest.raises(TransportError) as info:
            pool.request("POST", "http://127.0.0.1:%d/x" % port, body=b"{}", timeout=T, retries=_retry(sleeps))
    assert sleeps == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert isinstance(info.value.reason, ConnectionRefusedError)
    msg = to_k8s_error(info.value, "ConfigMap a/b").msg
    assert msg.startswith("ConfigMap a/b: cannot reach the Kubernetes API (http://127.0.0.1:%d/x): " % port)
    assert "Connection refused" in msg and "request_timeout" not in msg


def test_a_read_timeout_names_the_request_timeout(server):
    server.plan = [("sleep", 1.5)]
    with pytest.raises(TransportError) as info:
        _pool(server).request("POST", _url(server), timeout=http_pool.Timeout(5, 0.3), retries=_retry([]))
    assert isinstance(info.value.reason, TimeoutError)
    assert "request_timeout" in to_k8s_error(info.value).msg


# -- streaming ----------------------------------------------------------------------------------------------------
def test_a_stream_yields_each_piece_as_it_arrives_and_a_half_read_one_is_not_reused(server):
    server.plan = [("lines", [b"one", b"two", b"three"])]
    pool = _pool(server)
    response = pool.request("GET", _url(server), timeout=T, preload_content=False)
    started = time.monotonic()
    first = next(response.stream(65536))
    assert first == b"one\n" and time.monotonic() - started < 0.25  # not after the whole body
    response.release_conn()
    assert pool._idle == []
    server.plan = [("lines", [b"a"])]
    response = pool.request("GET", _url(server), timeout=T, preload_content=False)
    assert b"".join(response.stream()) == b"a\n"
    response.release_conn()
    assert len(pool._idle) == 1


# -- TLS ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_certs(str(tmp_path_factory.mktemp("pki"))), ensure_certs(str(tmp_path_factory.mktemp("other")))


def _tls_server(paths, client_ca=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(paths["server.crt"], paths["server.key"])
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return _serve(context)


def _get(srv, **tls):
    name = tls.pop("server_name", None)
    pool = _pool(srv, "https", context=http_pool.tls_context(**tls), server_name=name)
    return pool.request("GET", _url(srv, scheme="https"), timeout=T, retries=_retry([]))


def test_tls_trusts_only_the_given_ca_and_checks_the_name(pki):
    paths, other = pki
    srv = _tls_server(paths)
    try:
        assert _get(srv, ca_file=paths["ca.crt"]).status == 200
        with open(paths["ca.crt"], encoding="ascii") as f:
            assert _get(srv, ca_data=f.read()).status == 200
        assert _get(srv, ca_file=paths["ca.crt"], server_name="kubernetes.default").status == 200
        assert _get(srv, verify=False).status == 200
        count = len(srv.seen)
        for tls in ({"ca_file": other["ca.crt"]}, {"ca_file": paths["ca.crt"], "server_name": "elsewhere.example"}):
            with pytest.raises(TransportError) as info:
                _get(srv, **tls)
            assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
        assert len(srv.seen) == count  # and never retried
    finally:
        srv.shutdown()
        srv.server_close()


def test_tls_client_certificate(pki):
    paths, _other = pki
    srv = _tls_server(paths, client_ca=paths["ca.crt"])
    try:
        assert _get(srv, ca_file=paths["ca.crt"], cert_file=paths["admin.crt"], key_file=paths["admin.key"]).status \
            == 200
        with pytest.raises(TransportError):
            _get(srv, ca_file=paths["ca.crt"])
    finally:
        srv.shutdown()
        srv.server_close()


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """A CONNECT proxy: records each request head and relays bytes both ways."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.heads = []


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        self.server.heads.append(head.decode())
        target = head.split()[1].decode()
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(upstream, self.request), daemon=True).start()
        pump(self.request, upstream)


def test_https_through_an_http_proxy_tunnel(pki):
    paths, _other = pki
    srv = _tls_server(paths)
    proxy = _ConnectProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        auth = "Basic " + base64.b64encode(b"u:p").decode()
        pool = _pool(srv, "https", context=http_pool.tls_context(ca_file=paths["ca.crt"]),
                     proxy="http://127.0.0.1:%d" % proxy.server_address[1], proxy_headers={"Proxy-Authorization": auth})
        for _attempt in range(2):
            assert pool.request("GET", _url(srv, "/v", "https"), timeout=T, headers={"Authorization": "Bearer t"}
                                ).status == 200
        assert len(proxy.heads) == 1  # one tunnel, kept alive
        assert proxy.heads[0].startswith("CONNECT 127.0.0.1:%d HTTP/1." % srv.server_port)
        assert "Proxy-Authorization: %s" % auth in proxy.heads[0] and "Bearer" not in proxy.heads[0]
        assert srv.seen[0][2]["Authorization"] == "Bearer t" and "Proxy-Authorization" not in srv.seen[0][2]
    finally:
        for s in (srv, proxy):
            s.shutdown()
            s.server_close()
