"""Simulated containers follow their image and command (sandbox/controllers/README.md, "What simulated containers
do"): the registry's catalogue decides pulls, the command decides exit code and duration, restartPolicy the
restarts with the kubelet's back-off (scaled down here with the kubelet setting backoff_scale)."""

from __future__ import annotations

import time

import pytest
from sbx import wait_for

pytestmark = pytest.mark.sandbox
SCALE = 0.05     # back-offs: 0.5 s, 1 s, 2 s, ...


@pytest.fixture
def fast_backoff(sandbox):
    old = sandbox.controller("kubelet")["backoff_scale"]
    sandbox.controller("kubelet", backoff_scale=SCALE)
    yield
    sandbox.controller("kubelet", backoff_scale=old)


def _create(kube, name: str, container: dict, restart: str = "Always", **spec) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"restartPolicy": restart, "containers": [{"name": "main", **container}], **spec}}
    code, out = kube.req("POST", f"/api/v1/namespaces/{kube.ns}/pods", pod)
    assert code == 201, out


def _pod(kube, name: str) -> dict:
    return kube.get(f"/api/v1/namespaces/{kube.ns}/pods/{name}")


def _main(p: dict) -> dict:
    return ((p.get("status") or {}).get("containerStatuses") or [{}])[0]


def _waiting(kube, name: str, reason: str) -> dict:
    def check():
        cs = _main(_pod(kube, name))
        return cs if (cs.get("state") or {}).get("waiting", {}).get("reason") == reason else None
    return wait_for(check, timeout=20, what=f"{name} waiting {reason}")


def _ready(p: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])


def test_unknown_image_err_image_pull_then_back_off_never_ready(kube, fast_backoff):
    _create(kube, "ghost", {"image": "example.com/nowhere/ghost:1"})
    err = _waiting(kube, "ghost", "ErrImagePull")
    assert 'failed to pull and unpack image "example.com/nowhere/ghost:1"' in err["state"]["waiting"]["message"]
    assert err["state"]["waiting"]["message"].endswith("example.com/nowhere/ghost:1: not found")
    back = _waiting(kube, "ghost", "ImagePullBackOff")
    assert back["state"]["waiting"]["message"].startswith('Back-off pulling image "example.com/nowhere/ghost:1"')
    p = _pod(kube, "ghost")
    assert p["status"]["phase"] == "Pending" and not _ready(p)
    events = {(e["type"], e["reason"], e["message"]) for e in kube.events("ghost")}
    assert ("Normal", "Pulling", 'Pulling image "example.com/nowhere/ghost:1"') in events
    assert ("Warning", "Failed", "Error: ErrImagePull") in events
    assert ("Normal", "BackOff", 'Back-off pulling image "example.com/nowhere/ghost:1"') in events
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in events
    time.sleep(1.5)
    assert not _ready(_pod(kube, "ghost"))


def test_pull_policy_never_with_an_absent_image(kube):
    _create(kube, "never", {"image": "acme/absent:2", "imagePullPolicy": "Never"})
    cs = _waiting(kube, "never", "ErrImageNeverPull")
    message = 'Container image "acme/absent:2" is not present with pull policy of Never'
    assert cs["state"]["waiting"]["message"] == message
    assert any(e["reason"] == "ErrImageNeverPull" for e in kube.events("never"))


def test_pull_policy_always_pulls_a_held_image(kube):
    _create(kube, "fresh", {"image": "nginx:1.27", "imagePullPolicy": "Always"})
    wait_for(lambda: _ready(_pod(kube, "fresh")), timeout=20, what="pod fresh ready")
    reasons = [e["reason"] for e in kube.events("fresh")]
    assert "Pulling" in reasons and "Pulled" in reasons and "Failed" not in reasons


def test_an_image_added_by_the_user_setting_runs(sandbox, kube, tmp_path):
    images = tmp_path / "images.txt"
    images.write_text("# our own\nacme/model-server:*\n")
    old = sandbox.controller("kubelet")["images_file"]
    sandbox.controller("kubelet", images_file=str(images))
    try:
        _create(kube, "own", {"image": "acme/model-server:3.1"})
        wait_for(lambda: _ready(_pod(kube, "own")), timeout=20, what="pod own ready")
    finally:
        sandbox.controller("kubelet", images_file=old)


