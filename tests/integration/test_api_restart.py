"""The API server restarted while a task watches: the wait resumes on the new server and succeeds, and a server
that does not come back fails the task with the cause, never a hang. Runs on both control planes: the emulator
restarts from its snapshot; on the real one etcd keeps the data and kube-apiserver is restarted alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sandbox import cli
from sandbox.pytest_plugin import SandboxHandle, control_plane

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(600)]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def wait_play(timeout: int) -> str:
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "wait", "mlops.k8s.wait": {"kind": "ConfigMap", "namespace": "default", "name": "after-restart",
                                           "for": "exists", "timeout": timeout, "request_timeout": 5}}]}])


@pytest.fixture
def own(tmp_path):
    """A sandbox of this test's own (the shared one must not be restarted under other tests)."""
    directory = str(tmp_path / "restart")
    info = cli.start(directory, port=cli_free_port(), snapshot=True, control_plane=control_plane(),
                     owner=os.getpid())
    yield directory, info
    cli.stop(directory)


def cli_free_port() -> int:
    from sandbox.kube.controlplane import free_port
    return free_port()


def restart(directory: str, info: dict) -> None:
    port = int(info["server"].rsplit(":", 1)[1])
    if info.get("control_plane") == "kube":
        pid = info["processes"]["kube-apiserver"]
        os.kill(pid, signal.SIGKILL)  # the supervisor notices and stops; start it again on the same port/etcd
        deadline = time.monotonic() + 30
        while cli.running(directory) and time.monotonic() < deadline:
            time.sleep(0.2)
        cli.stop(directory)
    else:
        cli.stop(directory)
    cli.start(directory, port=port, snapshot=True, control_plane=info.get("control_plane", "emulator"),
              owner=os.getpid())


def start_wait(info: dict, ansible_env: dict, tmp_path: Path, timeout: int) -> subprocess.Popen:
    path = tmp_path / "wait.yml"
    path.write_text(wait_play(timeout))
    env = {**ansible_env, "K8S_AUTH_KUBECONFIG": info["kubeconfig"], "ANSIBLE_STDOUT_CALLBACK": "default"}
    return subprocess.Popen([PLAYBOOK, "-i", "localhost,", "-c", "local", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def waiting(handle: SandboxHandle, proc: subprocess.Popen) -> None:
    """Until the module has looked for the ConfigMap (its list or GET is in the audit log)."""
    deadline = time.monotonic() + 60
    while not any("after-restart" in (e["path"] + e["query"]) for e in handle.audit(0)):
        assert proc.poll() is None and time.monotonic() < deadline, "the wait never started"
        time.sleep(0.1)


def test_a_wait_survives_an_api_server_restart(own, ansible_env, tmp_path):
    directory, info = own
    proc = start_wait(info, ansible_env, tmp_path, timeout=120)
    try:
        waiting(SandboxHandle(info), proc)
        restart(directory, info)
        handle = SandboxHandle(json.loads(Path(directory, "sandbox.json").read_text()))
        handle.kubectl("create", "configmap", "after-restart", "--from-literal=a=b")
        out = proc.communicate(timeout=180)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-4000:]


def test_a_server_that_does_not_come_back_fails_with_the_cause(own, ansible_env, tmp_path):
    directory, info = own
    proc = start_wait(info, ansible_env, tmp_path, timeout=40)
    try:
        waiting(SandboxHandle(info), proc)
        cli.stop(directory)
        started = time.monotonic()
        out = proc.communicate(timeout=240)[0]
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert time.monotonic() - started < 200  # bounded by the task's own timeouts, not by pytest's
    assert "refused" in out.lower() or "timed out" in out.lower() or "timeout" in out.lower(), out[-3000:]
