"""volumes.py: the PersistentVolumeClaim of mlops.k8s.pvc, its resize and immutability rules, the StorageClass
lookups and the Bound wait checks; and the module run against the recorded-response API."""

from __future__ import annotations

import json

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import volumes
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.modules import pvc as pvc_module

SC_GROUP = "storage.k8s.io/v1"


def claim(size="1Gi", **spec):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "models"},
            "spec": dict({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}, **spec)}


def storage_class(name, default=False, **fields):
    meta = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return dict({"apiVersion": SC_GROUP, "kind": "StorageClass", "metadata": meta, "provisioner": "local"}, **fields)


@pytest.fixture
def cluster(fake_cluster):
    fake_cluster.add_kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
    fake_cluster.add_kind(SC_GROUP, "StorageClass", "storageclasses", namespaced=False)
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    return fake_cluster


def test_access_modes_take_aliases_once_and_refuse_the_unknown():
    assert volumes.normalize_access_modes(None) == ["ReadWriteOnce"]
    assert volumes.normalize_access_modes(["rwx", "ReadWriteMany", "ROX"]) == ["ReadWriteMany", "ReadOnlyMany"]
    with pytest.raises(K8sError, match=r"access_modes: 'RW' is not an access mode"):
        volumes.normalize_access_modes(["RW"])


def test_build_pvc_labels_it_as_ours_and_refuses_an_empty_size():
    obj = volumes.build_pvc("data", "models", "2Gi", access_modes=["ReadWriteOnce"], storage_class="",
                            volume_mode="Block", labels={"team": 1}, annotations={"a": "b"})
    assert obj["metadata"]["labels"] == {"team": "1", "app.kubernetes.io/managed-by": "mlops.k8s"}
    assert obj["metadata"]["annotations"] == {"a": "b"}
    assert obj["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}},
                           "storageClassName": "", "volumeMode": "Block"}
    assert "storageClassName" not in volumes.build_pvc("d", "m", "1Gi", access_modes=["ReadWriteOnce"])["spec"]
    with pytest.raises(K8sError, match="size must be larger than zero"):
        volumes.build_pvc("data", "models", "0", access_modes=["ReadWriteOnce"])


def test_resize_rules():
    growable = storage_class("fast", allowVolumeExpansion=True)
    assert volumes.plan_resize(claim("2Gi"), "2048Mi", growable, "fast") == ("2Gi", "same")  # the live spelling
    assert volumes.plan_resize(claim("2Gi"), "3Gi", growable, "fast") == ("3Gi", "grow")
    assert volumes.plan_resize({"metadata": {}}, "3Gi", None, None) == ("3Gi", "grow")
    with pytest.raises(K8sError, match="refusing to shrink PersistentVolumeClaim models/data from 2Gi to 1Gi"):
        volumes.plan_resize(claim("2Gi"), "1Gi", growable, "fast")
    with pytest.raises(K8sError, match="StorageClass slow does not allow volume expansion"):
        volumes.plan_resize(claim("2Gi"), "3Gi", storage_class("slow"), "slow")
    with pytest.raises(K8sError, match="it has no StorageClass"):
        volumes.plan_resize(claim("2Gi"), "3Gi", None, None)
    with pytest.raises(K8sError, match="StorageClass gone does not exist"):
        volumes.plan_resize(claim("2Gi"), "3Gi", None, "gone")


def test_immutable_fields():
    live = claim(accessModes=["ReadWriteOnce", "ReadOnlyMany"], storageClassName="fast")
    volumes.check_immutable(live, claim(accessModes=["ReadOnlyMany", "ReadWriteOnce"], volumeMode="Filesystem"))
    with pytest.raises(K8sError) as info:
        volumes.check_immutable(live, claim(accessModes=["ReadWriteMany"], storageClassName="slow"))
    assert str(info.value).startswith("PersistentVolumeClaim models/data: access_modes is ['ReadWriteOnce', "
                                      "'ReadOnlyMany'], wanted ['ReadWriteMany']; storage_class is 'fast', wanted "
                                      "'slow'; these fields cannot change")


def test_storage_class_lookup(cluster):
    from ansible_collections.mlops.k8s.plugins.module_utils import client as client_mod

    client = client_mod.build_client({})
    assert volumes.find_storage_class(client, None) == (None, None)  # no default class
    cluster.put(storage_class("standard", default=True, volumeBindingMode="WaitForFirstConsumer"))
    name, found = volumes.find_storage_class(client, None)
    assert name == "standard" and volumes.binding_mode(found) == "WaitForFirstConsumer"
    assert volumes.find_storage_class(client, "") == ("", None)  # "": no class at all, not the default
    assert volumes.find_storage_class(client, "missing") == ("missing", None)
    assert volumes.binding_mode(volumes.find_storage_class(client, "standard")[1]) == "WaitForFirstConsumer"
    assert volumes.binding_mode(storage_class("plain")) == "Immediate"
    assert volumes.binding_mode(None) is None


def test_bound_and_lost_checks():
    check = volumes.bound_check()
    assert check(None) == (False, "the claim does not exist")
    assert check(claim()) == (False, "phase=not reported yet")
    bound = dict(claim(volumeName="pv-1"), status={"phase": "Bound"})
    assert check(bound) == (True, "Bound to pv-1")
    assert volumes.lost_failure(bound) is None
    lost = dict(claim(volumeName="pv-1"), status={"phase": "Lost"})
    assert volumes.lost_failure(lost) == "phase Lost: its PersistentVolume pv-1 is gone"


def test_module_creates_then_changes_nothing_and_refuses_a_shrink(cluster, run_module):
    cluster.put(storage_class("standard", default=True))
    args = {"name": "data", "namespace": "models", "size": "1Gi"}
    failed, result = run_module(pvc_module, args)
    assert not failed, result
    assert result["changed"] is True and result["storage_class"] == "standard"
    assert result["binding_mode"] == "Immediate" and result["bound"] is False
    assert result["pvc"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlops.k8s"

    cluster.requests.clear()
    failed, result = run_module(pvc_module, dict(args, size="1024Mi"))
    assert not failed and result["changed"] is False
    assert not cluster.writes()

    failed, result = run_module(pvc_module, dict(args, size="512Mi"))
    assert failed and "refusing to shrink PersistentVolumeClaim models/data from 1Gi to 512Mi" in result["msg"]
    assert not cluster.writes()


def test_module_does_not_wait_for_a_class_that_binds_on_first_use(cluster, run_module):
    cluster.put(storage_class("local", volumeBindingMode="WaitForFirstConsumer"))
    failed, result = run_module(pvc_module, {"name": "data", "namespace": "models", "size": "1Gi",
                                             "storage_class": "local", "wait_bound": True})
    assert not failed, result
    assert result["bound"] is False and "WaitForFirstConsumer" in result["msg"]
    assert "WaitForFirstConsumer" in json.dumps(result["warnings"])


def test_module_absent(cluster, run_module):
    cluster.put(claim())
    failed, result = run_module(pvc_module, {"name": "data", "namespace": "models", "state": "absent"},
                                check_mode=True)
    assert not failed and result["changed"] is True
    failed, result = run_module(pvc_module, {"name": "data", "namespace": "models", "state": "absent"})
    assert not failed and result["changed"] is True
    failed, result = run_module(pvc_module, {"name": "data", "namespace": "models", "state": "absent"})
    assert not failed and result["changed"] is False
