"""A rollout that cannot finish fails fast and says why, in plain words: mlops.k8s.apply wait: true (and
mlops.k8s.wait for: rollout) on a Deployment whose image the cluster's registry does not hold ends at once with
ImagePullBackOff / ErrImagePull and the registry's message, not at its timeout; one whose command exits 3 ends
with CrashLoopBackOff and the last exit code after wait_crashloop_restarts restarts; with wait_fail_fast: false
the wait lasts until its timeout, which names the same problem (the sandbox kubelet's simulated containers,
sandbox/controllers/README.md; the same on both control planes)."""

from __future__ import annotations

import re
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


def test_rollout_waits_fail_fast_and_name_image_pulls_and_crash_loops(run_playbook):
    ns = "podfail-%s" % uuid.uuid4().hex[:6]
    ghost = {"image": "registry.example.com/team/ghost:1.0"}
    tasks = [{"name": "namespace", "mlops.k8s.apply": {"definition": {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}}}]
    for title, container, options in (
            # the defaults: give up as soon as a pod cannot start, long before the timeout
            ("ghost", ghost, {}),
            ("crash", {"image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]}, {"wait_crashloop_restarts": 1}),
            # without fail fast the wait lasts until its timeout, which then says what the pods wait for
            ("patient", ghost, {"wait_fail_fast": False, "wait_timeout": 8})):
        tasks.append({"name": title, "ignore_errors": True, "mlops.k8s.apply": {
            "definition": deployment(title, ns, container), "wait": True, "wait_timeout": 300, **options}})
    tasks.append({"name": "wait module", "ignore_errors": True, "mlops.k8s.wait": {
        "api_version": "apps/v1", "kind": "Deployment", "name": "ghost", "namespace": ns, "for": "rollout",
        "timeout": 300}})
    playbook = yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], sort_keys=False)
    run = run_playbook(playbook)
    ghost_task, crash, patient, wait = (run.task(t) for t in ("ghost", "crash", "patient", "wait module"))
    for task in (ghost_task, crash, patient, wait):
        assert task.get("failed"), task
    for task in (ghost_task, wait):
        assert "Deployment %s/ghost cannot become ready: pod ghost-" % ns in task["msg"], task["msg"]
        assert "ImagePullBackOff" in task["msg"] or "ErrImagePull" in task["msg"], task["msg"]
        assert '"registry.example.com/team/ghost:1.0"' in task["msg"], task["msg"]
    assert "Deployment %s/crash cannot become ready" % ns in crash["msg"], crash["msg"]
    assert "CrashLoopBackOff" in crash["msg"] and "last exit code 3" in crash["msg"], crash["msg"]
    assert re.match(r"timed out after [78](\.\d)?s waiting for Deployment %s/patient" % ns, patient["msg"]), \
        patient["msg"]
    assert "ImagePullBackOff" in patient["msg"] or "ErrImagePull" in patient["msg"], patient["msg"]
