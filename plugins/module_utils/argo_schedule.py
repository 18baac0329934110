# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argo Workflows: CronWorkflows and their schedules.

A CronWorkflow from friendly options or a definition, with the schedule (and time zone) checked as the Argo
controller's cron parser checks it, before anything is written.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.mlops.k8s.plugins.module_utils import argo, limits
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")


# -- schedules ----------------------------------------------------------------------------------------------
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (field name, minimum, maximum, names) of the 5 standard fields, with the bounds of the controller's parser
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 6, _DAYS))
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|ms|s|m|h)"
                          r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|ms|s|m|h))*$")


def _cron_number(text, names):
    low = text.lower()
    if low in names:
        return names[low]
    if low.startswith("-") and low[1:].isdigit():
        raise ValueError("negative number (%s) not allowed" % text)
    if not low.isdigit():
        raise ValueError("failed to parse int from %s" % text)
    return int(low)


def _cron_range(expr, low, high, names):
    range_step = expr.split("/")
    if len(range_step) > 2:
        raise ValueError("too many slashes: %s" % expr)
    bounds = range_step[0].split("-")
    if len(bounds) > 2:
        raise ValueError("too many hyphens: %s" % expr)
    if bounds[0] in ("*", "?"):
        if len(bounds) > 1:
            raise ValueError("too many hyphens: %s" % expr)
        start, end = low, high
    else:
        start = _cron_number(bounds[0], names)
        end = _cron_number(bounds[1], names) if len(bounds) == 2 else start
    if len(range_step) == 2:
        if not range_step[1].isdigit():
            raise ValueError("failed to parse int from %s" % range_step[1])
        step = int(range_step[1])
        if step == 0:
            raise ValueError("step of range should be a positive number: %s" % expr)
        if len(bounds) == 1 and bounds[0] not in ("*", "?"):
            end = high  # N/step means N-max/step
    if start < low:
        raise ValueError("beginning of range (%d) below minimum (%d): %s" % (start, low, expr))
    if end > high:
        raise ValueError("end of range (%d) above maximum (%d): %s" % (end, high, expr))
    if start > end:
        raise ValueError("beginning of range (%d) beyond end of range (%d): %s" % (start, end, expr))


def validate_timezone(name, what="timezone"):
    """An IANA time zone name, checked against the local zone database when there is one."""
    if not isinstance(name, str) or not name.strip():
        raise K8sError("%s must be a time zone name such as Europe/Paris" % what)
    try:
        import zoneinfo
    except ImportError:  # pragma: no cover - Python < 3.9: the controller checks it
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if zoneinfo.available_timezones():  # without a zone database nothing can be said here
            raise K8sError("%s %r is not a known time zone (use an IANA name such as Europe/Paris or UTC)"
                           % (what, name)) from None


def validate_schedule(expr, what="schedule"):
    """Check a schedule as the controller's standard cron parser does: 5 fields (minute hour day-of-month month
    day-of-week; lists, ranges, steps, month and day names), an optional ``CRON_TZ=``/``TZ=`` prefix, or a
    descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every <duration>)."""
    if not isinstance(expr, str) or not expr.strip():
        raise K8sError("%s must be a cron expression such as '0 3 * * *' (got %r)" % (what, expr))
    text = expr.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        zone, _sep, text = text.partition(" ")
        validate_timezone(zone.split("=", 1)[1], "%s: time zone" % what)
        text = text.strip()
    if text.startswith("@"):
        if text in _DESCRIPTORS:
            return expr
        if text.startswith("@every "):
            duration = text[len("@every "):].strip()
            if _GO_DURATION.match(duration):
                return expr
            raise K8sError("%s %r: failed to parse duration %r (use a duration such as 1h30m)" % (what, expr, duration))
        raise K8sError("%s %r: unrecognized descriptor %s (use @yearly, @monthly, @weekly, @daily, @hourly or "
                       "@every <duration>)" % (what, expr, text.split()[0]))
    fields = text.split()
    if len(fields) != 5:
        raise K8sError("%s %r: expected exactly 5 fields (minute hour day-of-month month day-of-week), found %d"
                       % (what, expr, len(fields)))
    for value, (label, low, high, names) in zip(fields, _FIELDS):  # noqa: B905 - both have 5 items (checked above)
        try:
            for part in value.split(","):
                _cron_range(part, low, high, names)
        except ValueError as exc:
            raise K8sError("%s %r: %s: %s" % (what, expr, label, exc)) from None
    return expr


INT64_MAX = 2 ** 63 - 1  # startingDeadlineSeconds is an int64, the history limits are int32


