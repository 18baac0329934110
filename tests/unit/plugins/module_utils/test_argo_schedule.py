"""Argo CronWorkflows: schedule and time zone validation, building and validating CronWorkflows."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import argo_schedule
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

SPEC = {"entrypoint": "main", "templates": [
    {"name": "main", "container": {"image": "busybox", "command": ["sh", "-c", "echo hi"]}}]}


def cron_params(**kwargs):
    base = {"name": "nightly", "namespace": "models", "definition": None, "schedule": "0 3 * * *",
            "schedules": None, "timezone": None, "concurrency_policy": None, "starting_deadline_seconds": None,
            "successful_jobs_history_limit": None, "failed_jobs_history_limit": None, "suspend": None,
            "workflow_spec": None, "workflow_template": "train", "cluster_scope": False, "parameters": None,
            "entrypoint": None, "service_account": None, "labels": None}
    base.update(kwargs)
    return base


# -- schedules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr", [
    "0 3 * * *", "*/5 * * * *", "0 0 1,15 * MON-FRI", "30 2 * jan-mar sun", "0 0-23/2 * * ?", "5/10 * * * *",
    "@hourly", "@daily", "@every 1h30m", "@every 90s", "CRON_TZ=Europe/Paris 0 3 * * *", "TZ=UTC @weekly",
])
def test_good_schedules(expr):
    assert argo_schedule.validate_schedule(expr) == expr


@pytest.mark.parametrize(("expr", "message"), [
    ("", "must be a cron expression"),
    ("0 3 * *", "expected exactly 5 fields (minute hour day-of-month month day-of-week), found 4"),
    ("0 3 * * * *", "found 6"),
    ("61 * * * *", "minute: end of range (61) above maximum (59)"),
    ("0 24 * * *", "hour: end of range (24) above maximum (23)"),
    ("0 0 0 * *", "day of month: beginning of range (0) below minimum (1)"),
    ("0 0 * 13 *", "month: end of range (13) above maximum (12)"),
    ("0 0 * * 7", "day of week: end of range (7) above maximum (6)"),
    ("0 0 * * mon-sun", "day of week: beginning of range (1) beyond end of range (0)"),
    ("*/0 * * * *", "step of range should be a positive number"),
    ("a * * * *", "minute: failed to parse int from a"),
    ("1-2-3 * * * *", "too many hyphens"),
    ("@often", "unrecognized descriptor @often"),
    ("@every soon", "failed to parse duration 'soon'"),
    ("CRON_TZ=Mars/Olympus 0 3 * * *", "not a known time zone"),
])
def test_bad_schedules(expr, message):
    with pytest.raises(K8sError) as err:
        argo_schedule.validate_schedule(expr)
    assert message in err.value.msg


def test_build_cron_workflow_from_options():
    cron = argo_schedule.build_cron_workflow(cron_params(
        timezone="Europe/Paris", concurrency_policy="Forbid", starting_deadline_seconds=60,
        successful_jobs_history_limit=2, failed_jobs_history_limit=1, suspend=True, parameters={"model": "iris"},
        service_account="runner", labels={"team": "ml"}))
    assert cron == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
        "metadata": {"name": "nightly", "namespace": "models", "labels": {"team": "ml"}},
        "spec": {"schedule": "0 3 * * *", "timezone": "Europe/Paris", "concurrencyPolicy": "Forbid",
                 "startingDeadlineSeconds": 60, "successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1,
                 "suspend": True,
                 "workflowSpec": {"workflowTemplateRef": {"name": "train"},
                                  "arguments": {"parameters": [{"name": "model", "value": "iris"}]},
                                  "serviceAccountName": "runner"}}}


def test_build_cron_workflow_from_definition_with_overrides():
    definition = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
                  "metadata": {"name": "etl", "namespace": "data"},
                  "spec": {"schedules": ["0 1 * * *", "0 13 * * *"], "workflowSpec": copy.deepcopy(SPEC)}}
    cron = argo_schedule.build_cron_workflow(cron_params(name=None, namespace=None, schedule=None,
                                                         workflow_template=None, definition=definition, suspend=True))
    assert cron["metadata"] == {"name": "etl", "namespace": "data"}
    assert cron["spec"]["schedules"] == ["0 1 * * *", "0 13 * * *"] and cron["spec"]["suspend"] is True


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"schedule": "0 25 * * *"}, "schedule '0 25 * * *': hour: end of range (25) above maximum (23)"),
    ({"schedule": None}, "a schedule (or schedules) is required"),
    ({"schedule": None, "schedules": ["@daily", "bad"]}, "schedules[1] 'bad': expected exactly 5 fields"),
    ({"timezone": "Nowhere/City"}, "timezone 'Nowhere/City' is not a known time zone"),
    ({"workflow_template": None}, "a workflow is required: give workflow_spec or workflow_template"),
    ({"workflow_template": None, "workflow_spec": {"entrypoint": "x", "templates": [{"name": "y"}]}},
     "workflowSpec.entrypoint 'x' is not one of the templates (y)"),
    ({"name": None}, "name is required"),
    ({"name": "x" * 53}, "longer than 52 characters"),
    ({"starting_deadline_seconds": -1}, "startingDeadlineSeconds must be a whole number from 0 to"),
    ({"workflow_template": None, "parameters": {"a": 1}}, "parameters, entrypoint and service_account need"),
])
def test_bad_cron_workflows(kwargs, message):
    with pytest.raises(K8sError) as err:
        argo_schedule.build_cron_workflow(cron_params(**kwargs))
    assert message in err.value.msg
