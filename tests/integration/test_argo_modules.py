"""argo_workflow and cron_workflow against the sandbox's Argo Workflows (real ansible-playbook runs).

The argo_workflows role installs the CRDs and the workflow-controller Deployment, which switches the sandbox's Argo
controller on; step containers run as local processes (``python:3.11`` with the host's Python). Skipped with the
reason when the sandbox has no Argo component.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from sandbox import components

REPO = Path(__file__).resolve().parents[2]
HAS_ARGO_COMPONENT = any("sandbox.argo" in spec for spec in components.COMPONENTS)

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not HAS_ARGO_COMPONENT,
                       reason="the sandbox has no Argo Workflows component yet (sandbox.components.COMPONENTS)"),
]

NAMESPACE = "argo-it-%s" % uuid.uuid4().hex[:6]
SA = "workflow"


class Unsafe(str):
    """A string Ansible must not template (Argo's own {{...}} expressions): dumped with the !unsafe tag."""


class PlaybookDumper(yaml.SafeDumper):
    pass


PlaybookDumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))


def protect(value):
    if isinstance(value, dict):
        return {k: protect(v) for k, v in value.items()}
    if isinstance(value, list):
        return [protect(v) for v in value]
    if isinstance(value, str) and "{{" in value:
        return Unsafe(value)
    return value


def play(*tasks, roles=None):
    tasks = [{k: protect(v) if k.startswith("mlops.k8s.") else v for k, v in t.items()} for t in tasks]
    item = {"hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if roles:
        item["roles"] = roles
    return yaml.dump([item], Dumper=PlaybookDumper, sort_keys=False)


def task(title, module, /, register=None, **args):
    out = {"name": title, module: {k: v for k, v in args.items() if v is not None}}
    if register:
        out["register"] = register
    return out


def show(expression):
    """A debug task showing a registered result's field (the json callback overwrites a result's `action`)."""
    return {"name": "show", "ansible.builtin.debug": {"msg": "{{ %s }}" % expression}}


def shown(run):
    return run.task("show")["msg"]


def run_ok(run_playbook, playbook, *args, **kwargs):
    run = run_playbook(playbook, *args, **kwargs)
    assert run.rc == 0, run.stdout[-8000:] + run.stderr[-4000:]
    return run


def assert_no_writes(sandbox, mark, what):
    writes = sandbox.writes(mark)
    assert not writes, "%s wrote to the API: %s" % (what, [(w["method"], w["path"]) for w in writes][:20])


def python_step(name, code, outputs=(), inputs=()):
    """A container template running Python code (the sandbox runs python:3.11 with the host's interpreter)."""
    template = {"name": name, "container": {"image": "python:3.11", "command": ["python", "-c", code]}}
    if outputs:
        template["outputs"] = {"parameters": [{"name": o, "valueFrom": {"path": "/tmp/%s" % o}} for o in outputs]}
    if inputs:
        template["inputs"] = {"parameters": [{"name": i} for i in inputs]}
    return template


HELLO = {
    "entrypoint": "main",
    "arguments": {"parameters": [{"name": "who", "value": "world"}]},
    "templates": [
        {"name": "main", "inputs": {"parameters": [{"name": "who"}]},
         "outputs": {"parameters": [{"name": "greeting", "valueFrom": {
             "parameter": "{{steps.greet.outputs.parameters.greeting}}"}}]},
         "steps": [[{"name": "greet", "template": "greet",
                     "arguments": {"parameters": [{"name": "who", "value": "{{inputs.parameters.who}}"}]}}]]},
        python_step("greet", "import sys; g = 'hello ' + sys.argv[1]; print(g); open('/tmp/greeting', 'w').write(g)",
                    outputs=("greeting",), inputs=("who",)),
    ],
}
HELLO["templates"][1]["container"]["args"] = ["{{inputs.parameters.who}}"]


@pytest.fixture(scope="module")
def argo_env(sandbox, ansible_env, tmp_path_factory):
    """The argo_workflows role, a namespace and a service account with the argo-workflow RBAC preset (once)."""
    if sandbox.env.get("SANDBOX_ARGO_CONTROLLER") != "1":
        pytest.skip("the sandbox does not run the Argo controller (SANDBOX_ARGO_CONTROLLER=1 missing from its env)")
    path = tmp_path_factory.mktemp("argo-setup") / "setup.yml"
    path.write_text(play(
        task("namespace", "mlops.k8s.namespace", name=NAMESPACE),
        task("service account for the steps", "mlops.k8s.service_account", name=SA, namespace=NAMESPACE,
             preset="argo-workflow"),
        roles=[{"role": "mlops.k8s.argo_workflows"}]))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(path)], capture_output=True, text=True, env=ansible_env, cwd=REPO, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    return {"namespace": NAMESPACE}


