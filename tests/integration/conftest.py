"""Integration tests: run real `ansible-playbook` against the embedded sandbox.

The collection is made importable as `mlops.k8s` through a temporary collections path holding a
symlink to the checkout, so the tests exercise exactly the files in the tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sandbox.pytest_plugin import control_plane, running_sandbox

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config, items):
    """On the real control plane (MLOPS_CONTROL_PLANE=kube), a test marked `emulator_only` needs what only the
    emulator has (fault injection) or what the real server refuses the sandbox (the marker's reason says which):
    it is skipped with that reason. `hack/test.sh kube` deselects them instead.

    `make test` runs the real control plane's tier beside the emulator's and each integration test once: the
    emulator (MLOPS_INTEGRATION_ON_KUBE=1) keeps the `emulator_only` and `flow` tests, the real server
    (MLOPS_FLOW_ON_EMULATOR=1) all the others, whose subject is what the API server does."""
    here = Path(__file__).parent
    ours = [i for i in items if here in Path(str(i.path)).parents]
    if control_plane() != "kube":
        if os.environ.get("MLOPS_INTEGRATION_ON_KUBE") == "1":
            _deselect(config, items, [i for i in ours if not (i.get_closest_marker("emulator_only")
                                                              or i.get_closest_marker("flow"))])
        return
    if os.environ.get("MLOPS_FLOW_ON_EMULATOR") == "1":
        _deselect(config, items, [i for i in ours if i.get_closest_marker("flow")])
    for item in items:
        mark = item.get_closest_marker("emulator_only")
        if mark:
            why = mark.args[0] if mark.args else "a component that only the emulator runs"
            item.add_marker(pytest.mark.skip(reason=f"needs {why}; only the emulator provides it today"))


def _deselect(config, items, gone):
    if gone:
        config.hook.pytest_deselected(items=gone)
        drop = set(map(id, gone))
        items[:] = [i for i in items if id(i) not in drop]


def pytest_report_header(config):
    if control_plane() != "kube" and os.environ.get("MLOPS_INTEGRATION_ON_KUBE") == "1":
        return ("tests/integration: only the emulator_only and flow tests run here; the others run on the real "
                "control plane (MLOPS_INTEGRATION_ON_KUBE=1)")
    return None


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The collection's integration tests get a cluster of their own: the sandbox's conformance tests
    (tests/sandbox) install throw-away CRDs and operators that a real platform install would conflict with.
    MLOPS_CONTROL_PLANE=kube runs them on the real control plane instead of the emulator."""
    with running_sandbox(tmp_path_factory, "integration-sandbox", control_plane()) as handle:
        yield handle


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collections")
    target = root / "ansible_collections" / "mlops"
    target.mkdir(parents=True)
    (target / "k8s").symlink_to(REPO, target_is_directory=True)
    return root


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    data: dict = field(default_factory=dict)

    @property
    def stats(self) -> dict:
        """Per-host recap: ok, changed, failures, skipped, ..."""
        return self.data.get("stats", {}).get("localhost", {})

    def tasks(self) -> list[dict]:
        """Each task's result on localhost, in order, with the task name under `_task`."""
        out = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                res = dict(task.get("hosts", {}).get("localhost", {}))
                res["_task"] = task.get("task", {}).get("name", "")
                out.append(res)
        return out

    def task(self, name: str) -> dict:
        matches = [t for t in self.tasks() if t["_task"] == name]
        assert matches, f"no task named {name!r}; have {[t['_task'] for t in self.tasks()]}"
        return matches[-1]


@pytest.fixture(scope="session")
def ansible_env(sandbox, collections_path) -> dict:
    env = dict(os.environ)
    env.update(sandbox.env)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        K8S_AUTH_KUBECONFIG=str(sandbox.kubeconfig),
    )
    return env


@pytest.fixture
def run_playbook(ansible_env, tmp_path):
    """Run a playbook (a path, or YAML text / a list of plays) and return the parsed JSON callback output."""

    def run(playbook, *args: str, extra_vars: dict | None = None, env: dict | None = None) -> PlaybookRun:
        if isinstance(playbook, (list, dict)):
            text = yaml.safe_dump(playbook, sort_keys=False)
        elif isinstance(playbook, str) and "\n" in playbook:
            text = textwrap.dedent(playbook)
        else:
            text = None
        if text is not None:
            path = tmp_path / f"play-{len(list(tmp_path.glob('play-*.yml')))}.yml"
            path.write_text(text)
        else:
            path = Path(playbook)
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        cmd += list(args)
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**ansible_env, **(env or {})}, cwd=REPO, timeout=600, check=False
        )
        try:
            data = json.loads(proc.stdout[proc.stdout.index("{") :])
        except ValueError:
            data = {}
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, data)

    return run
