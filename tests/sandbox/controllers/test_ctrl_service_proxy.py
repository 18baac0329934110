"""The API server's proxy subresources as kube-apiserver 1.37 serves them (pkg/registry/core/service/storage
ResourceLocation): services/<[scheme:]name[:port]>/proxy/<path> to a ready pod endpoint, 503 without one, RBAC on
services/proxy; pods/<name[:port]>/proxy refuses the sandbox's loopback pod IPs ("address not allowed")."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from sbx import wait_for

pytestmark = [pytest.mark.sandbox, pytest.mark.emulator_only("pods answer through the sandbox's endpoint registry")]


class Echo:
    """A backend that answers what it was sent (method, path with query, body, whether it saw credentials), with
    the status a path /status/<code> names (200 otherwise)."""

    def __init__(self):
        self.hits = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.hits.append(self.path)
                data = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                                   "authorization": self.headers.get("Authorization")}).encode()
                code = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Backend", "echo")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def echo(sandbox, kube):
    """Service `echo` (ports http 8000 -> container 9000, metrics 6000) in front of a Ready pod that answers."""
    backend = Echo()
    kube.apply(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
         "spec": {"selector": {"app": "echo"}, "ports": [{"name": "http", "port": 8000, "targetPort": 9000},
                                                          {"name": "metrics", "port": 6000}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "echo-0", "labels": {"app": "echo"}},
         "spec": {"containers": [{"name": "server", "image": "seldonio/mock:1",
                                  "ports": [{"name": "http", "containerPort": 9000}]}]}},
    ]))
    sandbox.register_endpoint(kube.ns, "echo-0", 9000, backend.port)
    kube.kubectl("wait", "--for=condition=Ready", "pod/echo-0", "--timeout=15s")
    wait_for(lambda: ((kube.get(f"/api/v1/namespaces/{kube.ns}/endpoints/echo") or {}).get("subsets")
                      or [{}])[0].get("addresses"), what="endpoints")
    yield backend
    backend.close()


def call(sandbox, method, path, body=None, token=None):
    code, headers, data = sandbox.request(method, path, body, token=token)
    try:
        return code, headers, json.loads(data)
    except ValueError:
        return code, headers, data


@pytest.mark.parametrize("ident", ["echo:http", "echo:8000", "http:echo:http"])
def test_service_proxy_reaches_a_ready_endpoint(sandbox, kube, echo, ident):
    base = f"/api/v1/namespaces/{kube.ns}/services/{ident}/proxy"
    code, headers, answer = call(sandbox, "POST", base + "/api/v1.0/predictions?x=1&y=2", b'{"data": 1}')
    assert code == 200, answer
    assert answer == {"method": "POST", "path": "/api/v1.0/predictions?x=1&y=2", "body": '{"data": 1}',
                      "authorization": None}  # the API server's credentials stay with the API server
    assert headers.get("X-Backend") == "echo"
    code, _headers, answer = call(sandbox, "GET", base + "/")
    assert code == 200 and answer["path"] == "/"


def test_service_proxy_relays_the_backend_status(sandbox, kube, echo):
    path = f"/api/v1/namespaces/{kube.ns}/services/echo:http/proxy/status/418"
    code, _headers, answer = call(sandbox, "DELETE", path)
    assert code == 418 and answer["method"] == "DELETE"


@pytest.mark.parametrize(("ident", "code", "reason", "message"), [
    # a port number is looked up in the Service, which must exist
    ("missing:8000", 404, "NotFound", 'services "missing" not found'),
    ("echo:8001", 503, "ServiceUnavailable", 'no service port 8001 found for service "echo"'),
    # a port name only in the endpoints: an unknown name, a missing Service, or no port (the unnamed port)
    ("echo:nope", 503, "ServiceUnavailable", 'no endpoints available for service "echo"'),
    ("missing:http", 503, "ServiceUnavailable", 'no endpoints available for service "missing"'),
    ("echo", 503, "ServiceUnavailable", 'no endpoints available for service "echo"'),
    ("ftp:echo:http", 400, "BadRequest", 'invalid service request "ftp:echo:http"'),
    ("a:b:c:d", 400, "BadRequest", 'invalid service request "a:b:c:d"'),
])
def test_service_proxy_errors(sandbox, kube, echo, ident, code, reason, message):
    got, _h, status = call(sandbox, "GET", f"/api/v1/namespaces/{kube.ns}/services/{ident}/proxy/")
    assert (got, status["reason"], status["message"]) == (code, reason, message), status


def test_service_proxy_https_form_dials_tls(sandbox, kube, echo):
    # the https: form dials TLS: the HTTP backend cannot answer it
    code, _h, status = call(sandbox, "GET", f"/api/v1/namespaces/{kube.ns}/services/https:echo:http/proxy/")
    assert code == 503 and status["message"].startswith("error trying to reach service: "), status
    assert echo.hits == []


def test_service_without_endpoints_is_503(sandbox, kube):
    kube.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "empty"},
                               "spec": {"selector": {"app": "nothing"}, "ports": [{"name": "http", "port": 80}]}}))
    code, _h, status = call(sandbox, "GET", f"/api/v1/namespaces/{kube.ns}/services/empty:http/proxy/")
    assert code == 503
    assert status["kind"] == "Status" and status["reason"] == "ServiceUnavailable"
    assert status["message"] == 'no endpoints available for service "empty"'


def test_pod_proxy_refuses_loopback_pod_ips(sandbox, kube, echo):
    """kube-apiserver proxies to a pod IP only when it is a global unicast address; the sandbox's are loopback."""
    for ident in ("echo-0:9000", "echo-0"):
        code, _h, status = call(sandbox, "GET", f"/api/v1/namespaces/{kube.ns}/pods/{ident}/proxy/p")
        assert (code, status["reason"], status["message"]) == (400, "BadRequest", "address not allowed"), status
    code, _h, status = call(sandbox, "GET", f"/api/v1/namespaces/{kube.ns}/pods/nope/proxy/")
    assert code == 404 and status["message"] == 'pods "nope" not found'
    assert echo.hits == []