def workflow_task(title="run", register="wf", **args):
    args.setdefault("namespace", NAMESPACE)
    args.setdefault("service_account", SA)
    args.setdefault("wait_timeout", 180)
    return task(title, "mlops.k8s.argo_workflow", register=register, **args)


def test_submit_waits_returns_outputs_and_logs_then_is_idempotent(argo_env, sandbox, run_playbook):
    run = run_ok(run_playbook, play(workflow_task(name="hello", spec=HELLO, parameters={"who": "ansible"},
                                                  logs=True), show("wf.action")))
    result = run.task("run")
    assert result["changed"] is True and shown(run) == "created"
    assert result["phase"] == "Succeeded"
    assert result["outputs"] == {"greeting": "hello ansible"}
    assert result["duration"] >= 0
    greet = [n for n in result["nodes"] if n["display_name"] == "greet"]
    assert len(greet) == 1 and greet[0]["type"] == "Pod" and greet[0]["outputs"] == {"greeting": "hello ansible"}
    pod = sandbox.kubectl("get", "pod", greet[0]["pod_name"], "-n", NAMESPACE, "-o", "json", check=False)
    assert pod.returncode == 0, pod.stderr
    assert "hello ansible" in result["logs"]["greet"]

    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(workflow_task(name="hello", spec=HELLO, parameters={"who": "ansible"}),
                                      show("wf.action")))
    result = again.task("run")
    assert result["changed"] is False and shown(again) == "unchanged"
    assert result["phase"] == "Succeeded" and result["outputs"] == {"greeting": "hello ansible"}
    assert_no_writes(sandbox, mark, "the second run of the same Workflow")


def test_check_mode_sends_no_write(argo_env, sandbox, run_playbook):
    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, play(workflow_task(name="never-run", spec=HELLO), show("wf.action")), "--check",
                 "--diff")
    assert run.task("run")["changed"] is True and shown(run) == "created"
    assert_no_writes(sandbox, mark, "check mode")
    assert sandbox.kubectl("get", "workflow", "never-run", "-n", NAMESPACE, check=False).returncode != 0


def test_changed_parameters_resubmit(argo_env, sandbox, run_playbook):
    run_ok(run_playbook, play(workflow_task(name="again", spec=HELLO, parameters={"who": "one"})))
    uid = sandbox.kubectl("get", "workflow", "again", "-n", NAMESPACE, "-o", "jsonpath={.metadata.uid}").stdout
    never = run_playbook(play(workflow_task(name="again", spec=HELLO, parameters={"who": "two"}, recreate="never")))
    assert never.rc != 0
    assert "already exists with a different spec (differs in spec.arguments) and recreate=never" in \
        never.task("run")["msg"]
    run = run_ok(run_playbook, play(workflow_task(name="again", spec=HELLO, parameters={"who": "two"}),
                                    show("wf.action")))
    result = run.task("run")
    assert shown(run) == "recreated" and result["outputs"] == {"greeting": "hello two"}
    assert result["workflow"]["metadata"]["uid"] != uid


def test_failing_step_is_explained(argo_env, run_playbook):
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "prepare", "template": "ok"}], [{"name": "train", "template": "boom"}]]},
        python_step("ok", "print('prepared')"),
        python_step("boom", "import sys; print('loading data'); print('ValueError: bad data', file=sys.stderr); "
                            "sys.exit(3)"),
    ]}
    run = run_playbook(play(workflow_task(name="broken", spec=spec)))
    assert run.rc != 0
    result = run.task("run")
    msg = result["msg"]
    assert msg.startswith("Workflow %s/broken Failed: " % NAMESPACE), msg
    assert "failed step train" in msg and "exit code 3" in msg, msg
    assert "loading data" in msg, msg
    assert result["phase"] == "Failed"
    assert [s["display_name"] for s in result["explanation"]["steps"]] == ["train"]
    assert "Traceback" not in run.stdout


def test_image_that_cannot_be_pulled_is_explained(argo_env, run_playbook):
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "container": {"image": "registry.example.com/missing:1", "command": ["run"]}}]}
    run = run_playbook(play(workflow_task(name="no-image", spec=spec, wait_timeout=60)))
    assert run.rc != 0
    msg = run.task("run")["msg"]
    assert "is not loaded in the sandbox" in msg, msg


