"""The mlops.k8s.train_deploy role on the session sandbox, with real ansible-playbook runs.

The platform is installed (playbooks/install_platform.yml), the iris training image loaded into the sandbox
(`python -m sandbox load-image`, as `kind load` would), then: present (volume, service account, WorkflowTemplate,
a run whose train step writes the model onto the volume and whose deploy step serves it until Available, a real
prediction through the gateway), a second run (changed=0, no write request), check mode (nothing written, even
with a changed template), a changed template (a new run), a schedule (a CronWorkflow, removed with the schedule),
a training image that is not there (the role fails with the reason; the same play runs again once it is
loaded), and absent (everything but the volume gone).
Needs the sandbox's Argo controller and Seldon operator.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = str(REPO / "playbooks" / "install_platform.yml")
IMAGE = "ghcr.io/mlops-k8s/iris-train:0.1.0"
NAMESPACE = "train-deploy-it-%s" % uuid.uuid4().hex[:6]
NAME = "iris-td"
TEMPLATE = NAME + "-train-deploy"
ARGO = "/apis/argoproj.io/v1alpha1/namespaces/%s/%s"
SDEP = "/apis/machinelearning.seldon.io/v1/namespaces/%s/seldondeployments/%s"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(1800)]

PLAYBOOK = """
- name: The train_deploy role under test
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/mlops.k8s.k8s:
      kubeconfig: "{{ lookup('ansible.builtin.env', 'K8S_AUTH_KUBECONFIG') }}"
  tasks:
    - name: Prepare the namespace
      ansible.builtin.include_role:
        name: mlops.k8s.model_namespace
      vars:
        model_namespace_name: "{{ train_deploy_namespace }}"
      when: train_deploy_state | default('present') == 'present'

    - name: Train and deploy
      ansible.builtin.include_role:
        name: mlops.k8s.train_deploy

    - name: Show the result
      ansible.builtin.debug:
        var: train_deploy_result
