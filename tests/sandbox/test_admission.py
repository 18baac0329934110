"""Dynamic admission on the emulator: admissionregistration.k8s.io/v1 and the webhook calls, with kube-apiserver's
order, AdmissionReview requests, selectors, failure policies, timeouts, dry runs, JSONPatch and error messages.

Each test's webhooks select only objects labelled with the test's own id, so they never touch other tests' writes.
The webhook servers are `sandbox.webhooks.server.WebhookServer`s in this process, on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from sbx import call

from sandbox.webhooks.server import WebhookServer
from sandbox.webhooks.tls import serving_cert

ADM = "/apis/admissionregistration.k8s.io/v1"


class Hook:
    """A webhook server that records the reviews it gets and answers with `answer(request) -> response fields`."""

    def __init__(self, names: list[str], answer=None):
        self.cert = serving_cert(names)
        self.reviews: list[dict] = []
        self.answer = answer or (lambda req: {"allowed": True})
        self.server = WebhookServer(self.cert, {"/hook": self._handle}).start()

    def _handle(self, review: dict) -> dict:
        self.reviews.append(review)
        req = review["request"]
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": req["uid"], **self.answer(req)}}

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.cert.ca_pem.encode()).decode()

    def url_config(self) -> dict:
        return {"url": f"https://127.0.0.1:{self.server.port}/hook", "caBundle": self.ca_bundle}


@pytest.fixture
def hooks():
    made: list[Hook] = []

    def make(answer=None, names=("127.0.0.1",)) -> Hook:
        h = Hook(list(names), answer)
        made.append(h)
        return h
    yield make
    for h in made:
        h.server.hold.clear()
        h.server.stop()


@pytest.fixture
def configs(sandbox):
    """Create webhook configurations (kind "validating" / "mutating"); all deleted afterwards."""
    made: list[str] = []

    def make(kind: str, webhooks: list[dict]) -> dict:
        name = f"t-{uuid.uuid4().hex[:8]}"
        path = f"{ADM}/{kind}webhookconfigurations"
        code, body = call(sandbox, "POST", path, {"metadata": {"name": name}, "webhooks": webhooks})
        assert code == 201, body
        made.append(f"{path}/{name}")
        return body
    yield make
    for path in made:
        call(sandbox, "DELETE", path)


def webhook(name: str, client_config: dict, test_id: str, **extra) -> dict:
    hook = {"name": name, "sideEffects": "None", "admissionReviewVersions": ["v1"], "clientConfig": client_config,
            "objectSelector": {"matchLabels": {"adm-test": test_id}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["configmaps"]}]}
    hook.update(extra)
    return hook


def cm(name: str, test_id: str, **labels) -> dict:
    return {"metadata": {"name": name, "labels": {"adm-test": test_id, **labels}}, "data": {"k": "v"}}


def test_discovery_and_defaults(sandbox, configs, hooks):
    code, body = call(sandbox, "GET", ADM)
    assert code == 200, body
    assert {r["name"] for r in body["resources"]} >= {"mutatingwebhookconfigurations",
                                                      "validatingwebhookconfigurations"}
    _, groups = call(sandbox, "GET", "/apis")
    assert "admissionregistration.k8s.io" in [g["name"] for g in groups["groups"]]
    created = configs("validating", [webhook("a.example.com", hooks().url_config(), "none")])
    w = created["webhooks"][0]
    assert (w["failurePolicy"], w["matchPolicy"], w["timeoutSeconds"], w["namespaceSelector"]) == \
        ("Fail", "Equivalent", 10, {})
    assert w["rules"][0]["scope"] == "*"
    bad = webhook("b.example.com", {"url": "https://127.0.0.1:1/x"}, "none")
    del bad["sideEffects"]
    code, body = call(sandbox, "POST", f"{ADM}/validatingwebhookconfigurations",
                      {"metadata": {"name": "t-bad"}, "webhooks": [bad]})
    assert code == 422, body
    assert "webhooks[0].sideEffects: Required value" in body["message"]


def test_validating_denies_with_the_servers_message_and_a_full_review(sandbox, ns, configs, hooks):
    tid = uuid.uuid4().hex[:8]
    h = hooks(lambda req: {"allowed": False, "status": {"code": 403, "message": "no configmaps today"}})
    configs("validating", [webhook("deny.example.com", h.url_config(), tid)])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c1", tid))
    assert code == 403, body
    assert body["message"] == 'admission webhook "deny.example.com" denied the request: no configmaps today'
    req = h.reviews[-1]["request"]
    assert h.reviews[-1]["apiVersion"] == "admission.k8s.io/v1"
    assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert req["requestKind"] == req["kind"] and req["requestResource"] == req["resource"]
    assert (req["name"], req["namespace"], req["operation"], req["dryRun"]) == ("c1", ns, "CREATE", False)
    assert req["userInfo"]["username"] == "sandbox-admin"
    assert req["object"]["data"] == {"k": "v"} and req["oldObject"] is None
    assert req["options"]["kind"] == "CreateOptions"
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/configmaps/c1")[0] == 404
    # an object the objectSelector does not select is not sent
    n = len(h.reviews)
    assert call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c2", "other"))[0] == 201
    assert len(h.reviews) == n


def test_mutating_patch_runs_before_validating_and_warnings_pass_through(sandbox, ns, configs, hooks):
    tid = uuid.uuid4().hex[:8]
    patch = base64.b64encode(json.dumps([{"op": "add", "path": "/data/added", "value": "by-webhook"}]).encode())
    m = hooks(lambda req: {"allowed": True, "patchType": "JSONPatch", "patch": patch.decode(),
                           "warnings": ["mutated by the test"]})
    v = hooks()
    configs("mutating", [webhook("mutate.example.com", m.url_config(), tid)])
    configs("validating", [webhook("validate.example.com", v.url_config(), tid)])
    code, headers, raw = sandbox.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                         json.dumps(cm("c1", tid)).encode())
    assert code == 201, raw
    assert json.loads(raw)["data"] == {"k": "v", "added": "by-webhook"}
    assert "mutated by the test" in headers.get("Warning", "")
    assert v.reviews[-1]["request"]["object"]["data"]["added"] == "by-webhook"
    # UPDATE carries the old object
    code, body = call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/c1", {"data": {"k": "w"}},
                      content_type="application/merge-patch+json")
    assert code == 200, body
    req = v.reviews[-1]["request"]
    assert req["operation"] == "UPDATE" and req["oldObject"]["data"]["k"] == "v" and req["object"]["data"]["k"] == "w"


def test_no_endpoints_fail_and_ignore(sandbox, ns, configs):
    tid = uuid.uuid4().hex[:8]
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/services",
                      {"metadata": {"name": "hooksvc"}, "spec": {"selector": {"app": "nobody"},
                                                                 "ports": [{"port": 443, "targetPort": 8443}]}})
    assert code == 201, body
    svc = {"service": {"name": "hooksvc", "namespace": ns, "path": "/validate"}}
    configs("validating", [webhook("ignore.example.com", svc, tid, failurePolicy="Ignore")])
    assert call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c1", tid))[0] == 201
    configs("validating", [webhook("fail.example.com", svc, tid)])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c2", tid))
    assert code == 500, body
    assert body["reason"] == "InternalError"
    assert body["message"] == (
        'Internal error occurred: failed calling webhook "fail.example.com": failed to call webhook: Post '
        f'"https://hooksvc.{ns}.svc:443/validate?timeout=10s": no endpoints available for service "hooksvc"')


def test_service_webhook_through_the_endpoints_registry_with_tls(sandbox, ns, configs, hooks):
    tid = uuid.uuid4().hex[:8]
    h = hooks(lambda req: {"allowed": False, "status": {"message": "seen through the service"}},
              names=[f"hooksvc.{ns}.svc"])
    for path, obj in (
            ("services", {"metadata": {"name": "hooksvc"}, "spec": {"selector": {"app": f"hook-{tid}"},
                                                                    "ports": [{"port": 443, "targetPort": 8443}]}}),
            ("pods", {"metadata": {"name": "hookpod", "labels": {"app": f"hook-{tid}"}},
                      "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                               "ports": [{"containerPort": 8443}]}]}})):
        code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/{path}", obj)
        assert code == 201, body
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, ep = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/endpoints/hooksvc")
        if isinstance(ep, dict) and any(s.get("addresses") for s in ep.get("subsets") or []):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no ready endpoints for hooksvc: {ep}")
    sandbox.register_endpoint(ns, "hookpod", 8443, h.server.port)
    svc = {"service": {"name": "hooksvc", "namespace": ns, "path": "/hook"}, "caBundle": h.ca_bundle}
    first = configs("validating", [webhook("svc.example.com", svc, tid)])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c1", tid))
    assert (code, body["message"]) == (400, 'admission webhook "svc.example.com" denied the request: seen through '
                                            "the service"), body
    assert call(sandbox, "DELETE", f"{ADM}/validatingwebhookconfigurations/{first['metadata']['name']}")[0] == 200
    # a caBundle that did not sign the server's certificate: the TLS check fails the call
    other = serving_cert(["x"]).ca_pem
    configs("validating", [webhook("badca.example.com", dict(svc, caBundle=base64.b64encode(other.encode()).decode()),
                                   tid)])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c2", tid))
    assert code == 500 and "x509: certificate signed by unknown authority" in body["message"], body


def test_a_webhook_that_does_not_answer_fails_after_its_timeout(sandbox, ns, configs, hooks):
    tid = uuid.uuid4().hex[:8]
    h = hooks()
    h.server.hold.set()
    configs("validating", [webhook("slow.example.com", h.url_config(), tid, timeoutSeconds=1)])
    start = time.monotonic()
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c1", tid))
    took = time.monotonic() - start
    assert code == 500, body
    assert body["message"] == (
        'Internal error occurred: failed calling webhook "slow.example.com": failed to call webhook: Post '
        f'"https://127.0.0.1:{h.server.port}/hook?timeout=1s": context deadline exceeded')
    assert 0.9 < took < 5, took
    # the API server is not held up meanwhile: another request went through (this one)
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}")[0] == 200


def test_selectors_rules_and_scope(sandbox, ns, configs, hooks):
    tid = uuid.uuid4().hex[:8]
    h = hooks(lambda req: {"allowed": False, "status": {"message": "denied"}})
    configs("validating", [
        webhook("other-ns.example.com", h.url_config(), tid,
                namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "not-" + ns}}),
        webhook("update-only.example.com", h.url_config(), tid,
                rules=[{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                        "resources": ["configmaps"]}]),
        webhook("cluster-only.example.com", h.url_config(), tid,
                rules=[{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"],
                        "scope": "Cluster"}]),
        webhook("status-only.example.com", h.url_config(), tid,
                rules=[{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/status"]}]),
    ])
    assert call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c1", tid))[0] == 201
    assert h.reviews == []
    code, body = call(sandbox, "PUT", f"/api/v1/namespaces/{ns}/configmaps/c1", cm("c1", tid, x="1"))
    assert code == 400 and "update-only.example.com" in body["message"], body
    # "*" matches any resource without subresource, "*/*" any subresource too
    configs("validating", [webhook("all.example.com", h.url_config(), tid,
                                   rules=[{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"],
                                           "resources": ["*"]}])])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c2", tid))
    assert code == 400 and "all.example.com" in body["message"], body


def test_dry_run_is_sent_as_dry_run_and_writes_nothing(sandbox, ns, configs, hooks):
    tid = uuid.uuid4().hex[:8]
    h = hooks()
    configs("validating", [webhook("dry.example.com", h.url_config(), tid, sideEffects="NoneOnDryRun")])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps?dryRun=All", cm("c1", tid))
    assert code == 201, body
    req = h.reviews[-1]["request"]
    assert req["dryRun"] is True and req["options"]["dryRun"] == ["All"]
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/configmaps/c1")[0] == 404


def test_url_outside_loopback_is_never_dialled(sandbox, ns, configs):
    tid = uuid.uuid4().hex[:8]
    configs("validating", [webhook("far.example.com", {"url": "https://10.0.0.1:443/x"}, tid)])
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("c1", tid))
    assert code == 500, body
    assert "the sandbox dials only 127.0.0.0/8" in body["message"], body


def test_match_policy_equivalent_calls_with_the_webhooks_version(sandbox, ns, configs, hooks):
    group = f"e{uuid.uuid4().hex[:6]}.example.com"
    version = {"served": True, "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
    crd = {"metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                    "versions": [dict(version, name="v1", storage=True), dict(version, name="v2", storage=False)]}}
    assert call(sandbox, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    try:
        deadline = time.monotonic() + 30
        while call(sandbox, "GET", f"/apis/{group}/v2")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        tid = uuid.uuid4().hex[:8]
        h = hooks()
        rules = [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["widgets"]}]
        configs("validating", [webhook("exact.example.com", h.url_config(), tid, rules=rules, matchPolicy="Exact"),
                               webhook("equivalent.example.com", h.url_config(), tid, rules=rules)])
        code, body = call(sandbox, "POST", f"/apis/{group}/v2/namespaces/{ns}/widgets",
                          {"metadata": {"name": "w", "labels": {"adm-test": tid}}, "spec": {"size": 1}})
        assert code == 201, body
        assert len(h.reviews) == 1   # the Exact webhook is not called for v2
        req = h.reviews[0]["request"]
        assert req["kind"] == {"group": group, "version": "v1", "kind": "Widget"}
        assert req["requestKind"] == {"group": group, "version": "v2", "kind": "Widget"}
        assert req["requestResource"]["version"] == "v2" and req["object"]["apiVersion"] == f"{group}/v1"
    finally:
        call(sandbox, "DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")