def test_from_workflow_template_with_parameters(argo_env, sandbox, run_playbook):
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
                "metadata": {"name": "greeter", "namespace": NAMESPACE},
                "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "who"}]},
                         "templates": HELLO["templates"]}}
    missing = run_playbook(play(
        task("template", "mlops.k8s.apply", definition=template),
        workflow_task(generate_name="greeter-run-", workflow_template="greeter")))
    assert missing.rc != 0
    assert missing.task("run")["msg"] == ("invalid Workflow: spec.arguments.parameters.who.value is required (give "
                                          "it in parameters)")
    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, play(workflow_task(workflow_template="greeter", parameters={"who": "template"})))
    result = run.task("run")
    assert result["changed"] is True and result["phase"] == "Succeeded"
    assert result["outputs"] == {"greeting": "hello template"}
    meta = result["workflow"]["metadata"]
    assert meta["name"].startswith("greeter-")
    assert meta["labels"]["workflows.argoproj.io/workflow-template"] == "greeter"
    posts = [w for w in sandbox.writes(mark) if w["method"] == "POST"]
    assert len(posts) == 1, posts


def cron_task(title="cron", register="cron", **args):
    args.setdefault("namespace", NAMESPACE)
    return task(title, "mlops.k8s.cron_workflow", register=register, **args)


def test_cron_workflow_lifecycle_and_submit(argo_env, sandbox, run_playbook):
    options = {"name": "nightly", "schedule": "0 3 * * *", "timezone": "UTC", "concurrency_policy": "Forbid",
               "successful_jobs_history_limit": 2, "workflow_spec": dict(HELLO, serviceAccountName=SA)}
    bad = run_playbook(play(cron_task(**{**options, "schedule": "0 27 * * *"})))
    assert bad.rc != 0
    assert "hour: end of range (27) above maximum (23)" in bad.task("cron")["msg"]
    assert sandbox.kubectl("get", "cronworkflow", "nightly", "-n", NAMESPACE, check=False).returncode != 0

    mark = sandbox.audit_mark()
    checked = run_ok(run_playbook, play(cron_task(**options)), "--check")
    assert checked.task("cron")["changed"] is True
    assert_no_writes(sandbox, mark, "check mode of cron_workflow")

    created = run_ok(run_playbook, play(cron_task(**options), show("cron.action")))
    assert created.task("cron")["changed"] is True and shown(created) == "created"
    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(cron_task(**options)))
    assert again.task("cron")["changed"] is False
    assert_no_writes(sandbox, mark, "the second run of cron_workflow")

    suspended = run_ok(run_playbook, play(cron_task(**dict(options, suspend=True)), show("cron.action")), "--diff")
    assert suspended.task("cron")["changed"] is True and shown(suspended) == "configured"
    assert sandbox.kubectl("get", "cronworkflow", "nightly", "-n", NAMESPACE, "-o",
                           "jsonpath={.spec.suspend}").stdout == "true"

    submitted = run_ok(run_playbook, play(cron_task(**dict(options, suspend=True, submit=True)),
                                          show("cron.action")))
    result = submitted.task("cron")
    assert result["changed"] is True and shown(submitted) == "unchanged"
    assert result["workflow"]["status"]["phase"] == "Succeeded"
    assert result["outputs"] == {"greeting": "hello world"}
    labels = result["workflow"]["metadata"]["labels"]
    assert labels["workflows.argoproj.io/cron-workflow"] == "nightly"
    assert result["workflow"]["metadata"]["ownerReferences"][0]["kind"] == "CronWorkflow"

    from_cron = run_ok(run_playbook, play(workflow_task(cron_workflow="nightly", service_account=None,
                                                        parameters={"who": "cron"})))
    result = from_cron.task("run")
    assert result["phase"] == "Succeeded" and result["outputs"] == {"greeting": "hello cron"}
    assert result["workflow"]["metadata"]["name"].startswith("nightly-")

    gone = run_ok(run_playbook, play(cron_task(name="nightly", state="absent"), show("cron.action")))
    assert shown(gone) == "deleted"
    assert sandbox.kubectl("get", "cronworkflow", "nightly", "-n", NAMESPACE, check=False).returncode != 0
    mark = sandbox.audit_mark()
    again = run_ok(run_playbook, play(cron_task(name="nightly", state="absent")))
    assert again.task("cron")["changed"] is False
    assert_no_writes(sandbox, mark, "deleting an absent CronWorkflow")


def test_absent_deletes_the_workflow_and_its_pods(argo_env, sandbox, run_playbook):
    run_ok(run_playbook, play(workflow_task(name="short-lived", spec=HELLO)))
    run = run_ok(run_playbook, play(workflow_task(name="short-lived", state="absent", spec=None), show("wf.action")))
    assert shown(run) == "deleted"
    assert sandbox.kubectl("get", "workflow", "short-lived", "-n", NAMESPACE, check=False).returncode != 0
    pods = sandbox.kubectl("get", "pods", "-n", NAMESPACE, "-l", "workflows.argoproj.io/workflow=short-lived",
                           "-o", "name").stdout.split()
    assert pods == []