def test_services_proxy_is_authorized_per_verb(sandbox, kube, echo):
    ns = kube.ns
    kube.apply(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "prober"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "proxy-get"},
         "rules": [{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "prober"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "proxy-get"},
         "subjects": [{"kind": "ServiceAccount", "name": "prober", "namespace": ns}]},
    ]))
    code, _h, tr = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/prober/token",
                        json.dumps({"spec": {"expirationSeconds": 600}}).encode())
    assert code == 201, tr
    token = tr["status"]["token"]
    base = f"/api/v1/namespaces/{ns}/services/echo:http/proxy/"
    code, _h, answer = wait_for(lambda: (r := call(sandbox, "GET", base, token=token))[0] == 200 and r,
                                what="the RoleBinding to take effect")
    assert answer["method"] == "GET"
    code, _h, status = call(sandbox, "POST", base, b"{}", token=token)
    assert code == 403 and status["reason"] == "Forbidden"
    assert status["message"] == (f'services "echo:http" is forbidden: User "system:serviceaccount:{ns}:prober" '
                                 f'cannot create resource "services/proxy" in API group "" in the namespace "{ns}"')
    # services/proxy does not give the Service itself, nor pods/proxy (authorized before the address is looked at)
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/services/echo", token=token)[0] == 403
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods/echo-0/proxy/", token=token)[0] == 403


def test_discovery_lists_the_proxy_subresources(sandbox):
    code, _h, doc = call(sandbox, "GET", "/api/v1")
    assert code == 200
    entries = {r["name"]: r for r in doc["resources"]}
    for name, kind in (("services/proxy", "ServiceProxyOptions"), ("pods/proxy", "PodProxyOptions")):
        assert entries[name]["kind"] == kind
        assert entries[name]["verbs"] == ["create", "delete", "get", "patch", "update"]
