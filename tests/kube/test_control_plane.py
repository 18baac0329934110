"""The real control plane as `python -m sandbox start --control-plane kube` starts it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from sandbox.kube import controlplane

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.kube


def _sandbox(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, check=False)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_start_status_stop_leaves_nothing_behind(tmp_path):
    d = str(tmp_path / "cp")
    started = _sandbox("start", "--dir", d, "--control-plane", "kube")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert info["control_plane"] == "kube"
    assert set(info["processes"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    try:
        env = dict(os.environ, KUBECONFIG=info["kubeconfig"])
        version = json.loads(subprocess.run(["kubectl", "get", "--raw", "/version"], capture_output=True, text=True,
                                            env=env, check=True, timeout=30).stdout)
        want = subprocess.run(["bash", os.path.join(REPO, "hack/kube/build.sh"), "--print-bin"], capture_output=True,
                              text=True, check=True).stdout.strip()
        with open(os.path.join(os.path.dirname(want), "versions"), encoding="ascii") as f:
            kube_version = dict(line.split("=", 1) for line in f.read().split())["kubernetes"]
        assert version["gitVersion"] == kube_version
        resources = subprocess.run(["kubectl", "api-resources", "-o", "name"], capture_output=True, text=True,
                                   env=env, check=True, timeout=30).stdout.split()
        for name in ("pods", "deployments.apps", "jobs.batch", "customresourcedefinitions.apiextensions.k8s.io",
                     "validatingwebhookconfigurations.admissionregistration.k8s.io", "leases.coordination.k8s.io",
                     "endpointslices.discovery.k8s.io", "roles.rbac.authorization.k8s.io",
                     "horizontalpodautoscalers.autoscaling", "poddisruptionbudgets.policy",
                     "networkpolicies.networking.k8s.io", "storageclasses.storage.k8s.io"):
            assert name in resources
        status = _sandbox("status", "--dir", d)
        assert status.returncode == 0
        procs = json.loads(status.stdout)["processes"]
        assert all(p["running"] for p in procs.values()), procs
        port = int(info["server"].rsplit(":", 1)[1])
        assert _listening(port)
    finally:
        stopped = _sandbox("stop", "--dir", d)
    assert json.loads(stopped.stdout) == {"stopped": True}
    from sandbox.cli import _alive
    for name, pid in info["processes"].items():
        assert not _alive(pid), name
    assert not _listening(port)
    assert _sandbox("status", "--dir", d).returncode == 1


def test_admin_identities_token_and_client_certificate(kube):
    """The kubeconfig's token and the x509 kubeconfig both authenticate as the admin; the Python client too."""
    for cfg in (kube.kubeconfig, os.path.join(kube.dir, "kubeconfig-x509")):
        out = kube.kubectl("auth", "whoami", "-o", "json", kubeconfig=cfg).stdout
        user = json.loads(out)["status"]["userInfo"]
        assert user["username"] == "sandbox-admin"
        assert "system:masters" in user["groups"]
    from kubernetes import client
    assert client.VersionApi(kube.api_client()).get_code().git_version.startswith("v1.")


def test_controller_manager_and_scheduler_work(kube):
    """kube-controller-manager: a namespace gets its `default` ServiceAccount, a Deployment its ReplicaSet and Pod;
    kube-scheduler: the pod is bound to the sandbox's node (and only by the scheduler)."""
    kube.kubectl("create", "namespace", "cp-check")
    kube.kubectl("-n", "cp-check", "create", "deployment", "web", "--image=registry.k8s.io/pause:3.10")
    deadline = time.monotonic() + 60
    node = ""
    while time.monotonic() < deadline and not node:
        pods = json.loads(kube.kubectl("-n", "cp-check", "get", "pods", "-o", "json").stdout)["items"]
        node = pods[0]["spec"].get("nodeName", "") if pods else ""
        time.sleep(0.2)
    assert node == "sandbox-node"
    binders = {e["user"] for e in kube.audit() if e["path"].endswith("/binding")
               and "/namespaces/cp-check/" in e["path"]}
    assert binders == {"system:kube-scheduler"}, binders
    assert kube.kubectl("-n", "cp-check", "get", "serviceaccount", "default").returncode == 0


def test_audit_log_reads_like_the_emulators(kube):
    mark = kube.audit_mark()
    kube.kubectl("create", "configmap", "audit-check", "--from-literal=a=b")
    kube.kubectl("create", "configmap", "audit-check-dry", "--from-literal=a=b", "--dry-run=server")
    writes = kube.writes(mark)
    assert [(w["method"], w["path"], w["dry_run"]) for w in writes] == [
        ("POST", "/api/v1/namespaces/default/configmaps", False)]
    entries = kube.audit(mark)
    assert any(e["dry_run"] and e["method"] == "POST" for e in entries)


def test_build_is_cached():
    """A second `make kube` returns at once: with the binaries there it does not even need `go`."""
    env = dict(os.environ, PATH="/usr/bin:/bin")
    out = subprocess.run(["bash", os.path.join(REPO, "hack/kube/build.sh")], capture_output=True, text=True, env=env,
                         timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("/bin")
    assert controlplane.built()


def test_stops_when_its_owner_is_gone(tmp_path):
    """A test session that is killed does not leave a control plane behind: `start(owner=PID)`."""
    from sandbox import cli
    owner = subprocess.Popen(["sleep", "600"])
    try:
        info = cli.start(str(tmp_path / "owned"), snapshot=False, control_plane="kube", owner=owner.pid)
    finally:
        owner.kill()
        owner.wait()
    from sandbox.cli import _alive
    pids = [info["pid"], *info["processes"].values()]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]
