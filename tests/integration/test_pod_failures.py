"""A rollout that cannot finish says why, in plain words: mlops.k8s.apply wait: true on a Deployment whose image the
cluster's registry does not hold ends with ImagePullBackOff / ErrImagePull and the registry's message; one whose
command exits 3 ends with CrashLoopBackOff and the last exit code (the sandbox kubelet's simulated containers,
sandbox/controllers/README.md; the same on both control planes)."""

from __future__ import annotations

import uuid

import pytest
import yaml

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.flow("the waits' words for what the sandbox's kubelet (the same on both planes) reports of pods"),
]


def deployment(name, namespace, container):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", **container}]}}}}


def test_rollout_waits_name_image_pulls_and_crash_loops(run_playbook):
    ns = "podfail-%s" % uuid.uuid4().hex[:6]
    tasks = [{"name": "namespace", "mlops.k8s.apply": {"definition": {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}}}]
    for title, container in (("ghost", {"image": "registry.example.com/team/ghost:1.0"}),
                             ("crash", {"image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]})):
        tasks.append({"name": title, "ignore_errors": True, "mlops.k8s.apply": {
            "definition": deployment(title, ns, container), "wait": True, "wait_timeout": 15}})
    playbook = yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], sort_keys=False)
    run = run_playbook(playbook)
    ghost, crash = run.task("ghost"), run.task("crash")
    assert ghost.get("failed") and crash.get("failed"), (ghost, crash)
    assert "ImagePullBackOff" in ghost["msg"] or "ErrImagePull" in ghost["msg"], ghost["msg"]
    assert '"registry.example.com/team/ghost:1.0"' in ghost["msg"], ghost["msg"]
    assert "CrashLoopBackOff" in crash["msg"] and "last exit code 3" in crash["msg"], crash["msg"]
