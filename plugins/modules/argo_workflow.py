#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: argo_workflow
short_description: Submit an Argo Workflow (or one from a template or CronWorkflow), wait, return outputs and logs
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Submits an Argo Workflows C(argoproj.io/v1alpha1) C(Workflow) from a whole O(definition), from a O(spec), from a
    C(WorkflowTemplate) or C(ClusterWorkflowTemplate) (O(workflow_template), like C(argo submit --from wftmpl/NAME))
    or from a C(CronWorkflow) (O(cron_workflow), like C(argo submit --from cronwf/NAME)), with the submit options
    of C(argo submit) (O(parameters), O(entrypoint), O(service_account), O(labels)).
  - A named Workflow is submitted once. When a Workflow with that name exists and has the same spec, nothing is
    written (C(changed=false)) and it is returned (and waited for with O(wait=true)); when its spec differs,
    O(recreate) decides.
  - With O(generate_name) (and by default for O(workflow_template) and O(cron_workflow) sources without a O(name))
    every run submits a new Workflow, as C(argo submit) does, so the task always reports C(changed=true).
  - With O(wait=true) it watches the Workflow until it has finished (C(Succeeded), C(Failed) or C(Error)) and
    returns its outputs, nodes and (with O(logs=true)) the logs of its steps. A C(Failed) or C(Error) Workflow
    fails the task with an explanation (the failed steps and their messages, their pods' container states, the
    last lines of their logs, recent warning events); a timeout fails with the phase and the steps still running.
  - Bad options (no or several sources, an invalid name, a missing template, a parameter without a value, an
    entrypoint that is not a template) fail before anything is written.
options:
  name:
    description:
      - Name of the Workflow. One of O(name) and O(generate_name) is needed unless the source gives one
        (C(metadata.name) or C(metadata.generateName) of O(definition)); O(workflow_template) and
        O(cron_workflow) sources default to the generateName C(<source name>-), as C(argo submit --from) does.
      - Overrides C(metadata.name) of O(definition).
    type: str
  generate_name:
    description:
      - Prefix of a name the API server completes; every run submits a new Workflow (like C(argo submit)).
        Mutually exclusive with O(name).
    type: str
  namespace:
    description: Namespace of the Workflow (and of its WorkflowTemplate or CronWorkflow). Defaults to C(default).
    type: str
  state:
    description:
      - V(present) submits the Workflow, V(absent) deletes the named Workflow (and its pods) and, with
        O(wait=true), waits until it is gone.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - A whole Workflow, as a dictionary or a YAML string.
      - Exactly one of O(definition), O(spec), O(workflow_template) and O(cron_workflow) is needed with
        O(state=present).
    type: raw
  spec:
    description: The Workflow spec (C(entrypoint), C(templates), C(arguments), ...).
    type: dict
  workflow_template:
    description:
      - Submit from this WorkflowTemplate (C(spec.workflowTemplateRef.name)); it must exist in O(namespace).
      - The Workflow is labelled C(workflows.argoproj.io/workflow-template) (or
        C(workflows.argoproj.io/cluster-workflow-template)).
    type: str
  cluster_scope:
    description: O(workflow_template) names a C(ClusterWorkflowTemplate).
    type: bool
    default: false
  cron_workflow:
    description:
      - Submit one Workflow from this CronWorkflow's C(workflowSpec) now, as C(argo submit --from cronwf/NAME), with
        the cron's C(workflowMetadata), the label C(workflows.argoproj.io/cron-workflow), the annotation
        C(workflows.argoproj.io/scheduled-time) and the CronWorkflow as controller owner (deleting the
        CronWorkflow deletes it).
    type: str
  parameters:
    description:
      - Workflow parameters, name to value, merged over the source's C(spec.arguments.parameters) (like
        C(argo submit -p name=value)). Values become strings (booleans as C(true)/C(false), lists and
        dictionaries as JSON).
    type: dict
  entrypoint:
    description: The template to start from (C(spec.entrypoint)), overriding the source's.
    type: str
  service_account:
    description: Service account of the Workflow's pods (C(spec.serviceAccountName)).
    type: str
  labels:
    description:
      - Labels of the Workflow. Labels missing on an existing Workflow with the same spec are added to it
        (C(changed=true)) without submitting it again.
    type: dict
  recreate:
    description:
      - What to do when a Workflow with O(name) exists.
      - V(on_change) deletes it (with its pods, waiting until it is gone) and submits it again when its spec
        differs from the desired one, and leaves it alone otherwise.
      - V(never) never replaces it; a different spec fails the task with the fields that differ.
      - V(always) deletes it and submits it again on every run (to run an unchanged Workflow again).
      - Not used with O(generate_name).
    type: str
    choices: [never, on_change, always]
    default: on_change
  wait:
    description:
      - Wait until the Workflow has finished (O(state=present)) or is gone (O(state=absent)).
      - A Workflow that ends C(Failed) or C(Error) fails the task with the explanation.
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait in total, from 0 to 31622400 (a year).
    type: int
    default: 600
  logs:
    description: Return the logs of the C(main) container of every step pod in RV(logs).
    type: bool
    default: false
  log_lines:
    description:
      - How many lines of each step's log to return (the last ones). Failure explanations show at most the last
        10 lines of a failed step.
    type: int
    default: 100
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description:
      - The create (and, for O(recreate), the delete) are sent with C(dryRun=All), so the API server validates the
        Workflow and nothing is written; nothing is waited for.
      - When the Workflow CRD, the WorkflowTemplate or the CronWorkflow does not exist yet, check mode warns and
        reports the Workflow as to be created.
    support: full
  diff_mode:
    description: Shows the Workflow before (an existing one with the same name) and after.
    support: full
