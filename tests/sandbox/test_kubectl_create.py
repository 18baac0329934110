"""`kubectl create <kind>` (protobuf request bodies) and `kubectl rollout status` on defaulted workloads."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.sandbox


def _get(sandbox, ns, what):
    return json.loads(sandbox.kubectl("-n", ns, "get", what, "-o", "json").stdout)


def test_kubectl_create_job_and_cronjob(sandbox, ns):
    sandbox.kubectl("-n", ns, "create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--", "date")
    cj = _get(sandbox, ns, "cronjob/cj")
    assert cj["spec"]["schedule"] == "*/5 * * * *" and cj["spec"]["concurrencyPolicy"] == "Allow"
    c = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["command"]) == ("cj", "busybox", ["date"])
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    sandbox.kubectl("-n", ns, "create", "job", "once", "--image=busybox", "--", "echo", "hi")
    job = _get(sandbox, ns, "job/once")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert job["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": job["metadata"]["uid"]}
    sandbox.kubectl("-n", ns, "create", "job", "manual", "--from=cronjob/cj")
    job = _get(sandbox, ns, "job/manual")
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"][0]["name"] == "cj"
    assert job["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    sandbox.kubectl("-n", ns, "wait", "--for=condition=Complete", "job/once", "--timeout=30s")
    pods = sandbox.kubectl("-n", ns, "get", "pods", "-l", "job-name=once", "--no-headers").stdout.split()
    assert pods[1:3] == ["0/1", "Completed"], pods


def test_kubectl_create_other_kinds(sandbox, ns):
    k = ("-n", ns, "create")
    sandbox.kubectl(*k, "service", "clusterip", "web", "--tcp=80:8080")
    sandbox.kubectl(*k, "service", "nodeport", "np", "--tcp=80:http")
    sandbox.kubectl(*k, "service", "externalname", "ext", "--external-name=example.com")
    sandbox.kubectl(*k, "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps")
    sandbox.kubectl(*k, "rolebinding", "rb", "--role=reader", "--user=bob", f"--serviceaccount={ns}:default")
    sandbox.kubectl(*k, "quota", "q", "--hard=cpu=1,memory=1G,pods=10", "--scopes=BestEffort")
    sandbox.kubectl(*k, "ingress", "ing", "--class=nginx", "--rule=foo.com/bar*=web:8080,tls=cert",
                    "--default-backend=web:http")
    sandbox.kubectl(*k, "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=50%")
    sandbox.kubectl(*k, "deployment", "zero", "--image=nginx", "--replicas=0", "--port=80")
    web = _get(sandbox, ns, "svc/web")["spec"]
    assert web["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert web["selector"] == {"app": "web"} and web["clusterIP"]
    np = _get(sandbox, ns, "svc/np")["spec"]
    assert np["type"] == "NodePort" and np["ports"][0]["targetPort"] == "http" and np["ports"][0]["nodePort"]
    assert _get(sandbox, ns, "svc/ext")["spec"]["externalName"] == "example.com"
    rules = _get(sandbox, ns, "role/reader")["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                     {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]
    rb = _get(sandbox, ns, "rolebinding/rb")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert {s["kind"] for s in rb["subjects"]} == {"User", "ServiceAccount"}
    quota = _get(sandbox, ns, "quota/q")["spec"]
    assert quota == {"hard": {"cpu": "1", "memory": "1G", "pods": "10"}, "scopes": ["BestEffort"]}
    ing = _get(sandbox, ns, "ingress/ing")["spec"]
    assert ing["ingressClassName"] == "nginx" and ing["tls"] == [{"hosts": ["foo.com"], "secretName": "cert"}]
    assert ing["defaultBackend"] == {"service": {"name": "web", "port": {"name": "http"}}}
    assert ing["rules"][0]["http"]["paths"][0] == {"path": "/bar", "pathType": "Prefix", "backend": {
        "service": {"name": "web", "port": {"number": 8080}}}}
    pdb = _get(sandbox, ns, "pdb/pdb")["spec"]
    assert pdb == {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
    dep = _get(sandbox, ns, "deployment/zero")["spec"]
    assert dep["replicas"] == 0 and "paused" not in dep and dep["strategy"]["type"] == "RollingUpdate"


def test_kubectl_create_cluster_scoped_kinds(sandbox, ns):
    names = (f"{ns}-cr", f"{ns}-crb", f"{ns}-pc")
    try:
        sandbox.kubectl("create", "clusterrole", names[0], "--verb=get", "--non-resource-url=/logs/*")
        sandbox.kubectl("create", "clusterrolebinding", names[1], f"--clusterrole={names[0]}", "--group=devs")
        sandbox.kubectl("create", "priorityclass", names[2], "--value=0", "--description=zero")
        assert _get(sandbox, ns, f"clusterrole/{names[0]}")["rules"] == [
            {"nonResourceURLs": ["/logs/*"], "verbs": ["get"]}]
        assert _get(sandbox, ns, f"clusterrolebinding/{names[1]}")["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]
        pc = _get(sandbox, ns, f"priorityclass/{names[2]}")
        assert (pc["value"], pc["description"]) == (0, "zero")
    finally:
        for kind, name in zip(("clusterrole", "clusterrolebinding", "priorityclass"), names, strict=True):
            sandbox.kubectl("delete", kind, name, "--ignore-not-found", check=False)


def test_rollout_status_statefulset_without_strategy(sandbox, ns):
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"serviceName": "web", "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}
    sandbox.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(sts))
    out = sandbox.kubectl("-n", ns, "rollout", "status", "sts/web", "--timeout=60s", timeout=90).stdout
    assert "roll out complete" in out
