"""DaemonSet and StatefulSet revision history: a ControllerRevision per pod template, so that `kubectl rollout
history` and `kubectl rollout undo` work on them as on Deployments (pkg/controller/history, daemon/update.go,
statefulset/stateful_set_utils.go)."""

from __future__ import annotations

import pytest
import yaml
from sbx import wait_for

from sandbox.controllers.history import patch_data, revision_hash

TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _workload(kind: str, name: str, image: str, **spec) -> str:
    spec = {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image}]}},
            **spec}
    if kind == "StatefulSet":
        spec.update(serviceName=name, replicas=1)
    return yaml.safe_dump({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})


def _revisions(kube, uid: str) -> list[dict]:
    items = kube.json("controllerrevisions")["items"]
    return sorted((r for r in items if any(o["uid"] == uid for o in r["metadata"].get("ownerReferences") or [])),
                  key=lambda r: r["revision"])


def _history(kube, res: str) -> list[str]:
    out = kube.kubectl("rollout", "history", res).stdout.splitlines()
    return [line.split()[0] for line in out[2:] if line.strip()]


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_rollout_history_and_undo(kube, kind):
    name, res = kind.lower(), f"{kind.lower()}/{kind.lower()}"
    kube.apply(_workload(kind, name, "busybox:1"))
    kube.kubectl("rollout", "status", res, "--timeout=30s")
    for image in ("busybox:1.36", "busybox:1.37"):
        kube.kubectl("set", "image", res, f"c={image}")
        kube.kubectl("rollout", "status", res, "--timeout=30s")
    obj = kube.json(name.lower(), name)
    revs = _revisions(kube, obj["metadata"]["uid"])
    assert [r["revision"] for r in revs] == [1, 2, 3]
    assert [r["data"]["spec"]["template"]["spec"]["containers"][0]["image"] for r in revs] == \
        ["busybox:1", "busybox:1.36", "busybox:1.37"]
    newest = revs[-1]
    assert newest["data"] == patch_data(obj) and newest["data"]["spec"]["template"]["$patch"] == "replace"
    ref = newest["metadata"]["ownerReferences"]
    assert ref == [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": obj["metadata"]["uid"],
                    "controller": True, "blockOwnerDeletion": True}]
    assert newest["metadata"]["labels"]["app"] == name
    pod = kube.json("pods", "-l", f"app={name}")["items"][0]
    if kind == "StatefulSet":  # named by history.HashControllerRevision, as the real controller names them
        assert newest["metadata"]["name"] == f"{name}-{revision_hash(newest['data'])}"
        assert newest["metadata"]["labels"]["controller.kubernetes.io/hash"] == revision_hash(newest["data"])
        assert obj["status"]["currentRevision"] == obj["status"]["updateRevision"] == newest["metadata"]["name"]
        assert pod["metadata"]["labels"]["controller-revision-hash"] == newest["metadata"]["name"]
    else:
        h = newest["metadata"]["labels"]["controller-revision-hash"]
        assert newest["metadata"]["name"] == f"{name}-{h}"
        assert pod["metadata"]["labels"]["controller-revision-hash"] == h
        assert obj["metadata"]["annotations"][TEMPLATE_GENERATION] == "3"
        assert newest["metadata"]["annotations"][TEMPLATE_GENERATION] == "3"
        assert pod["metadata"]["labels"]["pod-template-generation"] == "3"
        assert obj["status"]["updatedNumberScheduled"] == obj["status"]["desiredNumberScheduled"] >= 1

    assert _history(kube, res) == ["1", "2", "3"]
    shown = kube.kubectl("rollout", "history", res, "--revision=1").stdout
    assert "Image:\tbusybox:1" in shown
    kube.kubectl("rollout", "undo", res, "--to-revision=1")
    kube.kubectl("rollout", "status", res, "--timeout=30s")
    obj = kube.json(name.lower(), name)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"
    # the first template's revision is renumbered to the newest rather than copied
    assert _history(kube, res) == ["2", "3", "4"]
    assert [r["metadata"]["name"] for r in _revisions(kube, obj["metadata"]["uid"])][-1] == revs[0]["metadata"]["name"]
    if kind == "DaemonSet":
        assert obj["metadata"]["annotations"][TEMPLATE_GENERATION] == "4"
    wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in kube.json("pods", "-l", f"app={name}")["items"]
                      if not p["metadata"].get("deletionTimestamp")} == {"busybox:1"}, timeout=30,
             what="the pods of the first template back")


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_revision_history_limit_prunes_the_oldest(kube, kind):
    name, res = f"{kind.lower()}-limited", f"{kind.lower()}/{kind.lower()}-limited"
    kube.apply(_workload(kind, name, "busybox:1", revisionHistoryLimit=1))
    kube.kubectl("rollout", "status", res, "--timeout=30s")
    for image in ("busybox:1.36", "busybox:1.37"):
        kube.kubectl("set", "image", res, f"c={image}")
        kube.kubectl("rollout", "status", res, "--timeout=30s")
    uid = kube.json(kind.lower(), name)["metadata"]["uid"]
    wait_for(lambda: [r["revision"] for r in _revisions(kube, uid)] == [2, 3], timeout=30,
             what="revision 1 pruned (one old revision kept)")


def test_daemonset_template_generation_is_the_servers(kube):
    """The annotation counts template changes; a client's value is ignored, other spec changes do not count."""
    kube.apply(_workload("DaemonSet", "gen", "busybox:1"))
    ds = kube.json("daemonset", "gen")
    assert ds["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    kube.kubectl("annotate", "daemonset/gen", "--overwrite", f"{TEMPLATE_GENERATION}=7")
    assert kube.json("daemonset", "gen")["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    kube.kubectl("patch", "daemonset/gen", "-p", '{"spec": {"minReadySeconds": 1}}')
    ds = kube.json("daemonset", "gen")
    assert ds["metadata"]["generation"] == 2 and ds["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    kube.kubectl("set", "image", "daemonset/gen", "c=busybox:1.36")
    ds = kube.json("daemonset", "gen")
    assert ds["metadata"]["generation"] == 3 and ds["metadata"]["annotations"][TEMPLATE_GENERATION] == "2"
