"""How the real kube-apiserver reaches the sandbox's processes without leaving 127.0.0.0/8: it refuses loopback
endpoint addresses, so the sandbox publishes FQDN EndpointSlices whose address is the loopback IP written as a
name, which its webhook resolver and service proxy dial literally (sandbox/kube/endpoints.py)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sandbox.controllers.runtime import EndpointsRegistry
from sandbox.kube.endpoints import LoopbackEndpointSlices
from sandbox.kube.pki import _cert, _key_pem, _name

pytestmark = pytest.mark.kube


@pytest.fixture
def webhook_server(tmp_path):
    """An HTTPS admission webhook on 127.0.0.1 that denies every request, with a certificate for
    deny.netcheck.svc (the name kube-apiserver expects for a Service-referenced webhook)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("netcheck-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(_name("deny.netcheck.svc"), key, ca_name, ca_key, usage=[ExtendedKeyUsageOID.SERVER_AUTH],
                 sans=[x509.DNSName("deny.netcheck.svc")])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(_key_pem(key))
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(review["request"]["name"])
            body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                "uid": review["request"]["uid"], "allowed": False,
                "status": {"code": 403, "message": "netcheck says no"}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], ca, seen
    httpd.shutdown()
    httpd.server_close()


def test_a_webhook_is_dialled_through_an_fqdn_endpointslice_on_loopback(kube, webhook_server):
    import base64
    port, ca, seen = webhook_server
    kube.kubectl("create", "namespace", "netcheck")
    kube.kubectl("-n", "netcheck", "create", "service", "clusterip", "deny", "--tcp=443:8443")
    kube.kubectl("-n", "netcheck", "delete", "endpointslices", "--all")
    kube.kubectl("apply", "-f", "-", input=json.dumps({"items": [
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "deny-local", "namespace": "netcheck",
                      "labels": {"kubernetes.io/service-name": "deny",
                                 "endpointslice.kubernetes.io/managed-by": "network.sandbox.local"}},
         "addressType": "FQDN", "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
         "ports": [{"name": "443-8443", "port": port, "protocol": "TCP"}]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "netcheck"},
         "webhooks": [{"name": "deny.netcheck.example.com", "sideEffects": "None", "failurePolicy": "Fail",
                       "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
                       "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "netcheck"}},
                       "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                  "resources": ["configmaps"]}],
                       "clientConfig": {"caBundle": base64.b64encode(ca).decode(),
                                        "service": {"namespace": "netcheck", "name": "deny", "port": 443}}}]}],
        "apiVersion": "v1", "kind": "List"}))
    try:
        # kube-apiserver picks a new webhook configuration and the EndpointSlice up from its informers a moment
        # later: until then a create is admitted without the call (then it is deleted and tried again), or the call
        # finds no endpoints yet
        deadline = time.monotonic() + 15
        while True:
            out = kube.kubectl("-n", "netcheck", "create", "configmap", "probe", check=False)
            if time.monotonic() > deadline or (out.returncode != 0 and "no endpoints available" not in out.stderr):
                break
            if out.returncode == 0:
                kube.kubectl("-n", "netcheck", "delete", "configmap", "probe")
            time.sleep(0.2)
        assert out.returncode != 0
        assert 'admission webhook "deny.netcheck.example.com" denied the request: netcheck says no' in out.stderr
        assert seen == ["probe"]
    finally:
        kube.kubectl("delete", "validatingwebhookconfiguration", "netcheck")


class _Client:
    def __init__(self, objs):
        self.objs = objs

    def list(self, key, ns=None):
        return [o for o in self.objs.get(key, []) if not ns or o["metadata"].get("namespace") == ns]


def test_the_publisher_lists_ready_pods_whose_port_listens_on_loopback():
    """LoopbackEndpointSlices.desired without a cluster: one FQDN slice per pod whose target port is in the
    endpoints registry on 127.0.0.1, named ports resolved, readiness from the pod."""
    reg = EndpointsRegistry()
    reg.register("ns", "web-1", 8080, "127.0.0.1", 40001)
    reg.register("ns", "web-2", 8080, "10.1.2.3", 40002)   # not on loopback: never published
    pods = [{"metadata": {"name": n, "namespace": "ns", "uid": f"u-{n}", "labels": {"app": "web"}},
             "spec": {"nodeName": "sandbox-node", "containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for n in ("web-1", "web-2", "web-3")]
    svc = {"metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "h", "port": 80, "targetPort": "http"}]}}
    pub = LoopbackEndpointSlices.__new__(LoopbackEndpointSlices)
    pub.registry, pub.client = reg, _Client({("", "pods"): pods})
    want = pub.desired(svc)
    assert len(want) == 1
    (body,) = want.values()
    assert body["addressType"] == "FQDN"
    assert body["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert body["endpoints"][0]["targetRef"]["name"] == "web-1"
    assert body["endpoints"][0]["conditions"]["ready"] is True
    assert body["ports"] == [{"name": "h", "port": 40001, "protocol": "TCP"}]
    assert body["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
