"""API semantics checked with raw HTTP: Status errors, dry-run, finalizers, GC, namespaces, audit."""

from __future__ import annotations

import json
import time

import pytest
from sbx import MERGE, call, wait_for

pytestmark = pytest.mark.sandbox

CM = "/api/v1/namespaces/{ns}/configmaps"


def _cm(name, **extra):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **extra}, "data": {"a": "1"}}


def _status(body, code, reason):
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason, body


def test_error_statuses(sandbox, ns):
    base = CM.format(ns=ns)
    code, body = call(sandbox, "GET", base + "/missing")
    assert code == 404
    _status(body, 404, "NotFound")
    assert body["message"] == 'configmaps "missing" not found'
    assert body["details"] == {"name": "missing", "kind": "configmaps"}
    assert call(sandbox, "POST", base, _cm("x"))[0] == 201
    code, body = call(sandbox, "POST", base, _cm("x"))
    _status(body, 409, "AlreadyExists")
    code, body = call(sandbox, "POST", base, _cm("Bad_Name"))
    _status(body, 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    code, body = call(sandbox, "POST", base, raw=b"{not json")
    _status(body, 400, "BadRequest")
    code, body = call(sandbox, "PATCH", base + "/x", {"data": {}}, content_type="text/plain")
    _status(body, 415, "UnsupportedMediaType")
    code, body = call(sandbox, "PUT", base, _cm("x"))
    _status(body, 405, "MethodNotAllowed")
    code, body = call(sandbox, "GET", "/api/v1/nothings")
    _status(body, 404, "NotFound")
    code, body = call(sandbox, "GET", base, token="")
    _status(body, 401, "Unauthorized")
    code, body = call(sandbox, "POST", "/api/v1/namespaces/does-not-exist/configmaps", _cm("y"))
    _status(body, 404, "NotFound")
    assert body["message"] == 'namespaces "does-not-exist" not found'
    stale = _cm("x", resourceVersion="1")
    code, body = call(sandbox, "PUT", base + "/x", stale)
    _status(body, 409, "Conflict")
    assert "the object has been modified; please apply your changes to the latest version and try again" in \
        body["message"]


def test_generate_name_and_pagination(sandbox, ns):
    base = CM.format(ns=ns)
    names = set()
    for _ in range(7):
        code, body = call(sandbox, "POST", base, {"metadata": {"generateName": "gen-"}, "data": {}})
        assert code == 201 and body["metadata"]["name"].startswith("gen-")
        names.add(body["metadata"]["name"])
    got, token, rounds = [], "", 0
    while True:
        code, page = call(sandbox, "GET", base + "?limit=3" + (f"&continue={token}" if token else ""))
        assert code == 200 and page["kind"] == "ConfigMapList" and page["metadata"]["resourceVersion"]
        got += [i["metadata"]["name"] for i in page["items"]]
        rounds += 1
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names <= set(got) and rounds >= 3 and len(got) == len(set(got))


def test_dry_run_changes_nothing(sandbox, ns):
    base = CM.format(ns=ns)
    call(sandbox, "POST", base, _cm("keep"))
    # the object's resourceVersion, not the list's: that is the cluster's, and node heartbeats move it
    rv_before = call(sandbox, "GET", base + "/keep")[1]["metadata"]["resourceVersion"]
    mark = sandbox.audit_mark()
    code, body = call(sandbox, "POST", base + "?dryRun=All", _cm("ghost"))
    assert code == 201 and body["metadata"]["uid"]
    assert call(sandbox, "PATCH", base + "/keep?dryRun=All", {"data": {"a": "2"}},
                content_type=MERGE)[1]["data"] == {"a": "2"}
    assert call(sandbox, "DELETE", base + "/keep?dryRun=All")[0] == 200
    assert call(sandbox, "GET", base + "/ghost")[0] == 404
    assert call(sandbox, "GET", base + "/keep")[1]["data"] == {"a": "1"}
    assert call(sandbox, "GET", base + "/keep")[1]["metadata"]["resourceVersion"] == rv_before
    assert sandbox.writes(mark) == []
    assert any(e["dry_run"] for e in sandbox.audit(mark))


def test_audit_endpoint(sandbox, ns):
    mark = sandbox.audit_mark()
    call(sandbox, "POST", CM.format(ns=ns), _cm("audited"))
    entries = sandbox.audit(mark)
    writes = sandbox.writes(mark)
    assert [e["verb"] for e in writes] == ["create"]
    e = writes[0]
    assert set(e) >= {"seq", "user", "verb", "method", "path", "query", "dry_run", "status"}
    assert e["user"] == "sandbox-admin" and e["status"] == 201 and e["method"] == "POST"
    assert all(x["seq"] > mark for x in entries)


def test_finalizers_and_delete_preconditions(sandbox, ns):
    base = CM.format(ns=ns)
    obj = call(sandbox, "POST", base, _cm("fin", finalizers=["example.com/x"]))[1]
    code, body = call(sandbox, "DELETE", base + "/fin", {"preconditions": {"uid": "other"}})
    _status(body, 409, "Conflict")
    code, body = call(sandbox, "DELETE", base + "/fin", {"preconditions": {"uid": obj["metadata"]["uid"]}})
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    assert call(sandbox, "GET", base + "/fin")[0] == 200
    call(sandbox, "PATCH", base + "/fin", {"metadata": {"finalizers": None}}, content_type=MERGE)
    assert call(sandbox, "GET", base + "/fin")[0] == 404
    code, body = call(sandbox, "DELETE", base + "/fin")
    assert code == 404


def test_owner_references_garbage_collection(sandbox, ns):
    base = CM.format(ns=ns)
    owner = call(sandbox, "POST", base, _cm("owner"))[1]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"],
           "blockOwnerDeletion": True}
    for n in ("dep1", "dep2"):
        assert call(sandbox, "POST", base, _cm(n, ownerReferences=[ref]))[0] == 201
    # orphan: dependents stay and lose the reference
    code, _ = call(sandbox, "DELETE", base + "/owner", {"propagationPolicy": "Orphan"})
    wait_for(lambda: call(sandbox, "GET", base + "/owner")[0] == 404, 10)
    wait_for(lambda: not call(sandbox, "GET", base + "/dep1")[1]["metadata"].get("ownerReferences"), 10)
    # background: owner gone -> dependents deleted
    owner = call(sandbox, "POST", base, _cm("owner2"))[1]
    ref = dict(ref, name="owner2", uid=owner["metadata"]["uid"])
    call(sandbox, "POST", base, _cm("dep3", ownerReferences=[ref]))
    call(sandbox, "DELETE", base + "/owner2")
    wait_for(lambda: call(sandbox, "GET", base + "/dep3")[0] == 404, 10)
    # foreground: owner waits (foregroundDeletion finalizer) until its dependents are gone
    owner = call(sandbox, "POST", base, _cm("owner3"))[1]
    ref = dict(ref, name="owner3", uid=owner["metadata"]["uid"])
    call(sandbox, "POST", base, _cm("dep4", ownerReferences=[ref], finalizers=["example.com/slow"]))
    code, body = call(sandbox, "DELETE", base + "/owner3", {"propagationPolicy": "Foreground"})
    assert code == 200 and "foregroundDeletion" in body["metadata"]["finalizers"]
    wait_for(lambda: call(sandbox, "GET", base + "/dep4")[1]["metadata"].get("deletionTimestamp"), 10)
    time.sleep(0.3)
    assert call(sandbox, "GET", base + "/owner3")[0] == 200
    call(sandbox, "PATCH", base + "/dep4", {"metadata": {"finalizers": None}}, content_type=MERGE)
    wait_for(lambda: call(sandbox, "GET", base + "/owner3")[0] == 404, 10)


