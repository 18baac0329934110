"""A whole sandbox through the CLI in a temp dir: start, use every component, stop, nothing left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.sandbox
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _cli(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT, check=False)


def _listening(url: str) -> bool:
    u = urlsplit(url)
    try:
        with socket.create_connection((u.hostname, u.port), timeout=1):
            return True
    except OSError:
        return False


def _procs_mentioning(text: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                state = f.read().split(")")[-1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            out.append(int(pid))
    return out


def test_cli_start_use_stop_leaves_nothing(tmp_path):
    d = str(tmp_path / "sbx")
    proc = _cli("start", "--dir", d, "--no-snapshot")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    env = info["env"]
    with open(os.path.join(d, "sandbox.json"), encoding="utf-8") as f:
        pid = json.load(f)["pid"]
    try:
        with open(os.path.join(d, "env"), encoding="utf-8") as f:
            exported = f.read()
        for key in ("KUBECONFIG", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                    "AWS_DEFAULT_REGION", "AMBASSADOR_URL", "SANDBOX_GATEWAY_URL"):
            assert f"export {key}=" in exported and env[key]
        kenv = dict(os.environ, KUBECONFIG=info["kubeconfig"], KUBECACHEDIR=os.path.join(d, "kcache"))
        dep = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hello}\nspec:\n  replicas: 2\n"
               "  selector: {matchLabels: {app: hello}}\n  template:\n    metadata: {labels: {app: hello}}\n"
               "    spec: {containers: [{name: c, image: nginx}]}\n")
        subprocess.run(["kubectl", "apply", "-f", "-"], input=dep, text=True, env=kenv, check=True,
                       capture_output=True, timeout=30)
        subprocess.run(["kubectl", "rollout", "status", "deployment/hello", "--timeout=30s"], env=kenv, check=True,
                       capture_output=True, timeout=40)
        import boto3
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])
        s3.create_bucket(Bucket="cli-bucket")
        s3.put_object(Bucket="cli-bucket", Key="k", Body=b"v")
        assert s3.get_object(Bucket="cli-bucket", Key="k")["Body"].read() == b"v"
        try:
            urllib.request.urlopen(env["AMBASSADOR_URL"] + "/nothing", timeout=5)  # noqa: S310 - local
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        assert _cli("status", "--dir", d).returncode == 0
        assert _procs_mentioning(d)
    finally:
        stopped = _cli("stop", "--dir", d)
    assert json.loads(stopped.stdout) == {"stopped": True}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_procs_mentioning(d) or os.path.exists(f"/proc/{pid}/cmdline")):
        time.sleep(0.1)
    assert _procs_mentioning(d) == []
    assert not _listening(info["server"])
    assert not _listening(env["AWS_ENDPOINT_URL"])
    assert not _listening(env["AMBASSADOR_URL"])
    assert _cli("status", "--dir", d).returncode == 1