# -- CronWorkflows ------------------------------------------------------------------------------------------
CRON_FIELDS = (
    # option, spec key
    ("timezone", "timezone"),
    ("concurrency_policy", "concurrencyPolicy"),
    ("starting_deadline_seconds", "startingDeadlineSeconds"),
    ("successful_jobs_history_limit", "successfulJobsHistoryLimit"),
    ("failed_jobs_history_limit", "failedJobsHistoryLimit"),
    ("suspend", "suspend"),
)


def build_cron_workflow(params):
    """The CronWorkflow to apply from the module options (a definition, the options overriding its fields)."""
    if params.get("definition") is not None:
        cron = argo.load_definition(params["definition"], argo.CRON_WORKFLOW)
    else:
        cron = argo.new_object(argo.CRON_WORKFLOW, {})
    spec = cron["spec"]
    if params.get("schedule") is not None:
        spec["schedule"] = params["schedule"]
        spec.pop("schedules", None)
    if params.get("schedules") is not None:
        spec["schedules"] = list(params["schedules"])
        spec.pop("schedule", None)
    for option, key in CRON_FIELDS:
        if params.get(option) is not None:
            spec[key] = params[option]
    if params.get("workflow_spec") is not None:
        if not isinstance(params["workflow_spec"], dict):
            raise K8sError("workflow_spec must be a mapping (a Workflow spec)")
        spec["workflowSpec"] = copy.deepcopy(params["workflow_spec"])
    elif params.get("workflow_template"):
        spec["workflowSpec"] = {"workflowTemplateRef": argo.template_ref(params["workflow_template"],
                                                                         params.get("cluster_scope"))}
    if isinstance(spec.get("workflowSpec"), dict):
        argo.apply_submit_options(spec["workflowSpec"], params.get("parameters"), params.get("entrypoint"),
                                  params.get("service_account"))
    elif any(params.get(k) for k in ("parameters", "entrypoint", "service_account")):
        raise K8sError("parameters, entrypoint and service_account need a workflow_spec or a workflow_template")
    meta = cron["metadata"]
    if params.get("name"):
        meta["name"] = params["name"]
    argo.set_namespace_and_labels(meta, params.get("namespace"), params.get("labels"))
    return validate_cron_workflow(cron)


def validate_cron_workflow(cron):
    """Raise K8sError listing what the Argo controller would reject (before anything is written)."""
    problems = []
    meta = cron.get("metadata") or {}
    spec = cron.get("spec") or {}
    if not meta.get("name"):
        problems.append("name is required (the definition has no metadata.name)")
    else:
        argo.check_names({"name": meta["name"], "namespace": meta.get("namespace")}, problems)
        if len(meta["name"]) > 52:
            problems.append("metadata.name %r is longer than 52 characters (the Workflows it creates add a "
                            "timestamp)" % meta["name"])
    schedules = []
    if spec.get("schedule") not in (None, "") and spec.get("schedules"):
        problems.append("give schedule or schedules, not both")
    if spec.get("schedule") not in (None, ""):
        schedules.append(("schedule", spec["schedule"]))
    elif spec.get("schedules") is not None:
        if not isinstance(spec["schedules"], list) or not spec["schedules"]:
            problems.append("schedules must be a non-empty list of cron expressions")
        else:
            schedules.extend(("schedules[%d]" % i, s) for i, s in enumerate(spec["schedules"]))
    else:
        problems.append("a schedule (or schedules) is required")
    for what, expr in schedules:
        try:
            validate_schedule(expr, what)
        except K8sError as err:
            problems.append(err.msg)
    if spec.get("timezone"):
        try:
            validate_timezone(spec["timezone"])
        except K8sError as err:
            problems.append(err.msg)
    policy = spec.get("concurrencyPolicy")
    if policy is not None and policy not in CONCURRENCY_POLICIES:
        problems.append("concurrencyPolicy %r must be one of %s" % (policy, ", ".join(CONCURRENCY_POLICIES)))
    for key, maximum in (("startingDeadlineSeconds", INT64_MAX), ("successfulJobsHistoryLimit", limits.INT32_MAX),
                         ("failedJobsHistoryLimit", limits.INT32_MAX)):
        try:
            limits.check_int(spec.get(key), key, 0, maximum)
        except K8sError as err:
            problems.append(err.msg)
    if spec.get("suspend") is not None and not isinstance(spec["suspend"], bool):
        problems.append("suspend must be true or false")
    if spec.get("workflowSpec") is None:
        problems.append("a workflow is required: give workflow_spec or workflow_template (spec.workflowSpec)")
    else:
        argo.check_workflow_spec(spec["workflowSpec"], "workflowSpec", problems)
    if problems:
        raise K8sError("invalid CronWorkflow: %s" % "; ".join(problems))
    return cron