notes:
  - Argo's own expressions (C({{inputs.parameters.who}}), C({{steps.train.outputs.parameters.uri}})) in a spec or
    definition must be kept from Ansible's templating (tag the values C(!unsafe), wrap them in
    C({% raw %}...{% endraw %}), or read the Workflow from a file with C(lookup('ansible.builtin.file', ...))).
  - Step logs are read from the API (C(kubectl logs POD -c main)); they are there as long as the step pods are.
  - Pod names are looked up from the pods' C(workflows.argoproj.io/node-id) annotations and otherwise derived as
    Argo 3.5 names pods (C(POD_NAMES=v2)).
seealso:
  - module: mlops.k8s.cron_workflow
  - name: Argo Workflows
    description: The Workflow, WorkflowTemplate and CronWorkflow resources.
    link: https://argo-workflows.readthedocs.io/en/release-3.5/
"""

EXAMPLES = r"""
- name: Run a one-step Workflow and read its output parameter
  mlops.k8s.argo_workflow:
    name: hello
    namespace: models
    spec:
      entrypoint: main
      templates:
        - name: main
          container:
            image: python:3.11
            command: [python, -c, "open('/tmp/answer', 'w').write('42')"]
          outputs:
            parameters:
              - name: answer
                valueFrom:
                  path: /tmp/answer
  register: hello

- name: Use it
  ansible.builtin.debug:
    msg: "{{ hello.outputs.answer }} after {{ hello.duration }}s"

- name: Submit a run of a WorkflowTemplate with parameters, and keep the step logs
  mlops.k8s.argo_workflow:
    generate_name: train-deploy-
    namespace: models
    workflow_template: train-deploy
    parameters:
      model_name: iris
      epochs: 10
    service_account: workflow
    logs: true
    wait_timeout: 1800
  register: run

- name: Run a CronWorkflow now (argo submit --from cronwf/nightly-train) without waiting
  mlops.k8s.argo_workflow:
    namespace: models
    cron_workflow: nightly-train
    wait: false

- name: Submit a Workflow from a file; submit it again only when the file changes
  mlops.k8s.argo_workflow:
    definition: "{{ lookup('ansible.builtin.file', 'workflows/etl.yaml') }}"
    namespace: data
    recreate: on_change

- name: Delete it (its pods go with it)
  mlops.k8s.argo_workflow:
    name: hello
    namespace: models
    state: absent
"""

RETURN = r"""
action:
  description: What happened (or would happen in check mode).
  returned: always
  type: str
  choices: [created, recreated, labelled, unchanged, deleted, absent]
  sample: created
workflow:
  description: The Workflow as the API server returned it (after the wait), without C(managedFields).
  returned: when O(state=present)
  type: dict
phase:
  description: C(status.phase) of the Workflow (C(Pending), C(Running), C(Succeeded), C(Failed), C(Error)), or null.
  returned: when O(state=present)
  type: str
  sample: Succeeded
outputs:
  description: The Workflow's output parameters (C(status.outputs.parameters)), name to value.
  returned: when O(state=present)
  type: dict
  sample: {"model_uri": "s3://models/iris/v3"}
