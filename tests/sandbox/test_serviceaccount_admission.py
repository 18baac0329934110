"""The ServiceAccount admission plugin: a pod naming a service account its namespace lacks is refused with
kube-apiserver's 403, and a ReplicaSet whose pods are refused records FailedCreate (event and condition)."""

from __future__ import annotations

import pytest
from sbx import call, wait_for

pytestmark = pytest.mark.sandbox

PODS = "/api/v1/namespaces/{ns}/pods"


def _pod(sa=None, name="p", **meta):
    spec = {"containers": [{"name": "main", "image": "nginx:1.25"}]}
    if sa is not None:
        spec["serviceAccountName"] = sa
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**({"name": name} if name else {}), **meta},
            "spec": spec}


def test_missing_service_account_is_forbidden(sandbox, ns):
    code, body = call(sandbox, "POST", PODS.format(ns=ns), _pod("ghost"))
    assert code == 403, body
    assert body["reason"] == "Forbidden"
    assert body["message"] == (f'pods "p" is forbidden: error looking up service account {ns}/ghost: '
                               'serviceaccount "ghost" not found')
    assert body["details"] == {"name": "p", "kind": "pods"}
    # a generated name is not known yet: the message names the prefix, as the real server's
    code, body = call(sandbox, "POST", PODS.format(ns=ns), _pod("ghost", name=None, generateName="gen-"))
    assert code == 403 and body["message"].startswith('pods "gen-" is forbidden: error looking up service '), body
    # the deprecated field is read too, and admission comes before validation (no containers -> still 403)
    bad = _pod(name="q")
    bad["spec"] = {"serviceAccount": "ghost"}
    code, body = call(sandbox, "POST", PODS.format(ns=ns), bad)
    assert code == 403 and "ghost" in body["message"], body
    # a dry run is admitted the same way
    code, body = call(sandbox, "POST", PODS.format(ns=ns) + "?dryRun=All", _pod("ghost"))
    assert code == 403, body


def test_default_and_existing_service_accounts_are_admitted(sandbox, ns):
    # the namespace's `default` ServiceAccount exists as soon as the namespace does
    code, body = call(sandbox, "POST", PODS.format(ns=ns), _pod(name="plain"))
    assert code == 201, body
    assert body["spec"]["serviceAccountName"] == "default"
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                      {"metadata": {"name": "runner"}})
    assert code == 201, body
    code, body = call(sandbox, "POST", PODS.format(ns=ns), _pod("runner", name="named"))
    assert code == 201, body
    assert body["spec"]["serviceAccountName"] == body["spec"]["serviceAccount"] == "runner"


def test_replicaset_records_failed_create(sandbox, ns):
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
                   "template": {"metadata": {"labels": {"app": "rs"}},
                                "spec": {"serviceAccountName": "later",
                                         "containers": [{"name": "main", "image": "nginx:1.25"}]}}}}
    code, body = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", rs)
    assert code == 201, body
    message = (f'Error creating: pods "rs-" is forbidden: error looking up service account {ns}/later: '
               'serviceaccount "later" not found')

    def failed_event():
        events = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/events")[1]
        return [e for e in events["items"] if e["reason"] == "FailedCreate" and e["involvedObject"]["name"] == "rs"]
    ev = wait_for(failed_event, timeout=20, what="a FailedCreate event")[0]
    assert ev["type"] == "Warning" and ev["message"] == message
    assert ev["source"]["component"] == "replicaset-controller"

    def condition():
        obj = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/replicasets/rs")[1]
        return [c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == "ReplicaFailure"]
    cond = wait_for(condition, timeout=20, what="the ReplicaFailure condition")[0]
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate" and cond["message"] == message[16:]
    # once the account exists the controller's retry creates the pods and the condition goes
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "later"}})
    assert code == 201, body

    def two_pods():
        pods = call(sandbox, "GET", PODS.format(ns=ns) + "?labelSelector=app%3Drs")[1]
        return len(pods["items"]) == 2 and not condition()
    wait_for(two_pods, timeout=40, what="the pods after the ServiceAccount appears")


def test_deployment_reports_replica_failure(sandbox, ns):
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"serviceAccountName": "missing",
                                          "containers": [{"name": "main", "image": "nginx:1.25"}]}}}}
    code, body = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", dep)
    assert code == 201, body

    def failure():
        obj = call(sandbox, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/web")[1]
        return [c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == "ReplicaFailure"]
    cond = wait_for(failure, timeout=20, what="the Deployment's ReplicaFailure condition")[0]
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate"
    assert cond["message"].endswith(f'error looking up service account {ns}/missing: serviceaccount "missing" '
                                    "not found")
    assert cond["message"].startswith('pods "web-') and cond["lastUpdateTime"]
    # once the ServiceAccount exists the pod is created, the condition goes and the rollout finishes
    assert call(sandbox, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "missing"}})[0] \
        == 201
    wait_for(lambda: not failure(), timeout=40, what="the ReplicaFailure condition to go")
    out = sandbox.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=30s").stdout
    assert 'deployment "web" successfully rolled out' in out