"""


def find(run, prefix: str) -> dict:
    """The last task whose name starts with prefix, without the "role : " part (names carry templated suffixes)."""
    matches = [t for t in run.tasks() if t["_task"].split(" : ", 1)[-1].startswith(prefix)]
    assert matches, "no task starting with %r; have %s" % (prefix, [t["_task"] for t in run.tasks()])
    return matches[-1]


def ok(run):
    assert run.rc == 0, run.stdout[-10000:] + run.stderr[-4000:]
    return run


def changed_tasks(run) -> list[str]:
    return [t["_task"] for t in run.tasks() if t.get("changed")]


def result(run) -> dict:
    return find(run, "Show the result")["train_deploy_result"]


def get(sandbox, path: str) -> tuple[int, dict]:
    status, _headers, body = sandbox.request("GET", path)
    return status, (json.loads(body) if status == 200 else {})


@pytest.fixture(scope="module")
def gateway(sandbox) -> str:
    if sandbox.env.get("SANDBOX_ARGO_CONTROLLER") != "1":
        pytest.skip("the sandbox runs no Argo Workflows controller (SANDBOX_ARGO_CONTROLLER=1 missing from its env)")
    if sandbox.env.get("SANDBOX_SELDON_OPERATOR") != "1":
        pytest.skip("the sandbox does not run the Seldon operator (SANDBOX_SELDON_OPERATOR=1 missing from its env)")
    url = sandbox.env.get("MLOPS_K8S_GATEWAY_URL") or sandbox.env.get("AMBASSADOR_URL")
    if not url:
        pytest.skip("the sandbox exports no gateway URL (AMBASSADOR_URL)")
    return url


_READY: list = []


@pytest.fixture
def play(sandbox, gateway, run_playbook, tmp_path):
    """The platform installed and the training image loaded (once per module); returns a runner of the role."""
    if not _READY:
        ok(run_playbook(INSTALL))
        subprocess.run([sys.executable, "-m", "sandbox", "load-image", IMAGE, str(REPO / "examples" / "iris"),
                        "--dir", str(sandbox.dir)], check=True, capture_output=True, cwd=REPO, timeout=120)
        _READY.append(True)
    path = tmp_path / "train_deploy.yml"
    path.write_text(PLAYBOOK)

    def run(*args, **extra_vars):
        base = {"train_deploy_name": NAME, "train_deploy_namespace": NAMESPACE, "train_deploy_wait_timeout": 300,
                "train_deploy_deploy_timeout": 300}
        return run_playbook(str(path), *args, extra_vars={**base, **extra_vars},
                            env={"MLOPS_K8S_GATEWAY_URL": gateway})

    return run


def test_present_rerun_check_mode_and_absent(sandbox, play, gateway):
    smoke = {"train_deploy_smoke_data": ROWS, "train_deploy_smoke_expected": {"shape": [3, 3]}}
    run = ok(play(**smoke))
    for prefix in ("Create or update the model volume", "Create or update the workflow's service account",
                   "Apply the WorkflowTemplate", "Run the WorkflowTemplate"):
        assert find(run, prefix)["changed"] is True, prefix
    res = result(run)
    workflow = res["workflow"]
    assert workflow.startswith(TEMPLATE + "-") and len(workflow) == len(TEMPLATE) + 9
    assert res["phase"] == "Succeeded"
    # the train step wrote the model below the volume, in the run's own directory, and output its location
    assert res["model_location"] == "%s/%s" % (NAME, workflow)
    assert res["model_uri"] == "pvc://%s-models/%s/%s" % (NAME, NAME, workflow)
    assert res["outputs"].get("model-location", res["model_location"]) == res["model_location"]
    # the deploy step applied the SeldonDeployment, which serves that model and is Available
    status, sdep = get(sandbox, SDEP % (NAMESPACE, NAME))
    assert status == 200
    assert sdep["spec"]["predictors"][0]["graph"]["modelUri"] == res["model_uri"]
    assert sdep["spec"]["predictors"][0]["graph"]["implementation"] == "SKLEARN_SERVER"
    assert sdep["status"]["state"] == "Available"
    # a real prediction through the gateway: the right class for each row
    assert res["prediction_url"] == "%s/seldon/%s/%s/api/v1.0/predictions" % (gateway.rstrip("/"), NAMESPACE, NAME)
    output = res["prediction_output"]
    assert [row.index(max(row)) for row in output] == [0, 1, 2]  # setosa, versicolor, virginica
    # the objects: the template (run as the least-privilege service account), the run labelled for removal
    status, template = get(sandbox, ARGO % (NAMESPACE, "workflowtemplates/" + TEMPLATE))
    assert status == 200
    assert template["spec"]["serviceAccountName"] == NAME + "-train-deploy"
    assert [t["name"] for t in template["spec"]["templates"]] == ["train-and-deploy", "train", "deploy"]
    status, wf = get(sandbox, ARGO % (NAMESPACE, "workflows/" + workflow))
    assert status == 200 and wf["status"]["phase"] == "Succeeded"
    assert wf["metadata"]["labels"]["mlops.k8s/train-deploy"] == TEMPLATE
    status, _sa = get(sandbox, "/api/v1/namespaces/%s/serviceaccounts/%s-train-deploy" % (NAMESPACE, NAME))
    assert status == 200
    assert res["cron_workflow"] is None

    # a second run finds its run: nothing changed, nothing written, the prediction still answered
    mark = sandbox.audit_mark()
    again = ok(play(**smoke))
    assert again.stats["changed"] == 0, changed_tasks(again)
    assert sandbox.writes(mark) == []
    assert result(again)["workflow"] == workflow
    assert find(again, "Smoke prediction")["shape"] == [3, 3]

    # check mode: nothing to change, nothing written; with a changed template: a new run reported, still no write
    mark = sandbox.audit_mark()
    checked = ok(play("--check", **smoke))
    assert checked.stats["changed"] == 0, changed_tasks(checked)
    changed_check = ok(play("--check", train_deploy_train_env={"SEED": "1"}, **smoke))
    assert find(changed_check, "Apply the WorkflowTemplate")["changed"] is True
    assert find(changed_check, "Run the WorkflowTemplate")["changed"] is True
    assert find(changed_check, "Smoke prediction").get("skipped") is True
    assert sandbox.writes(mark) == []

    # a changed template trains and deploys again, as a new run into a new directory
    retrained = ok(play(train_deploy_train_env={"SEED": "1"}, **smoke))
    new = result(retrained)
    assert new["workflow"] != workflow and new["phase"] == "Succeeded"
    assert new["model_uri"] == "pvc://%s-models/%s/%s" % (NAME, NAME, new["workflow"])
    assert get(sandbox, SDEP % (NAMESPACE, NAME))[1]["spec"]["predictors"][0]["graph"]["modelUri"] == new["model_uri"]

    # absent: the runs, the template, the deployment and the service account go; the volume stays
    gone = ok(play(train_deploy_state="absent"))
    assert sorted(result(gone)["workflows_deleted"]) == sorted([workflow, new["workflow"]])
    for path in (ARGO % (NAMESPACE, "workflows/" + workflow), ARGO % (NAMESPACE, "workflows/" + new["workflow"]),
                 ARGO % (NAMESPACE, "workflowtemplates/" + TEMPLATE), SDEP % (NAMESPACE, NAME),
                 "/api/v1/namespaces/%s/serviceaccounts/%s-train-deploy" % (NAMESPACE, NAME)):
        assert get(sandbox, path)[0] == 404, path
    assert get(sandbox, "/api/v1/namespaces/%s/persistentvolumeclaims/%s-models" % (NAMESPACE, NAME))[0] == 200
    twice = ok(play(train_deploy_state="absent"))
    assert twice.stats["changed"] == 0, changed_tasks(twice)
    # and with train_deploy_delete_pvc the volume goes too
    ok(play(train_deploy_state="absent", train_deploy_delete_pvc=True))
    assert get(sandbox, "/api/v1/namespaces/%s/persistentvolumeclaims/%s-models" % (NAMESPACE, NAME))[0] == 404


def test_schedule_creates_and_removes_a_cron_workflow(sandbox, play):
    name = "iris-cron"
    schedule = {"train_deploy_name": name, "train_deploy_run": False, "train_deploy_schedule": "0 3 * * *",
                "train_deploy_timezone": "Europe/Paris"}
    run = ok(play(**schedule))
    assert find(run, "Schedule the WorkflowTemplate")["changed"] is True
    assert result(run)["cron_workflow"] == name + "-train-deploy"
    status, cron = get(sandbox, ARGO % (NAMESPACE, "cronworkflows/%s-train-deploy" % name))
    assert status == 200
    spec = cron["spec"]
    assert (spec.get("schedule") or spec.get("schedules")[0]) == "0 3 * * *"
    assert spec["timezone"] == "Europe/Paris"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["workflowSpec"]["workflowTemplateRef"]["name"] == name + "-train-deploy"
    # no run was asked for: no Workflow, no SeldonDeployment
    assert get(sandbox, SDEP % (NAMESPACE, name))[0] == 404

    again = ok(play(**schedule))
    assert again.stats["changed"] == 0, changed_tasks(again)

    # no schedule any more: the CronWorkflow is deleted
    unscheduled = ok(play(**{**schedule, "train_deploy_schedule": ""}))
    assert find(unscheduled, "Schedule the WorkflowTemplate")["changed"] is True
    assert get(sandbox, ARGO % (NAMESPACE, "cronworkflows/%s-train-deploy" % name))[0] == 404

    ok(play(train_deploy_name=name, train_deploy_state="absent", train_deploy_delete_pvc=True))
    assert get(sandbox, ARGO % (NAMESPACE, "workflowtemplates/%s-train-deploy" % name))[0] == 404


def test_missing_training_image_fails_with_the_reason_then_runs_again(sandbox, play):
    name, image = "iris-noimage", "registry.invalid/nothing/train:1"
    settings = {"train_deploy_name": name, "train_deploy_train_image": image, "train_deploy_wait_timeout": 120}
    run = play(**settings)
    assert run.rc != 0
    failed = find(run, "Run the WorkflowTemplate")
    assert failed.get("failed") is True
    assert image in failed["msg"], failed["msg"]
    assert get(sandbox, SDEP % (NAMESPACE, name))[0] == 404
    # the image is there now: the same play submits the failed run again (same template, same name), and succeeds
    subprocess.run([sys.executable, "-m", "sandbox", "load-image", image, str(REPO / "examples" / "iris"),
                    "--dir", str(sandbox.dir)], check=True, capture_output=True, cwd=REPO, timeout=120)
    fixed = ok(play(**settings))
    assert result(fixed)["workflow"] == failed["workflow"]["metadata"]["name"]
    assert result(fixed)["phase"] == "Succeeded"
    assert get(sandbox, SDEP % (NAMESPACE, name))[1]["status"]["state"] == "Available"
    ok(play(train_deploy_name=name, train_deploy_state="absent", train_deploy_delete_pvc=True))