nodes:
  description: The Workflow's nodes, in the order they started.
  returned: when O(state=present)
  type: list
  elements: dict
  contains:
    id:
      description: Node ID.
      type: str
    name:
      description: Full node name (C(workflow.step.substep)).
      type: str
    display_name:
      description: Short name of the step.
      type: str
    type:
      description: C(Pod), C(Steps), C(StepGroup), C(DAG), C(Retry), C(Skipped), C(Suspend), ...
      type: str
    phase:
      description: Phase of the node.
      type: str
    message:
      description: Why the node is in its phase, if the controller says.
      type: str
    template:
      description: Template the node runs.
      type: str
    pod_name:
      description: Name of the node's pod (C(Pod) nodes only).
      type: str
    outputs:
      description: Output parameters of the node, name to value.
      type: dict
    exit_code:
      description: Exit code of the step, when reported.
      type: str
    started_at:
      description: When the node started.
      type: str
    finished_at:
      description: When the node finished.
      type: str
  sample:
    - {"name": "hello", "display_name": "hello", "type": "Pod", "phase": "Succeeded", "template": "main",
       "pod_name": "hello", "outputs": {"answer": "42"}, "message": null}
logs:
  description: Last O(log_lines) lines of the C(main) container of each step pod, by step display name.
  returned: when O(logs=true) and not in check mode
  type: dict
  sample: {"train": "accuracy 0.97\n"}
duration:
  description: Seconds from C(status.startedAt) to C(status.finishedAt).
  returned: when the Workflow has finished
  type: float
  sample: 12.0
differences:
  description: The spec fields that differed from the existing Workflow when it was submitted again.
  returned: when RV(action=recreated)
  type: list
  elements: str
  sample: ["spec.arguments"]
explanation:
  description: Why the Workflow failed or did not finish in time (on failure only).
  returned: on failure of the wait
  type: dict
  contains:
    summary:
      description: One paragraph (the failure message).
      type: str
    steps:
      description:
        - The failed leaf steps (or, on a timeout, the steps still running) with their C(message), C(pod_name),
          C(issues) (container states) and the last lines of their C(log).
      type: list
      elements: dict
    events:
      description: Recent Warning events of the Workflow and those pods.
      type: list
      elements: str
"""

from ansible_collections.mlops.k8s.plugins.module_utils import argo
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.service import make_diff

SOURCES = ("definition", "spec", "workflow_template", "cron_workflow")


def argument_spec():
    return {
        "name": {"type": "str"},
        "generate_name": {"type": "str"},
        "namespace": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "definition": {"type": "raw"},
        "spec": {"type": "dict"},
        "cron_workflow": {"type": "str"},
        **argo.submit_options_spec(),
        "recreate": {"type": "str", "default": "on_change", "choices": list(argo.RECREATE)},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 600},
        "logs": {"type": "bool", "default": False},
        "log_lines": {"type": "int", "default": 100},
    }


def check_options(params):
    if params["wait_timeout"] < 0:
        raise K8sError("wait_timeout must be >= 0")
    if params["log_lines"] < 0:
        raise K8sError("log_lines must be >= 0")


def absent(module):
    params = module.params
    name, namespace = argo.name_to_delete(params, argo.WORKFLOW)
    return argo.delete_workflow(module.client, name, namespace, check_mode=module.check_mode,
                                want_diff=module.diff_mode, wait=params["wait"], wait_timeout=params["wait_timeout"])


def present(module):
    params = module.params
    if argo.source_of(params) != "cron_workflow":
        argo.build_workflow(params)  # the spec is checked before the kubeconfig is read: a broken one hides nothing
    client = module.client
    wf, verified = argo.prepare_workflow(client, params, check_mode=module.check_mode, warn=module.warn)
    if not verified:  # check mode only: the source does not exist yet
        out = {"changed": True, "action": "created", "workflow": wf, "phase": None, "outputs": {}, "nodes": []}
        if module.diff_mode:
            out["diff"] = make_diff(None, wf)
        return out
    result = argo.submit(client, wf, recreate=params["recreate"], check_mode=module.check_mode,
                         want_diff=module.diff_mode, delete_timeout=params["wait_timeout"], warn=module.warn)
    return argo.wait_and_report(client, result, wait=params["wait"], wait_timeout=params["wait_timeout"],
                                logs=params["logs"], log_lines=params["log_lines"], check_mode=module.check_mode)


def run(module):
    check_options(module.params)
    if module.params["state"] == "absent":
        return absent(module)
    try:
        return present(module)
    except argo.ArgoError as err:
        module.fail_json(msg=err.msg, reason=err.reason, explanation=err.explanation, **err.result)
    return None  # not reached


def main():
    module = K8sAnsibleModule(
        argument_spec=argument_spec(),
        requires_yaml=True,
        mutually_exclusive=[SOURCES, ("name", "generate_name")],
        required_if=[("state", "present", SOURCES, True)],
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
