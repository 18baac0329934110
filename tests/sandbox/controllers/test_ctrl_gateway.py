"""The Ambassador-like gateway: Mappings (CRD objects) and Service annotations -> fake backends."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from sbx import wait_for

pytestmark = pytest.mark.sandbox

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "mappings.getambassador.io"},
    "spec": {"group": "getambassador.io", "scope": "Namespaced",
             "names": {"plural": "mappings", "singular": "mapping", "kind": "Mapping", "listKind": "MappingList"},
             "versions": [{"name": v, "served": True, "storage": v == "v2",
                           "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields":
                                                          True}}} for v in ("v2", "v3alpha1")]}}


class Backend:
    def __init__(self, name: str):
        self.name = name
        self.hits: list[dict] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.hits.append({"method": self.command, "path": self.path, "body": body,
                                   "host": self.headers.get("Host")})
                data = json.dumps({"backend": outer.name, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            do_GET = do_POST = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def mapping_crd(sandbox):
    if sandbox.kubectl("get", "crd", "mappings.getambassador.io", check=False).returncode != 0:
        sandbox.kubectl("apply", "-f", "-", input=json.dumps(CRD))
    sandbox.kubectl("wait", "--for=condition=Established", "crd/mappings.getambassador.io", "--timeout=15s")


@pytest.fixture
def backends(sandbox, kube):
    made: list[Backend] = []

    def make(name: str, replicas: int = 1) -> Backend:
        be = Backend(name)
        made.append(be)
        docs = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                 "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8000,
                                                                  "targetPort": "http"}]}}]
        for i in range(replicas):
            docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-{i}",
                                                                          "labels": {"app": name}},
                         "spec": {"containers": [{"name": "server", "image": "seldonio/mock:1",
                                                  "ports": [{"name": "http", "containerPort": 9000}]}]}})
        kube.apply(yaml.safe_dump_all(docs))
        for i in range(replicas):
            sandbox.register_endpoint(kube.ns, f"{name}-{i}", 9000, be.port)
            kube.kubectl("wait", "--for=condition=Ready", f"pod/{name}-{i}", "--timeout=15s")
        wait_for(lambda: ((kube.get(f"/api/v1/namespaces/{kube.ns}/endpoints/{name}") or {}).get("subsets")
                          or [{}])[0].get("addresses"), what="endpoints")
        return be
    yield make
    for be in made:
        be.close()


def _mapping(name, prefix, service, version="v2", **spec):
    return yaml.safe_dump({"apiVersion": f"getambassador.io/{version}", "kind": "Mapping",
                           "metadata": {"name": name}, "spec": {"prefix": prefix, "service": service, **spec}})


def get(sandbox, path, data=None, timeout=10):
    url = sandbox.env["AMBASSADOR_URL"] + path
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - local gateway
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_env_and_unknown_route(sandbox):
    assert sandbox.env["AMBASSADOR_URL"] == sandbox.env["SANDBOX_GATEWAY_URL"]
    assert sandbox.env["AMBASSADOR_URL"].startswith("http://127.0.0.1:")
    assert get(sandbox, "/nowhere/at/all")[0] == 404


def test_mapping_routes_with_prefix_rewrite_and_longest_match(sandbox, kube, mapping_crd, backends):
    a = backends("alpha")
    b = backends("beta")
    kube.apply(_mapping("alpha", f"/{kube.ns}/svc/", "alpha:8000") + "---\n" +
               _mapping("beta", f"/{kube.ns}/svc/special/", f"beta.{kube.ns}:8000", rewrite="/v2/") + "---\n" +
               _mapping("keep", f"/{kube.ns}/keep/", "alpha", version="v3alpha1", hostname="*", rewrite=""))
    _, body = wait_for(lambda: (r := get(sandbox, f"/{kube.ns}/svc/hello?x=1"))[0] == 200 and r,
                          what="route")
    assert json.loads(body) == {"backend": "alpha", "path": "/hello?x=1"}
    _, body = wait_for(lambda: (r := get(sandbox, f"/{kube.ns}/svc/special/predict", b"{}"))[0] == 200 and r,
                          what="route")
    assert json.loads(body)["backend"] == "beta" and b.hits[-1]["path"] == "/v2/predict"
    assert b.hits[-1]["method"] == "POST" and b.hits[-1]["body"] == b"{}"
    _, body = wait_for(lambda: (r := get(sandbox, f"/{kube.ns}/keep/x"))[0] == 200 and r, what="v3 route")
    assert json.loads(body)["path"] == f"/{kube.ns}/keep/x"
    assert len(a.hits) >= 2
    # deleting the Mapping removes the route
    kube.kubectl("delete", "mapping.getambassador.io", "alpha")
    wait_for(lambda: get(sandbox, f"/{kube.ns}/svc/hello")[0] == 404, what="route gone")


def test_no_ready_backend_is_503(sandbox, kube, mapping_crd):
    kube.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "empty"},
                               "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 8000}]}}) + "---\n" +
               _mapping("empty", f"/{kube.ns}/empty/", "empty:8000"))
    code, body = wait_for(lambda: (r := get(sandbox, f"/{kube.ns}/empty/"))[0] != 404 and r, what="route")
    assert code == 503 and body == b"no healthy upstream"


def test_canary_weights_split(sandbox, kube, mapping_crd, backends):
    main = backends("main")
    canary = backends("canary")
    prefix = f"/{kube.ns}/model/"
    kube.apply(_mapping("main", prefix, "main:8000") + "---\n" + _mapping("canary", prefix, "canary:8000",
                                                                          weight=25))
    wait_for(lambda: get(sandbox, prefix)[0] == 200 and canary.hits, timeout=15, interval=0.01, what="both routes")
    main.hits.clear()
    canary.hits.clear()
    for _ in range(400):
        assert get(sandbox, prefix + "predict")[0] == 200
    share = len(canary.hits) / 400
    assert len(main.hits) + len(canary.hits) == 400
    assert 0.20 <= share <= 0.30, share


def test_shadow_gets_copies(sandbox, kube, mapping_crd, backends):
    prod = backends("prod")
    shadow = backends("shadow")
    prefix = f"/{kube.ns}/shadowed/"
    kube.apply(_mapping("prod", prefix, "prod:8000") + "---\n" + _mapping("shadow", prefix, "shadow:8000",
                                                                          shadow=True))
    wait_for(lambda: get(sandbox, prefix)[0] == 200 and shadow.hits, what="route with shadow")
    prod.hits.clear()
    shadow.hits.clear()
    for i in range(10):
        code, body = get(sandbox, f"{prefix}p{i}", b"payload")
        assert code == 200 and json.loads(body)["backend"] == "prod"
    wait_for(lambda: len(shadow.hits) == 10, what="10 shadow copies")
    assert len(prod.hits) == 10
    assert {h["body"] for h in shadow.hits} == {b"payload"}


def test_service_annotation_routes_like_seldon(sandbox, kube, backends):
    be = backends("sdep")
    config = "\n".join([
        "---", "apiVersion: ambassador/v1", "kind: Mapping", f"name: seldon_{kube.ns}_sdep_rest_mapping",
        f"prefix: /seldon/{kube.ns}/sdep/", "rewrite: /", f"service: sdep.{kube.ns}:8000", "timeout_ms: 3000"])
    kube.kubectl("annotate", "service", "sdep", f"getambassador.io/config={config}")
    wait_for(lambda: get(sandbox, f"/seldon/{kube.ns}/sdep/api/v1.0/predictions", b'{"data":{"ndarray":[[1]]}}')[0]
             == 200, what="route")
    assert be.hits[-1]["path"] == "/api/v1.0/predictions"


def test_direct_url_service_and_timeout(sandbox, kube, mapping_crd):
    be = Backend("direct")
    try:
        kube.apply(_mapping("direct", f"/{kube.ns}/direct/", f"http://127.0.0.1:{be.port}"))
        code, body = wait_for(lambda: (r := get(sandbox, f"/{kube.ns}/direct/x"))[0] == 200 and r, what="route")
        assert json.loads(body) == {"backend": "direct", "path": "/x"}
    finally:
        be.close()
    code, body = get(sandbox, f"/{kube.ns}/direct/x")
    assert code == 503 and b"upstream connect error" in body
