"""apply, info and wait against a live API server: server-side apply create/update, check mode as a server dry
run, diff, a field-manager conflict and force, an unchanged re-run with zero writes, list with selectors, a wait
for an object that does not exist yet. API level only, so it runs on both control planes."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(600)]
NS = "core-modules-%s" % uuid.uuid4().hex[:6]


def play(*tasks):
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}], sort_keys=False)


def task(title, module, /, **args):
    return {"name": title, module: args}


def run_ok(run_playbook, playbook, *args):
    run = run_playbook(playbook, *args)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


def config_map(data, labels=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": NS, "labels": labels or {"app": "iris"}}, "data": data}


@pytest.fixture(scope="module")
def namespace(sandbox):
    sandbox.kubectl("create", "namespace", NS)
    return NS


def test_apply_check_create_diff_rerun_update(namespace, sandbox, run_playbook):
    apply = task("apply", "mlops.k8s.apply", definition=config_map({"threshold": "0.5"}))
    mark = sandbox.audit_mark()
    checked = run_ok(run_playbook, play(apply), "--check", "--diff").task("apply")
    assert checked["changed"] is True and checked["results"][0]["action"] == "created"
    assert not sandbox.writes(mark)
    assert sandbox.kubectl("-n", NS, "get", "configmap", "settings", check=False).returncode != 0

    created = run_ok(run_playbook, play(apply)).task("apply")
    assert created["results"][0]["action"] == "created"
    shown = sandbox.kubectl("-n", NS, "get", "configmap", "settings", "-o", "yaml", "--show-managed-fields")
    live = yaml.safe_load(shown.stdout)
    managers = {m["manager"]: m["operation"] for m in live["metadata"]["managedFields"]}
    assert managers == {"mlops.k8s": "Apply"}

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(apply)).task("apply")
    assert again["changed"] is False and again["results"][0]["action"] == "unchanged"
    assert not sandbox.writes(mark), sandbox.writes(mark)

    update = task("apply", "mlops.k8s.apply", definition=config_map({"threshold": "0.7"}))
    mark = sandbox.audit_mark()
    diffed = run_ok(run_playbook, play(update), "--check", "--diff").task("apply")
    assert diffed["changed"] is True and diffed["results"][0]["action"] == "configured"
    diff = diffed["diff"][0]
    assert diff["before"]["data"] == {"threshold": "0.5"} and diff["after"]["data"] == {"threshold": "0.7"}
    assert not sandbox.writes(mark)
    assert run_ok(run_playbook, play(update)).task("apply")["results"][0]["action"] == "configured"
    assert sandbox.kubectl("-n", NS, "get", "configmap", "settings", "-o",
                           "jsonpath={.data.threshold}").stdout == "0.7"


def test_conflict_with_another_manager_then_force(namespace, sandbox, run_playbook):
    sandbox.kubectl("-n", NS, "create", "configmap", "owned", "--from-literal=mode=fast")
    sandbox.kubectl("-n", NS, "apply", "--server-side", "--field-manager=team-b", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": NS},
         "data": {"mode": "fast"}}))
    ours = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": NS},
            "data": {"mode": "safe"}}
    mark = sandbox.audit_mark()
    failed = run_playbook(play(task("apply", "mlops.k8s.apply", definition=ours)))
    assert failed.rc != 0
    msg = failed.task("apply")["msg"]
    assert "conflict" in msg.lower() and "team-b" in msg and ".data.mode" in msg, msg
    assert "force_conflicts" in msg
    assert not sandbox.writes(mark)
    forced = run_ok(run_playbook, play(task("apply", "mlops.k8s.apply", definition=ours, force_conflicts=True)))
    assert forced.task("apply")["results"][0]["action"] == "configured"
    assert sandbox.kubectl("-n", NS, "get", "configmap", "owned", "-o", "jsonpath={.data.mode}").stdout == "safe"


def test_info_lists_with_selectors_and_masks_secrets(namespace, sandbox, run_playbook):
    sandbox.kubectl("-n", NS, "create", "configmap", "other", "--from-literal=a=b")
    sandbox.kubectl("-n", NS, "label", "configmap", "other", "app=other")
    sandbox.kubectl("-n", NS, "create", "secret", "generic", "creds", "--from-literal=key=s3cr3t-value")
    run = run_ok(run_playbook, play(
        task("by label", "mlops.k8s.info", kind="ConfigMap", namespace=NS, label_selectors=["app=other"]),
        task("by field", "mlops.k8s.info", kind="ConfigMap", namespace=NS,
             field_selectors=["metadata.name=other"]),
        task("secret", "mlops.k8s.info", kind="Secret", namespace=NS, name="creds"),
        task("missing", "mlops.k8s.info", kind="ConfigMap", namespace=NS, name="nope")))
    assert [r["metadata"]["name"] for r in run.task("by label")["resources"]] == ["other"]
    assert [r["metadata"]["name"] for r in run.task("by field")["resources"]] == ["other"]
    assert run.task("missing")["resources"] == []
    assert "s3cr3t-value" not in run.stdout and "czNjcjN0LXZhbHVl" not in run.stdout  # nor its base64


def test_wait_for_an_object_that_does_not_exist_yet(namespace, sandbox, run_playbook, ansible_env, tmp_path):
    """What kubernetes.core cannot do: wait until an object exists (an operator has not created it yet)."""
    playbook = tmp_path / "wait.yml"
    playbook.write_text(play(task("exists", "mlops.k8s.wait", kind="ConfigMap", namespace=NS, name="later",
                                  **{"for": "exists"}, timeout=60),
                             task("value", "mlops.k8s.wait", kind="ConfigMap", namespace=NS, name="later",
                                  **{"for": "jsonpath"}, jsonpath="{.data.ready}", value="yes", timeout=60)))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
    mark = sandbox.audit_mark()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ansible_env)
    try:
        # the module has looked for the object (a GET or a list by name in the audit log) and not found it
        path = "/api/v1/namespaces/%s/configmaps" % NS
        deadline = time.monotonic() + 60
        while not any(e["path"] == path + "/later" or (e["path"] == path and "later" in e["query"])
                      for e in sandbox.audit(mark)):
            assert time.monotonic() < deadline and proc.poll() is None, "the wait never looked for the object"
            time.sleep(0.1)
        assert proc.poll() is None
        sandbox.kubectl("-n", NS, "create", "configmap", "later", "--from-literal=ready=no")
        sandbox.kubectl("-n", NS, "patch", "configmap", "later", "-p", '{"data": {"ready": "yes"}}')
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, stdout[-4000:] + stderr[-2000:]
