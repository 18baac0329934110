"""Shared by the reliability tests (faults, interruption, secrets): playbooks/deploy_model.yml run as a child
process of its own session, so a test can bound it with a timeout and SIGKILL it (its whole process group: the
playbook and the module processes it forks), and fixtures for the installed platform and a trained model."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = str(REPO / "playbooks" / "deploy_model.yml")
INSTALL = str(REPO / "playbooks" / "install_platform.yml")
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
SDEPS = "/apis/machinelearning.seldon.io/v1/namespaces/%s/seldondeployments"


@dataclass
class Done:
    rc: int | None  # None: killed by us (timeout or on purpose)
    output: str
    seconds: float
    timed_out: bool = False

    def recap(self) -> dict:
        """The PLAY RECAP counters of localhost (default callback), or {}."""
        m = re.search(r"localhost\s*:\s*((?:\w+=\d+\s*)+)", self.output)
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))} if m else {}


class Playbook:
    """One ansible-playbook child: start(), then wait(timeout) or kill()."""

    def __init__(self, env: dict, log: Path):
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self, playbook: str, *args: str, extra_vars: dict | None = None, env: dict | None = None):
        cmd = [PLAYBOOK, "-i", "localhost,", "-c", "local", playbook, *args]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        self._out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 - closed in _finish
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env={**self.env, **(env or {})},
                                     cwd=REPO, start_new_session=True)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> Done:
        """SIGKILL the playbook's process group (ours: it was started in a new session), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        return self._finish(None)

    def group_gone(self, timeout: float = 10) -> bool:
        """True once no process of the playbook's group exists. The killed module processes are reaped by whoever
        adopted them (init), a moment after the playbook itself: until then they are zombies kill() still finds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def wait(self, timeout: float) -> Done:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            done = self.kill()
            done.timed_out = True
            return done
        return self._finish(rc)

    def _finish(self, rc):
        self._out.close()
        seconds = time.monotonic() - self.started
        # the module processes of a killed playbook: none may outlive it (same process group)
        return Done(rc, self.log.read_text(encoding="utf-8", errors="replace"), seconds)


def base_env(sandbox, collections_path) -> dict:
    env = dict(os.environ)
    env.update(sandbox.env)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, K8S_AUTH_KUBECONFIG=str(sandbox.kubeconfig),
               ANSIBLE_STDOUT_CALLBACK="default", MLOPS_K8S_GATEWAY_URL=gateway_url(sandbox))
    env.pop("ANSIBLE_CALLBACK_RESULT_FORMAT", None)
    return env


def gateway_url(sandbox) -> str:
    if sandbox.env.get("SANDBOX_SELDON_OPERATOR") != "1":
        pytest.skip("the sandbox does not run the Seldon operator (SANDBOX_SELDON_OPERATOR=1 missing from its env)")
    url = sandbox.env.get("MLOPS_K8S_GATEWAY_URL") or sandbox.env.get("AMBASSADOR_URL")
    if not url:
        pytest.skip("the sandbox exports no gateway URL (AMBASSADOR_URL)")
    return url


def run(env: dict, tmp: Path, playbook: str, *args: str, timeout: float = 300, extra_vars: dict | None = None,
        env_extra: dict | None = None, name: str = "run") -> Done:
    log = tmp / ("%s-%d.log" % (name, len(list(tmp.glob(name + "-*.log")))))
    return Playbook(env, log).start(playbook, *args, extra_vars=extra_vars, env=env_extra).wait(timeout)


def ok(done: Done) -> Done:
    assert done.rc == 0, "rc=%s timed_out=%s after %.0f s\n%s" % (
        done.rc, done.timed_out, done.seconds, done.output[-6000:])
    return done


_INSTALLED: set = set()


def install_platform(sandbox, env, tmp):
    """install_platform.yml once per sandbox (per xdist worker: each has its own sandbox)."""
    if sandbox.dir not in _INSTALLED:
        ok(run(env, tmp, INSTALL, timeout=600, name="install"))
        _INSTALLED.add(sandbox.dir)


def train(path: Path, seed: int = 0) -> Path:
    subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "train.py"), "--seed", str(seed), str(path)],
                   check=True, capture_output=True, timeout=300)
    return path


def objects(sandbox, path: str) -> list[dict]:
    code, _headers, body = sandbox.request("GET", path)
    assert code == 200, body[:300]
    return json.loads(body)["items"]


def inventory(sandbox, namespace: str) -> dict:
    """What the namespace holds, by kind: names (and uids) of what a deploy makes and what the controllers make."""
    paths = {"SeldonDeployment": SDEPS % namespace,
             "Secret": "/api/v1/namespaces/%s/secrets" % namespace,
             "Deployment": "/apis/apps/v1/namespaces/%s/deployments" % namespace,
             "ReplicaSet": "/apis/apps/v1/namespaces/%s/replicasets" % namespace,
             "Pod": "/api/v1/namespaces/%s/pods" % namespace,
             "Service": "/api/v1/namespaces/%s/services" % namespace}
    out = {}
    for kind, path in paths.items():
        items = objects(sandbox, path)
        if kind == "Pod":
            items = [i for i in items if not i["metadata"].get("deletionTimestamp")
                     and (i.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        out[kind] = sorted((i["metadata"]["name"], i["metadata"]["uid"]) for i in items)
    return out