def test_namespace_termination(sandbox):
    call(sandbox, "POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    assert call(sandbox, "POST", CM.format(ns="doomed"), _cm("c1"))[0] == 201
    assert call(sandbox, "POST", CM.format(ns="doomed"), _cm("c2", finalizers=["example.com/x"]))[0] == 201
    code, body = call(sandbox, "DELETE", "/api/v1/namespaces/doomed")
    assert code == 200 and body["status"]["phase"] == "Terminating"
    code, body = call(sandbox, "POST", CM.format(ns="doomed"), _cm("late"))
    _status(body, 403, "Forbidden")
    assert "unable to create new content in namespace doomed because it is being terminated" in body["message"]
    wait_for(lambda: call(sandbox, "GET", CM.format(ns="doomed") + "/c1")[0] == 404, 2)
    assert call(sandbox, "GET", "/api/v1/namespaces/doomed")[0] == 200  # c2 still holds it
    call(sandbox, "PATCH", CM.format(ns="doomed") + "/c2", {"metadata": {"finalizers": []}},
         content_type=MERGE)
    wait_for(lambda: call(sandbox, "GET", "/api/v1/namespaces/doomed")[0] == 404, 2)


def test_initial_namespaces_and_discovery(sandbox):
    names = {n["metadata"]["name"] for n in call(sandbox, "GET", "/api/v1/namespaces")[1]["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    assert call(sandbox, "GET", "/version")[1]["major"] == "1"
    assert call(sandbox, "GET", "/healthz")[0] == 200
    groups = call(sandbox, "GET", "/apis")[1]
    assert groups["kind"] == "APIGroupList" and "apps" in [g["name"] for g in groups["groups"]]
    res = call(sandbox, "GET", "/apis/apps/v1")[1]
    deploy = next(r for r in res["resources"] if r["name"] == "deployments")
    assert deploy["kind"] == "Deployment" and deploy["namespaced"] and "watch" in deploy["verbs"]
    assert deploy["shortNames"] == ["deploy"] and deploy["singularName"] == "deployment"
    assert any(r["name"] == "deployments/scale" for r in res["resources"])


def test_table_format(sandbox, ns):
    call(sandbox, "POST", CM.format(ns=ns), _cm("tbl"))
    code, _, data = sandbox.request("GET", CM.format(ns=ns), accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert code == 200
    table = json.loads(data)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "tbl")
    assert row["cells"][1] == 1 and row["object"]["kind"] == "PartialObjectMetadata"


def test_secret_string_data_and_delete_collection(sandbox, ns):
    base = f"/api/v1/namespaces/{ns}/secrets"
    code, body = call(sandbox, "POST", base, {"metadata": {"name": "s", "labels": {"k": "v"}},
                                              "stringData": {"user": "admin"}})
    assert code == 201 and body["data"] == {"user": "YWRtaW4="} and "stringData" not in body
    assert body["type"] == "Opaque"
    call(sandbox, "POST", base, {"metadata": {"name": "t", "labels": {"k": "v"}}, "data": {}})
    code, body = call(sandbox, "DELETE", base + "?labelSelector=k%3Dv")
    assert code == 200
    assert [i["metadata"]["name"] for i in call(sandbox, "GET", base)[1]["items"]] == []


def test_namespace_defaults_and_protection(sandbox, ns):
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")[0] == 200
    cm = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt")[1]
    assert cm["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    _, body = call(sandbox, "DELETE", "/api/v1/namespaces/default")
    _status(body, 403, "Forbidden")


def test_legacy_token_secret_and_whoami(sandbox, ns):
    call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "ci"}})
    call(sandbox, "POST", f"/api/v1/namespaces/{ns}/secrets", {
        "metadata": {"name": "ci-token", "annotations": {"kubernetes.io/service-account.name": "ci"}},
        "type": "kubernetes.io/service-account-token"})
    path = f"/api/v1/namespaces/{ns}/secrets/ci-token"
    wait_for(lambda: "token" in (call(sandbox, "GET", path)[1].get("data") or {}), 5)
    import base64
    token = base64.b64decode(call(sandbox, "GET", path)[1]["data"]["token"]).decode()
    code, body = call(sandbox, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, token=token)
    assert code == 201 and body["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:ci"
    code, body = call(sandbox, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                      {"spec": {"namespace": ns}}, token=token)
    assert code == 201 and isinstance(body["status"]["resourceRules"], list)
    # deleting the ServiceAccount invalidates its tokens
    call(sandbox, "DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/ci")
    assert call(sandbox, "GET", "/api", token=token)[0] == 401
    out = sandbox.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    assert out == "sandbox-admin"


def test_pod_log_and_legacy_watch_path(sandbox, ns):
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert code == 201 and body["status"]["phase"] == "Pending"
    # like kube-apiserver: 400 "is waiting to start: ContainerCreating" until the kubelet starts the container
    logs = lambda: sandbox.request("GET", f"/api/v1/namespaces/{ns}/pods/p/log")  # noqa: E731
    code, _, data = logs()
    assert code == 200 or (code == 400 and b"is waiting to start: ContainerCreating" in data), data
    wait_for(lambda: logs()[0] == 200, 15)
    code, _, data = sandbox.request("GET", f"/api/v1/watch/namespaces/{ns}/pods?timeoutSeconds=1")
    events = [json.loads(line) for line in data.splitlines() if line.strip()]
    assert code == 200 and (events[0]["type"], events[0]["object"]["metadata"]["name"]) == ("ADDED", "p")
    assert {e["object"]["metadata"]["name"] for e in events} == {"p"}  # then maybe the kubelet's updates


def test_pod_binding_and_eviction(sandbox, ns):
    pod = {"metadata": {"name": "e"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    call(sandbox, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
    base = f"/api/v1/namespaces/{ns}/pods/e"
    code, body = call(sandbox, "POST", base + "/binding", {"apiVersion": "v1", "kind": "Binding",
                                                           "metadata": {"name": "e"}, "target": {"name": "node-1"}})
    if code == 409:  # a kubelet component may already have scheduled the pod
        assert body["reason"] == "Conflict"
    else:
        assert code == 201 and call(sandbox, "GET", base)[1]["spec"]["nodeName"] == "node-1"
    code, body = call(sandbox, "POST", base + "/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                            "metadata": {"name": "e"}})
    assert code == 201 and body["status"] == "Success"
    wait_for(lambda: call(sandbox, "GET", base)[0] == 404, 10)


def test_unknown_fields_of_builtin_kinds(sandbox, ns):
    base = CM.format(ns=ns)
    obj = {"metadata": {"name": "typo", "labelz": {"a": "b"}}, "dta": {"a": "1"}}
    code, body = call(sandbox, "POST", base + "?fieldValidation=Strict", obj)
    _status(body, 400, "BadRequest")
    assert 'unknown field "dta"' in body["message"] and 'unknown field "metadata.labelz"' in body["message"]
    code, headers, raw = sandbox.request("POST", base + "?fieldValidation=Warn", json.dumps(obj).encode())
    assert code == 201 and 'unknown field \\"dta\\"' in headers["Warning"]
    stored = json.loads(raw)
    assert "dta" not in stored and "labelz" not in stored["metadata"]
    out = sandbox.kubectl("-n", ns, "apply", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo2"}, "dta": {}}))
    assert out.returncode != 0 and 'unknown field "dta"' in out.stderr


def test_self_subject_rules_review_non_resource_rules_come_from_rbac(sandbox, ns):
    """nonResourceRules are the ClusterRoleBindings' rules of the user (system:discovery, ...), not a constant."""
    call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "nr"}})
    code, tr = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/nr/token",
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert code == 201, tr
    token = tr["status"]["token"]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": ns}}
    code, body = call(sandbox, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", review, token=token)
    assert code == 201, body
    urls = {u for r in body["status"]["nonResourceRules"] for u in r["nonResourceURLs"]}
    assert {"/api", "/apis", "/healthz", "/version", "/openapi/*"} <= urls and "*" not in urls
    call(sandbox, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "metadata": {"name": f"{ns}-metrics"}, "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})
    call(sandbox, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "metadata": {"name": f"{ns}-metrics"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{ns}-metrics"},
        "subjects": [{"kind": "ServiceAccount", "name": "nr", "namespace": ns}]})
    try:
        code, body = call(sandbox, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", review,
                          token=token)
        assert {"verbs": ["get"], "nonResourceURLs": ["/metrics"]} in body["status"]["nonResourceRules"]
        _, admin = call(sandbox, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", review)
        assert admin["status"]["nonResourceRules"] == [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    finally:
        call(sandbox, "DELETE", f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{ns}-metrics")
        call(sandbox, "DELETE", f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{ns}-metrics")
