"""`python -m sandbox start|status|stop` and the files it writes; a restart keeps state (snapshot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sbx import call

from sandbox import cli
from sandbox.pytest_plugin import SandboxHandle

pytestmark = pytest.mark.sandbox
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(*args, check=True):
    return subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=check)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_start_status_stop_restart(tmp_path):
    d = str(tmp_path / "sb")
    info = json.loads(_cli("start", "--dir", d).stdout)
    assert set(info) == {"dir", "kubeconfig", "server", "token", "ca_file", "env", "control_plane"}
    assert info["control_plane"] == "emulator"
    assert info["server"].startswith("https://127.0.0.1:")
    assert info["env"]["KUBECONFIG"] == info["kubeconfig"] == os.path.join(d, "kubeconfig")
    with open(os.path.join(d, "env"), encoding="utf-8") as f:
        assert f"export KUBECONFIG={info['kubeconfig']}\n" in f.read()
    with open(os.path.join(d, "sandbox.json"), encoding="utf-8") as f:
        pid = json.load(f)["pid"]
    try:
        assert json.loads(_cli("status", "--dir", d).stdout)["running"] is True
        assert json.loads(_cli("start", "--dir", d).stdout)["server"] == info["server"]  # idempotent
        handle = SandboxHandle(info)
        assert call(handle, "POST", "/api/v1/namespaces/default/configmaps",
                    {"metadata": {"name": "persisted"}, "data": {"k": "v"}})[0] == 201
        out = handle.kubectl("get", "cm", "persisted", "-o", "jsonpath={.data.k}").stdout
        assert out == "v"
    finally:
        assert json.loads(_cli("stop", "--dir", d).stdout)["stopped"] is True
    assert not _running(pid)  # no leftover process
    status = _cli("status", "--dir", d, check=False)
    assert status.returncode == 1 and json.loads(status.stdout)["running"] is False
    info2 = json.loads(_cli("start", "--dir", d).stdout)
    try:
        assert info2["token"] == info["token"]
        code, body = call(SandboxHandle(info2), "GET", "/api/v1/namespaces/default/configmaps/persisted")
        assert code == 200 and body["data"] == {"k": "v"}
    finally:
        _cli("stop", "--dir", d)


def test_nodes_are_an_emulator_setting(tmp_path):
    with pytest.raises(ValueError, match="the real control plane has one node"):
        cli.start(str(tmp_path), control_plane="kube", nodes=2)
    assert not (tmp_path / "sandbox.pid").exists()