def test_bin_false_under_always_crash_loops_with_growing_restarts(kube, fast_backoff):
    _create(kube, "crash", {"image": "busybox:1.36", "command": ["/bin/false"]})
    cs = _waiting(kube, "crash", "CrashLoopBackOff")
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert "restarting failed container=main pod=crash_" in cs["state"]["waiting"]["message"]
    wait_for(lambda: _main(_pod(kube, "crash")).get("restartCount", 0) >= 3, timeout=20, what="3 restarts")
    p = _pod(kube, "crash")
    assert p["status"]["phase"] == "Running" and not _ready(p)
    assert any(e["reason"] == "BackOff" and e["type"] == "Warning" for e in kube.events("crash"))


def test_exit_3_in_a_job_pod_fails_with_its_code(kube):
    _create(kube, "exit3", {"image": "busybox", "command": ["sh", "-c", "exit 3"]}, restart="Never")
    p = wait_for(lambda: (q := _pod(kube, "exit3"))["status"].get("phase") == "Failed" and q, timeout=20,
                 what="exit3 Failed")
    term = _main(p)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error") and _main(p)["restartCount"] == 0


def test_sleep_2_job_pod_succeeds_after_2_seconds(kube):
    _create(kube, "nap", {"image": "python:3.11", "command": ["sleep", "2"]}, restart="Never")
    wait_for(lambda: _pod(kube, "nap")["status"].get("phase") == "Running", timeout=20, what="nap Running")
    t0 = time.monotonic()
    p = wait_for(lambda: (q := _pod(kube, "nap"))["status"].get("phase") in ("Succeeded", "Failed") and q,
                 timeout=20, what="nap done")
    took = time.monotonic() - t0
    assert p["status"]["phase"] == "Succeeded" and _main(p)["state"]["terminated"]["reason"] == "Completed"
    assert 1.2 <= took <= 4.0, took


def test_exec_readiness_probe_decides_ready_and_liveness_restarts(kube, fast_backoff):
    _create(kube, "probed", {"image": "nginx:1.25", "readinessProbe": {"exec": {"command": ["false"]}}})
    _create(kube, "alive", {"image": "nginx:1.25", "livenessProbe": {"exec": {"command": ["sh", "-c", "exit 1"]},
                                                                     "periodSeconds": 2, "failureThreshold": 1}})
    wait_for(lambda: _main(_pod(kube, "alive")).get("restartCount", 0) >= 1, timeout=20, what="liveness restart")
    assert _main(_pod(kube, "alive"))["lastState"]["terminated"]["exitCode"] == 137
    p = _pod(kube, "probed")
    assert p["status"]["phase"] == "Running" and _main(p)["state"].get("running") and not _ready(p)


def _gone_after(kube, name: str, *delete_args: str) -> float:
    wait_for(lambda: _ready(_pod(kube, name)), timeout=20, what=f"{name} ready")
    t0 = time.monotonic()
    kube.kubectl("delete", "pod", name, "--wait=false", *delete_args)
    wait_for(lambda: _pod(kube, name) is None, timeout=20, what=f"{name} gone")
    return time.monotonic() - t0


def test_graceful_deletion_waits_for_a_process_that_ignores_sigterm(kube):
    _create(kube, "stubborn", {"image": "busybox", "command": ["sleep", "infinity"]}, terminationGracePeriodSeconds=2)
    _create(kube, "short", {"image": "busybox", "command": ["sh", "-c", "sleep 3"]}, terminationGracePeriodSeconds=30)
    _create(kube, "server", {"image": "nginx:1.25"}, terminationGracePeriodSeconds=30)
    _create(kube, "forced", {"image": "busybox", "command": ["sleep", "infinity"]})
    assert 1.8 <= _gone_after(kube, "stubborn") <= 4.5           # SIGKILL at the end of its grace period
    assert _gone_after(kube, "short") <= 3.5                      # its sleep ended before the grace period
    assert _gone_after(kube, "server") <= 1.5                     # a server stops on SIGTERM
    assert _gone_after(kube, "forced", "--grace-period=0", "--force") <= 1.0
