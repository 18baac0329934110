"""SeldonDeployment, Workflow and CronWorkflow objects written by the collection's modules against the CRDs that the
seldon_core and argo_workflows roles install: check mode, apply, an idempotent re-run, delete. API level only (no
operator has to act, nothing is waited for), so it runs on both control planes: the emulator and the real one."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(900)]
NS = "crd-objects-%s" % uuid.uuid4().hex[:6]
HELLO = {"entrypoint": "main", "templates": [{"name": "main", "container": {
    "image": "docker.io/library/python:3.11-slim", "command": ["python", "-c", "print('hello')"]}}]}


def play(*tasks):
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}], sort_keys=False)


def task(title, module, /, register=None, **args):
    out = {"name": title, module: args}
    if register:
        out["register"] = register
    return out


def run_ok(run_playbook, playbook, *args):
    run = run_playbook(playbook, *args)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


def assert_no_writes(sandbox, mark, what):
    writes = sandbox.writes(mark)
    assert not writes, "%s wrote: %s" % (what, [(w["method"], w["path"]) for w in writes][:10])


@pytest.fixture
def crds(run_playbook, tmp_path):
    """Only the CRDs of the two roles (rendered by the roles' `render` entry point), and a namespace; applying
    them again (each test does) changes nothing."""
    out = tmp_path / "render"
    render = [{"name": "render %s" % role,
               "ansible.builtin.include_role": {"name": "mlops.k8s.%s" % role, "tasks_from": "render"},
               "vars": {"%s_render_dir" % role: str(out / role)}} for role in ("seldon_core", "argo_workflows")]
    run_ok(run_playbook, play(*render))
    files = sorted(str(p) for p in out.glob("*/*crds.yaml"))
    assert len(files) == 2, files
    apply = [task("crds %d" % i, "mlops.k8s.apply", src=f, wait=True, wait_timeout=120) for i, f in enumerate(files)]
    run_ok(run_playbook, play(*apply, task("ns", "mlops.k8s.namespace", name=NS)))
    return files


def test_seldon_deployment_check_apply_rerun_delete(crds, sandbox, run_playbook):
    predictors = [
        {"name": "default", "implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/1", "replicas": 1,
         "traffic": 75},
        {"name": "canary", "implementation": "SKLEARN_SERVER", "model_uri": "s3://models/iris/2", "traffic": 25}]
    deploy = task("sdep", "mlops.k8s.seldon_deployment", register="sdep", name="iris", namespace=NS,
                  predictors=predictors, wait=False)
    mark = sandbox.audit_mark()
    checked = run_ok(run_playbook, play(deploy), "--check", "--diff")
    assert checked.task("sdep")["changed"] is True
    assert_no_writes(sandbox, mark, "check mode")
    assert sandbox.kubectl("-n", NS, "get", "sdep", "iris", check=False).returncode != 0

    created = run_ok(run_playbook, play(deploy))
    assert created.task("sdep")["changed"] is True
    live = json.loads(sandbox.kubectl("-n", NS, "get", "sdep", "iris", "-o", "json").stdout)
    traffic = {p["name"]: p.get("traffic") for p in live["spec"]["predictors"]}
    assert traffic == {"default": 75, "canary": 25}
    assert live["spec"]["predictors"][0]["graph"]["modelUri"] == "s3://models/iris/1"

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(deploy))
    assert again.task("sdep")["changed"] is False
    assert_no_writes(sandbox, mark, "the second run")

    gone = task("gone", "mlops.k8s.seldon_deployment", name="iris", namespace=NS, state="absent")
    mark = sandbox.audit_mark()
    run_ok(run_playbook, play(gone), "--check")
    assert_no_writes(sandbox, mark, "check mode delete")
    assert sandbox.kubectl("-n", NS, "get", "sdep", "iris", check=False).returncode == 0
    assert run_ok(run_playbook, play(gone)).task("gone")["changed"] is True
    assert sandbox.kubectl("-n", NS, "get", "sdep", "iris", check=False).returncode != 0
    assert run_ok(run_playbook, play(gone)).task("gone")["changed"] is False


def test_workflow_and_cron_workflow_objects(crds, sandbox, run_playbook):
    submit = task("wf", "mlops.k8s.argo_workflow", name="hello", namespace=NS, spec=HELLO, wait=False)
    mark = sandbox.audit_mark()
    run_ok(run_playbook, play(submit), "--check")
    assert_no_writes(sandbox, mark, "check mode submit")
    assert run_ok(run_playbook, play(submit)).task("wf")["changed"] is True
    wf = json.loads(sandbox.kubectl("-n", NS, "get", "workflow", "hello", "-o", "json").stdout)
    assert wf["spec"]["entrypoint"] == "main"
    mark = sandbox.audit_mark()
    assert run_ok(run_playbook, play(submit)).task("wf")["changed"] is False
    assert_no_writes(sandbox, mark, "submitting the same named workflow again")

    cron = task("cron", "mlops.k8s.cron_workflow", name="nightly", namespace=NS, schedule="0 3 * * *",
                timezone="UTC", concurrency_policy="Forbid", workflow_spec=HELLO)
    mark = sandbox.audit_mark()
    run_ok(run_playbook, play(cron), "--check")
    assert_no_writes(sandbox, mark, "check mode of cron_workflow")
    assert run_ok(run_playbook, play(cron)).task("cron")["changed"] is True
    live = json.loads(sandbox.kubectl("-n", NS, "get", "cronworkflow", "nightly", "-o", "json").stdout)
    assert live["spec"]["concurrencyPolicy"] == "Forbid" and live["spec"]["timezone"] == "UTC"
    mark = sandbox.audit_mark()
    assert run_ok(run_playbook, play(cron)).task("cron")["changed"] is False
    assert_no_writes(sandbox, mark, "the second cron_workflow run")

    for title, module, name in (("wf gone", "mlops.k8s.argo_workflow", "hello"),
                                ("cron gone", "mlops.k8s.cron_workflow", "nightly")):
        gone = task(title, module, name=name, namespace=NS, state="absent")
        assert run_ok(run_playbook, play(gone)).task(title)["changed"] is True
        assert run_ok(run_playbook, play(gone)).task(title)["changed"] is False
