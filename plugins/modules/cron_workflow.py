#!/usr/bin/python
# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cron_workflow
short_description: Create, update, suspend or delete an Argo CronWorkflow, and optionally run it now
version_added: 0.1.0
author: mlops.k8s maintainers (@mlops-k8s)
description:
  - Builds an Argo Workflows C(argoproj.io/v1alpha1) C(CronWorkflow) from friendly options (schedule, time zone,
    concurrency policy, history limits, suspension, and the Workflow to run as a O(workflow_spec) or a
    O(workflow_template) with O(parameters)), or takes a whole O(definition), and applies it with server-side apply
    (field manager C(mlops.k8s)).
  - An update is sent only when a server-side dry run differs from the live object, so a second run reports
    C(changed=false) and writes nothing.
  - The schedule is checked as the Argo controller parses it (5 fields or a C(@) descriptor) before anything is
    written; a bad schedule, time zone or policy fails the task with a clear message.
  - O(suspend=true) pauses the schedule and O(suspend=false) resumes it (C(argo cron suspend) / C(resume)).
  - With O(submit=true) it also submits one Workflow from the CronWorkflow now, exactly as
    M(mlops.k8s.argo_workflow) does with its O(mlops.k8s.argo_workflow#module:cron_workflow) option
    (C(argo submit --from cronwf/NAME)), and with O(wait=true) waits for it to finish.
options:
  name:
    description:
      - Name of the CronWorkflow (at most 52 characters). Required unless O(definition) has C(metadata.name);
        overrides it.
    type: str
  namespace:
    description: Namespace of the CronWorkflow. Defaults to C(metadata.namespace) of O(definition), then C(default).
    type: str
  state:
    description:
      - V(present) creates or updates the CronWorkflow, V(absent) deletes it (with O(wait=true) waiting until it is
        gone). Workflows it created are owned by it and are garbage-collected with it.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - A whole CronWorkflow, as a dictionary or a YAML string. Mutually exclusive with O(schedule),
        O(schedules), O(workflow_spec) and O(workflow_template); the other options override its fields.
    type: raw
  schedule:
    description:
      - When to run, a cron expression (C(minute hour day-of-month month day-of-week), lists, ranges, steps, month
        and day names, an optional C(CRON_TZ=Zone) prefix) or a descriptor (C(@hourly), C(@daily), C(@weekly),
        C(@monthly), C(@yearly), C(@every 1h30m)).
    type: str
  schedules:
    description:
      - Several schedules (C(spec.schedules)), each in the O(schedule) syntax. Mutually exclusive with O(schedule).
    type: list
    elements: str
  timezone:
    description:
      - IANA time zone of the schedule (C(spec.timezone)), for example C(Europe/Paris). Defaults to the controller's.
    type: str
  concurrency_policy:
    description:
      - What to do when a run is due while the previous one still runs (C(spec.concurrencyPolicy)).
      - V(Allow) runs both, V(Forbid) skips the new run, V(Replace) stops the old run.
    type: str
    choices: [Allow, Forbid, Replace]
  starting_deadline_seconds:
    description: How late (seconds) a missed run may still start (C(spec.startingDeadlineSeconds)), 0 or more.
    type: int
  successful_jobs_history_limit:
    description:
      - How many succeeded Workflows to keep (C(spec.successfulJobsHistoryLimit), Argo's default 3).
      - From 0 to 2147483647 (an int32).
    type: int
  failed_jobs_history_limit:
    description:
      - How many failed Workflows to keep (C(spec.failedJobsHistoryLimit), Argo's default 1).
      - From 0 to 2147483647 (an int32).
    type: int
  suspend:
    description:
      - V(true) suspends the schedule, V(false) resumes it.
      - When not given the CronWorkflow is not suspended (the spec is applied as a whole), unless O(definition)
        says so.
    type: bool
  workflow_spec:
    description: The Workflow spec to run (C(spec.workflowSpec)). Mutually exclusive with O(workflow_template).
    type: dict
  workflow_template:
    description: Run this WorkflowTemplate (C(spec.workflowSpec.workflowTemplateRef.name)).
    type: str
  cluster_scope:
    description: O(workflow_template) names a C(ClusterWorkflowTemplate).
    type: bool
    default: false
  parameters:
    description:
      - Parameters of the scheduled Workflows, name to value, merged over C(workflowSpec.arguments.parameters).
        Values become strings (booleans as C(true)/C(false), lists and dictionaries as JSON).
    type: dict
  entrypoint:
    description: Template the scheduled Workflows start from (C(workflowSpec.entrypoint)).
    type: str
  service_account:
    description: Service account of the scheduled Workflows' pods (C(workflowSpec.serviceAccountName)).
    type: str
  labels:
    description: Labels of the CronWorkflow.
    type: dict
  submit:
    description:
      - Also submit one Workflow from the CronWorkflow now (generateName C(<name>-)); the task then always reports
        C(changed=true). In check mode the Workflow is validated with a server dry run.
    type: bool
    default: false
  wait:
    description:
      - With O(submit=true), wait until the submitted Workflow has finished; a C(Failed) or C(Error) Workflow fails
        the task with the explanation (as M(mlops.k8s.argo_workflow) does).
      - With O(state=absent), wait until the CronWorkflow is gone.
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait in total, from 0 to 31622400 (a year).
    type: int
    default: 600
  field_manager:
    description: The field manager that owns the applied fields.
    type: str
    default: mlops.k8s
  force_conflicts:
    description:
      - Take ownership of fields another field manager changed (for example C(argo cron suspend)) instead of
        failing on a conflict.
    type: bool
    default: false
extends_documentation_fragment:
  - mlops.k8s.k8s_auth
attributes:
  check_mode:
    description:
      - The apply (or delete, or the O(submit) create) is sent with C(dryRun=All), so the API server validates it and
        nothing is written.
      - When the CronWorkflow CRD is not installed, check mode warns and reports the CronWorkflow as to be created.
    support: full
  diff_mode:
    description: Shows the CronWorkflow before and after.
    support: full
notes:
  - Argo's own expressions (C({{inputs.parameters.who}}), C({{steps.train.outputs.parameters.uri}})) in a spec or
    definition must be kept from Ansible's templating (tag the values C(!unsafe), wrap them in
    C({% raw %}...{% endraw %}), or read the Workflow from a file with C(lookup('ansible.builtin.file', ...))).
seealso:
  - module: mlops.k8s.argo_workflow
  - name: Argo CronWorkflows
    description: Argo Workflows documentation of the CronWorkflow resource.
    link: https://argo-workflows.readthedocs.io/en/release-3.5/cron-workflows/
"""

EXAMPLES = r"""
- name: Retrain every night at 03:00 Paris time from a WorkflowTemplate
  mlops.k8s.cron_workflow:
    name: nightly-train
    namespace: models
    schedule: "0 3 * * *"
    timezone: Europe/Paris
    concurrency_policy: Forbid
    successful_jobs_history_limit: 3
    failed_jobs_history_limit: 2
    workflow_template: train-deploy
    parameters:
      model_name: iris
    service_account: workflow

- name: Suspend it during the migration
  mlops.k8s.cron_workflow:
    name: nightly-train
    namespace: models
    schedule: "0 3 * * *"
    timezone: Europe/Paris
    concurrency_policy: Forbid
    successful_jobs_history_limit: 3
    failed_jobs_history_limit: 2
    workflow_template: train-deploy
    parameters:
      model_name: iris
    service_account: workflow
    suspend: true

- name: An inline workflow, and one run right now that the task waits for
  mlops.k8s.cron_workflow:
    name: cleanup
    namespace: models
    schedule: "@hourly"
    workflow_spec:
      entrypoint: main
      templates:
        - name: main
          container:
            image: busybox
            command: [sh, -c, "echo cleaning up"]
    submit: true
  register: cleanup

- name: Apply a definition from a file
  mlops.k8s.cron_workflow:
    definition: "{{ lookup('ansible.builtin.file', 'cron/etl.yaml') }}"
    namespace: data

- name: Remove it
  mlops.k8s.cron_workflow:
    name: cleanup
    namespace: models
    state: absent
"""

RETURN = r"""
action:
  description: What happened to the CronWorkflow (or would happen in check mode).
  returned: always
  type: str
  choices: [created, configured, unchanged, deleted, absent]
  sample: configured
cron_workflow:
  description: The CronWorkflow as the API server returned it, without C(managedFields).
  returned: when O(state=present)
  type: dict
workflow:
  description: The Workflow submitted with O(submit=true) (after the wait).
  returned: when O(submit=true)
  type: dict
outputs:
  description: Output parameters of the submitted Workflow, name to value.
  returned: when O(submit=true)
  type: dict
explanation:
  description: Why the submitted Workflow failed or did not finish in time (see M(mlops.k8s.argo_workflow)).
  returned: on failure of the wait
  type: dict
"""

from ansible_collections.mlops.k8s.plugins.module_utils import argo, argo_schedule
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import Manifest
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule
from ansible_collections.mlops.k8s.plugins.module_utils.service import apply_manifest, make_diff


def argument_spec():
    return {
        "name": {"type": "str"},
        "namespace": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "definition": {"type": "raw"},
        "schedule": {"type": "str"},
        "schedules": {"type": "list", "elements": "str"},
        "timezone": {"type": "str"},
        "concurrency_policy": {"type": "str", "choices": list(argo_schedule.CONCURRENCY_POLICIES)},
        "starting_deadline_seconds": {"type": "int"},
        "successful_jobs_history_limit": {"type": "int"},
        "failed_jobs_history_limit": {"type": "int"},
        "suspend": {"type": "bool"},
        "workflow_spec": {"type": "dict"},
        **argo.submit_options_spec(),
        "submit": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 600},
        "field_manager": {"type": "str", "default": "mlops.k8s"},
        "force_conflicts": {"type": "bool", "default": False},
    }


def absent(module):
    params = module.params
    name, namespace = argo.name_to_delete(params, argo.CRON_WORKFLOW)
    return argo.delete(module.client, argo.CRON_WORKFLOW, name, namespace, propagation_policy="Background",
                       check_mode=module.check_mode, want_diff=module.diff_mode, wait=params["wait"],
                       wait_timeout=params["wait_timeout"])


def apply_cron(module, cron):
    params = module.params
    resource = argo.served_resource(module.client, argo.CRON_WORKFLOW, module.check_mode, module.warn)
    if resource is None:  # check mode without the CRD
        out = {"changed": True, "action": "created", "cron_workflow": cron}
        if module.diff_mode:
            out["diff"] = make_diff(None, cron)
        return out, False
    manifest = Manifest(cron, "definition" if params["definition"] is not None else "options")
    manifest.resource = resource
    result = apply_manifest(module.client, manifest, check_mode=module.check_mode,
                            field_manager=params["field_manager"], force_conflicts=params["force_conflicts"],
                            want_diff=module.diff_mode)
    out = {"changed": result["changed"], "action": result["action"], "cron_workflow": result["object"] or cron}
    if result.get("diff") is not None:
        out["diff"] = result["diff"]
    return out, True


def submit_now(module, cron_obj):
    """One Workflow from the CronWorkflow, through the same code as argo_workflow's cron_workflow source."""
    params = module.params
    wf = argo.workflow_from_cron(cron_obj)
    argo.validate_workflow(wf)
    result = argo.submit(module.client, wf, check_mode=module.check_mode, warn=module.warn)
    return argo.wait_and_report(module.client, result, wait=params["wait"], wait_timeout=params["wait_timeout"],
                                check_mode=module.check_mode)


def run(module):
    params = module.params
    if params["wait_timeout"] < 0:
        raise K8sError("wait_timeout must be >= 0")
    if params["state"] == "absent":
        return absent(module)
    cron = argo_schedule.build_cron_workflow(params)
    out, served = apply_cron(module, cron)
    if not params["submit"]:
        return out
    out["changed"] = True
    if not served or (module.check_mode and out["action"] == "created"):
        # the CronWorkflow is not there to own a Workflow: report the one that would be submitted
        out["workflow"] = argo.workflow_from_cron(out["cron_workflow"])
        out["outputs"] = {}
        return out
    try:
        submitted = submit_now(module, out["cron_workflow"])
    except argo.ArgoError as err:
        failed = dict(out, workflow=err.result.get("workflow"), outputs=err.result.get("outputs") or {},
                      phase=err.result.get("phase"), nodes=err.result.get("nodes") or [])
        failed.pop("diff", None)
        module.fail_json(msg=err.msg, reason=err.reason, explanation=err.explanation, **failed)
    out["workflow"] = submitted["workflow"]
    out["outputs"] = submitted.get("outputs") or {}
    return out


def main():
    module = K8sAnsibleModule(
        argument_spec=argument_spec(),
        requires_yaml=True,
        mutually_exclusive=[("definition", "schedule"), ("definition", "schedules"), ("definition", "workflow_spec"),
                            ("definition", "workflow_template"), ("schedule", "schedules"),
                            ("workflow_spec", "workflow_template")],
        required_one_of=[("name", "definition")],
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
