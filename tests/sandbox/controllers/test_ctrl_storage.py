"""PersistentVolumeClaims on the local provisioner, and namespace termination of controller-made objects."""

from __future__ import annotations

import os

import pytest
import yaml
from ctrl_helpers import Kube, deployment
from sbx import wait_for

pytestmark = pytest.mark.sandbox


def _pvc(name, cls=None, modes=("ReadWriteOnce",), size="1Gi"):
    spec = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return yaml.safe_dump({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                           "spec": spec})


def _pod(name, claim, extra=None):
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
        **(extra or {})}})


def test_default_storage_classes(kube):
    classes = {c["metadata"]["name"]: c for c in kube.json("storageclass")["items"]}
    std = classes["standard"]
    assert std["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert std["volumeBindingMode"] == "WaitForFirstConsumer"
    assert std["provisioner"] == "sandbox.local/hostpath"
    assert classes["standard-immediate"]["volumeBindingMode"] == "Immediate"


def test_wait_for_first_consumer_binds_with_a_pod(sandbox, kube):
    kube.apply(_pvc("data"))
    assert kube.json("pvc", "data")["spec"].get("storageClassName") in (None, "standard")
    wait_for(lambda: any(e["reason"] == "WaitForFirstConsumer" for e in kube.events("data")), what="event")
    assert kube.json("pvc", "data")["status"]["phase"] == "Pending"
    kube.apply(_pod("user", "data"))
    kube.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=15s")
    kube.kubectl("wait", "--for=condition=Ready", "pod/user", "--timeout=15s")
    pvc = kube.json("pvc", "data")
    assert pvc["spec"]["storageClassName"] == "standard"
    pv = kube.json("pv", pvc["spec"]["volumeName"])
    path = pv["spec"]["hostPath"]["path"]
    assert path == os.path.join(sandbox.dir, "volumes", pv["metadata"]["name"])
    assert os.path.isdir(path)
    assert pv["spec"]["claimRef"]["name"] == "data" and pv["status"]["phase"] == "Bound"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    # reclaim policy Delete: the volume and its directory go with the claim (once no pod uses it)
    kube.kubectl("delete", "pod", "user")
    kube.kubectl("delete", "pvc", "data", "--timeout=20s")
    wait_for(lambda: not os.path.exists(path), what="volume directory removed")
    wait_for(lambda: sandbox.kubectl("get", "pv", pv["metadata"]["name"], check=False).returncode != 0,
             what="pv deleted")


def test_immediate_binds_alone(sandbox, kube):
    kube.apply(_pvc("now", cls="standard-immediate", modes=("ReadWriteMany",)))
    kube.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/now", "--timeout=15s")
    pvc = kube.json("pvc", "now")
    assert pvc["status"]["accessModes"] == ["ReadWriteMany"] and pvc["status"]["capacity"]["storage"] == "1Gi"
    assert os.path.isdir(os.path.join(sandbox.dir, "volumes", pvc["spec"]["volumeName"]))
    # RWX: two pods may use it
    kube.apply(_pod("a", "now") + "---\n" + _pod("b", "now"))
    kube.kubectl("wait", "--for=condition=Ready", "pod/a", "pod/b", "--timeout=15s")


def test_read_write_once_pod_is_exclusive(kube):
    kube.apply(_pvc("solo", cls="standard-immediate", modes=("ReadWriteOncePod",)))
    kube.apply(_pod("first", "solo"))
    kube.kubectl("wait", "--for=condition=Ready", "pod/first", "--timeout=15s")
    kube.apply(_pod("second", "solo"))
    wait_for(lambda: any(e["reason"] == "FailedScheduling" for e in kube.events("second")), what="FailedScheduling")
    assert kube.json("pod", "second")["status"]["phase"] == "Pending"
    kube.kubectl("delete", "pod", "first")
    kube.kubectl("wait", "--for=condition=Ready", "pod/second", "--timeout=15s")


def test_missing_class_and_unsatisfiable_stay_pending(kube):
    kube.apply(_pvc("ghost", cls="does-not-exist") + "---\n" + _pvc("huge", cls="standard-immediate", size="900Ti"))
    ev = wait_for(lambda: [e for e in kube.events("ghost") if e["reason"] == "ProvisioningFailed"], what="event")
    assert ev[0]["type"] == "Warning" and "does-not-exist" in ev[0]["message"]
    assert ev[0]["source"]["component"] == "persistentvolume-controller"
    ev2 = wait_for(lambda: [e for e in kube.events("huge") if e["reason"] == "ProvisioningFailed"], what="event")
    assert "insufficient capacity" in ev2[0]["message"]
    assert kube.json("pvc", "ghost")["status"]["phase"] == "Pending"
    assert kube.json("pvc", "huge")["status"]["phase"] == "Pending"
    assert "ProvisioningFailed" in kube.kubectl("describe", "pvc", "ghost").stdout


def test_namespace_deletion_removes_everything(sandbox, fresh_ns):
    kube = Kube(sandbox, fresh_ns)
    kube.apply(deployment("web", replicas=2) + "---\n" + _pvc("vol", cls="standard-immediate") + "---\n" +
               yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
    kube.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    kube.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/vol", "--timeout=15s")
    pv = kube.json("pvc", "vol")["spec"]["volumeName"]
    path = os.path.join(sandbox.dir, "volumes", pv)
    assert os.path.isdir(path)
    sandbox.kubectl("delete", "namespace", fresh_ns, "--timeout=30s")
    assert sandbox.kubectl("get", "namespace", fresh_ns, check=False).returncode != 0
    for kind in ("deployments", "replicasets", "pods", "services", "endpoints", "persistentvolumeclaims", "events"):
        code, body = kube.req("GET", f"/api{'s/apps' if kind in ('deployments', 'replicasets') else ''}/v1/"
                                     f"namespaces/{fresh_ns}/{kind}")
        assert code == 200 and body["items"] == [], (kind, body["items"][:1])
    wait_for(lambda: not os.path.exists(path), what="volume directory removed")
