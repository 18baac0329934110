"""Defaulting of built-in kinds as kube-apiserver does it (registry strategies, SetDefaults_*, admission)."""

from __future__ import annotations

import pytest
from sbx import call

pytestmark = pytest.mark.sandbox

POD_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}


def _tpl(labels=None, restart=None):
    spec = dict(POD_SPEC, **({"restartPolicy": restart} if restart else {}))
    return {"metadata": {"labels": labels} if labels else {}, "spec": spec}


def test_job_selector_and_labels_are_generated(sandbox, ns):
    code, job = call(sandbox, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs",
                     {"metadata": {"name": "pi"}, "spec": {"template": _tpl(restart="Never")}})
    assert code == 201, job
    uid, spec = job["metadata"]["uid"], job["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    expected = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                "batch.kubernetes.io/job-name": "pi", "job-name": "pi"}
    assert spec["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["labels"] == expected
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["manualSelector"], spec["podReplacementPolicy"]) == \
        ("NonIndexed", False, False, "TerminatingOrFailed")
    # an update keeps the generated selector; a job's own labels are never replaced
    code, job = call(sandbox, "PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/pi", {"spec": {"suspend": True}},
                     content_type="application/merge-patch+json")
    assert code == 200 and job["spec"]["selector"] == spec["selector"]
    code, job = call(sandbox, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs",
                     {"metadata": {"name": "own", "labels": {"team": "a"}},
                      "spec": {"parallelism": 3, "template": _tpl({"x": "y"}, "Never")}})
    assert job["metadata"]["labels"] == {"team": "a"} and "completions" not in job["spec"]
    assert job["spec"]["template"]["metadata"]["labels"]["x"] == "y"


def test_job_manual_selector(sandbox, ns):
    code, job = call(sandbox, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs", {
        "metadata": {"name": "manual"}, "spec": {"manualSelector": True, "selector": {"matchLabels": {"x": "y"}},
                                                 "template": _tpl({"x": "y"}, "Never")}})
    assert code == 201, job
    assert job["spec"]["selector"] == {"matchLabels": {"x": "y"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {"x": "y"}


def test_statefulset_daemonset_cronjob_defaults(sandbox, ns):
    sel = {"matchLabels": {"app": "s"}}
    code, sts = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/statefulsets", {
        "metadata": {"name": "s"}, "spec": {"serviceName": "s", "selector": sel, "template": _tpl({"app": "s"}),
                                            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                                                "accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}]}})
    assert code == 201, sts
    spec = sts["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert (spec["podManagementPolicy"], spec["revisionHistoryLimit"], spec["replicas"]) == ("OrderedReady", 10, 1)
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    code, ds = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", {
        "metadata": {"name": "d"}, "spec": {"selector": sel, "template": _tpl({"app": "s"})}})
    assert code == 201, ds
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["spec"]["revisionHistoryLimit"] == 10 and "replicas" not in ds["spec"]
    code, ds = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", {
        "metadata": {"name": "d2"}, "spec": {"selector": sel, "template": _tpl({"app": "s"}),
                                             "updateStrategy": {"type": "OnDelete"}}})
    assert ds["spec"]["updateStrategy"] == {"type": "OnDelete"}
    code, cj = call(sandbox, "POST", f"/apis/batch/v1/namespaces/{ns}/cronjobs", {
        "metadata": {"name": "c"}, "spec": {"schedule": "*/5 * * * *",
                                            "jobTemplate": {"spec": {"template": _tpl(restart="OnFailure")}}}})
    assert code == 201, cj
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["dnsPolicy"] == "ClusterFirst" and pod_spec["containers"][0]["imagePullPolicy"] == "Always"
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]   # SetDefaults_Job is for Jobs, not templates


def test_deployment_and_replicaset_defaults(sandbox, ns):
    sel = {"matchLabels": {"app": "d"}}
    code, dep = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "metadata": {"name": "d"}, "spec": {"selector": sel, "template": _tpl({"app": "d"}), "strategy": {}}})
    assert code == 201, dep
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    code, dep = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "metadata": {"name": "r"}, "spec": {"selector": sel, "template": _tpl({"app": "d"}),
                                            "strategy": {"type": "Recreate"}}})
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    code, rs = call(sandbox, "POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "metadata": {"name": "rs"}, "spec": {"replicas": 0, "selector": sel, "template": _tpl({"app": "d"})}})
    assert code == 201 and "revisionHistoryLimit" not in rs["spec"]   # not a ReplicaSet field


def test_pod_and_container_defaults(sandbox, ns):
    code, pod = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {
        "containers": [
            {"name": "a", "image": "nginx", "readinessProbe": {"httpGet": {"port": 80}},
             "resources": {"limits": {"cpu": "1"}}},
            {"name": "b", "image": "nginx:1.25"}, {"name": "c", "image": "nginx:latest"},
            {"name": "d", "image": "nginx@sha256:" + "0" * 64}, {"name": "e", "image": "localhost:5000/x"}],
        "volumes": [{"name": "s", "secret": {"secretName": "x"}}]}})
    assert code == 201, pod
    spec = pod["spec"]
    assert [c["imagePullPolicy"] for c in spec["containers"]] == ["Always", "IfNotPresent", "Always",
                                                                   "IfNotPresent", "Always"]
    a = spec["containers"][0]
    assert a["terminationMessagePath"] == "/dev/termination-log" and a["terminationMessagePolicy"] == "File"
    assert a["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert a["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"]) == \
        ("Always", "ClusterFirst", 30)
    assert (spec["serviceAccountName"], spec["serviceAccount"], spec["enableServiceLinks"]) == \
        ("default", "default", True)
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert {t["key"] for t in spec["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                       "node.kubernetes.io/unreachable"}
    assert spec["volumes"][0]["secret"]["defaultMode"] == 420


def test_service_defaults(sandbox, ns):
    base = f"/api/v1/namespaces/{ns}/services"
    code, svc = call(sandbox, "POST", base, {"metadata": {"name": "a"},
                                             "spec": {"clusterIP": "", "ports": [{"port": 80}]}})
    assert code == 201, svc
    spec = svc["spec"]
    assert spec["clusterIP"] and spec["clusterIPs"] == [spec["clusterIP"]]
    assert (spec["type"], spec["sessionAffinity"], spec["ipFamilies"], spec["ipFamilyPolicy"],
            spec["internalTrafficPolicy"]) == ("ClusterIP", "None", ["IPv4"], "SingleStack", "Cluster")
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    code, svc = call(sandbox, "POST", base, {"metadata": {"name": "np"},
                                             "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767 and svc["spec"]["externalTrafficPolicy"] == "Cluster"
    code, svc = call(sandbox, "PUT", f"{base}/np", dict(svc, spec=dict(svc["spec"], ports=[{"port": 80}])))
    assert code == 200 and svc["spec"]["ports"][0]["nodePort"] == node_port
    code, svc = call(sandbox, "POST", base, {"metadata": {"name": "lb"},
                                             "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}})
    assert svc["spec"]["allocateLoadBalancerNodePorts"] is True and svc["spec"]["ports"][0]["nodePort"]
    code, svc = call(sandbox, "POST", base, {"metadata": {"name": "ext"},
                                             "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert "clusterIP" not in svc["spec"] and svc["spec"]["sessionAffinity"] == "None"
