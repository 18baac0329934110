# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argo Workflows: building Workflows and CronWorkflows, submitting, waiting, reading the results.

* Building: a Workflow from a whole definition, a spec, a WorkflowTemplate / ClusterWorkflowTemplate
  (``spec.workflowTemplateRef``) or a CronWorkflow (its ``workflowSpec``, labelled and owned as
  ``argo submit --from cronwf/NAME`` does), with the submit options of ``argo submit`` (parameters merged over
  the source's, entrypoint, service account, labels). A CronWorkflow from friendly options or a definition, with
  the schedule checked as the Argo controller's cron parser checks it, before anything is written.
* Submitting: a named Workflow is created once; when one exists its spec decides (same spec: nothing written;
  another spec: deleted and submitted again, or a clear failure, as ``recreate`` says). ``generateName`` always
  submits. Check mode sends server dry runs only.
* Results: phase, outputs (``status.outputs.parameters``), the nodes with their pods and outputs, step logs,
  duration; a failed or timed-out Workflow is explained (failed leaf steps with their messages, the pods'
  container states, the last log lines, recent warnings).
"""

from __future__ import annotations

import copy
import datetime
import json
import re

from ansible_collections.mlops.k8s.plugins.module_utils import resource as res
from ansible_collections.mlops.k8s.plugins.module_utils import waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, ref, to_k8s_error

GROUP = "argoproj.io"
API_VERSION = "argoproj.io/v1alpha1"
WORKFLOW = "Workflow"
WORKFLOW_TEMPLATE = "WorkflowTemplate"
CLUSTER_WORKFLOW_TEMPLATE = "ClusterWorkflowTemplate"
CRON_WORKFLOW = "CronWorkflow"

LABEL_WORKFLOW = "workflows.argoproj.io/workflow"
LABEL_CRON_WORKFLOW = "workflows.argoproj.io/cron-workflow"
LABEL_WORKFLOW_TEMPLATE = "workflows.argoproj.io/workflow-template"
LABEL_CLUSTER_WORKFLOW_TEMPLATE = "workflows.argoproj.io/cluster-workflow-template"
LABEL_CONTROLLER_INSTANCE_ID = "workflows.argoproj.io/controller-instanceid"
ANN_SCHEDULED_TIME = "workflows.argoproj.io/scheduled-time"
ANN_NODE_ID = "workflows.argoproj.io/node-id"
ANN_NODE_NAME = "workflows.argoproj.io/node-name"

DONE_PHASES = waiter.WORKFLOW_DONE_PHASES
FAILED_PHASES = ("Failed", "Error")
RECREATE = ("never", "on_change", "always")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
MAIN_CONTAINER = "main"
EXPLAIN_LOG_LINES = 10
MAX_EVENTS = 10

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_GENERATE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9.-])?$")


class ArgoError(K8sError):
    """A Workflow that failed, errored or did not finish in time: ``explanation`` says why and ``result`` holds
    what the module returns with the failure (workflow, phase, nodes, ...)."""

    def __init__(self, msg, reason=None, explanation=None, result=None):
        super().__init__(msg, reason=reason)
        self.explanation = explanation or {}
        self.result = result or {}


def crd_missing_message(kind=WORKFLOW):
    return ("the %s CRD (%s) is not installed on this cluster: install Argo Workflows first (for example with the "
            "mlops.k8s.argo_workflows role)" % (kind, API_VERSION))


# -- parameters and submit options --------------------------------------------------------------------------
def parameter_value(value):
    """Argo parameter values are strings: booleans as true/false, mappings and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return ""
    return str(value)


def merge_parameters(existing, parameters):
    """``existing`` (a list of Argo parameters) with ``parameters`` (name -> value) set over them, as
    ``argo submit -p`` does: a known name gets the new value, an unknown one is appended."""
    out = [copy.deepcopy(p) for p in existing or [] if isinstance(p, dict)]
    for name, value in (parameters or {}).items():
        for param in out:
            if param.get("name") == name:
                param["value"] = parameter_value(value)
                param.pop("valueFrom", None)
                break
        else:
            out.append({"name": str(name), "value": parameter_value(value)})
    return out


def apply_submit_options(spec, parameters=None, entrypoint=None, service_account=None):
    """Set the submit options on a Workflow spec (or a CronWorkflow's workflowSpec) in place."""
    if parameters:
        arguments = spec.get("arguments")
        if not isinstance(arguments, dict):
            arguments = spec["arguments"] = {}
        arguments["parameters"] = merge_parameters(arguments.get("parameters"), parameters)
    if entrypoint:
        spec["entrypoint"] = entrypoint
    if service_account:
        spec["serviceAccountName"] = service_account
    return spec


def _string_labels(labels, what="labels"):
    out = {}
    for key, value in (labels or {}).items():
        if value is None or isinstance(value, (dict, list)):
            raise K8sError("%s: the value of %s must be a string" % (what, key))
        out[str(key)] = parameter_value(value)
    return out


# -- building Workflows -------------------------------------------------------------------------------------
def _new(kind, spec):
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {}, "spec": spec}


def load_definition(definition, kind):
    """The one object of ``kind`` in ``definition`` (a dict or YAML string)."""
    manifests = res.load_manifests(definition)
    if len(manifests) != 1:
        raise K8sError("definition must hold exactly one %s (got %d objects)" % (kind, len(manifests)))
    obj = manifests[0].obj
    if obj.get("kind") not in (None, kind):
        raise K8sError("definition must be a %s, not kind %s" % (kind, obj.get("kind")))
    if obj.get("apiVersion") not in (None, API_VERSION):
        raise K8sError("definition: %s is served as apiVersion %s, not %s" % (kind, API_VERSION, obj.get("apiVersion")))
    obj["apiVersion"] = API_VERSION
    obj["kind"] = kind
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    if not isinstance(obj.get("spec"), dict):
        raise K8sError("definition: the %s has no spec" % kind)
    return obj


def target(params, kind):
    """(name, namespace) of the object a module removes: its options, else the definition's metadata."""
    name, namespace = params["name"], params["namespace"]
    if params.get("definition") is not None:
        meta = load_definition(params["definition"], kind)["metadata"]
        name = name or meta.get("name")
        namespace = namespace or meta.get("namespace")
    if not name:
        raise K8sError("name is required to delete a %s" % kind)
    return name, namespace


def workflow_from_spec(spec):
    if not isinstance(spec, dict):
        raise K8sError("spec must be a mapping (a Workflow spec)")
    return _new(WORKFLOW, copy.deepcopy(spec))


def workflow_from_template(template, cluster_scope=False):
    """A Workflow that runs a WorkflowTemplate (or ClusterWorkflowTemplate), as ``argo submit --from``."""
    ref_ = {"name": template}
    if cluster_scope:
        ref_["clusterScope"] = True
    wf = _new(WORKFLOW, {"workflowTemplateRef": ref_})
    label = LABEL_CLUSTER_WORKFLOW_TEMPLATE if cluster_scope else LABEL_WORKFLOW_TEMPLATE
    wf["metadata"] = {"generateName": template + "-", "labels": {label: template}}
    return wf


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)  # noqa: UP017 - module_utils py-compat


def workflow_from_cron(cron, now=None):
    """A Workflow from a CronWorkflow as ``argo submit --from cronwf/NAME`` makes it: generateName ``<cron>-``,
    the cron's workflowSpec and workflowMetadata, label ``workflows.argoproj.io/cron-workflow``, annotation
    ``workflows.argoproj.io/scheduled-time`` (now) and the CronWorkflow as controller owner."""
    meta = cron.get("metadata") or {}
    spec = (cron.get("spec") or {}).get("workflowSpec")
    name = meta.get("name")
    if not isinstance(spec, dict):
        raise K8sError("%s has no spec.workflowSpec" % ref(CRON_WORKFLOW, meta.get("namespace"), name))
    labels = {LABEL_CRON_WORKFLOW: name}
    instance = (meta.get("labels") or {}).get(LABEL_CONTROLLER_INSTANCE_ID)
    if instance:
        labels[LABEL_CONTROLLER_INSTANCE_ID] = instance
    annotations = {ANN_SCHEDULED_TIME: (now or _now()).strftime("%Y-%m-%dT%H:%M:%SZ")}
    wf_meta = {"generateName": name + "-", "labels": labels, "annotations": annotations}
    extra = (cron.get("spec") or {}).get("workflowMetadata") or {}
    labels.update(extra.get("labels") or {})
    annotations.update(extra.get("annotations") or {})
    if extra.get("finalizers"):
        wf_meta["finalizers"] = list(extra["finalizers"])
    owner = {"apiVersion": cron.get("apiVersion") or API_VERSION, "kind": CRON_WORKFLOW, "name": name,
             "controller": True, "blockOwnerDeletion": True}
    if meta.get("uid"):
        owner["uid"] = meta["uid"]
    wf_meta["ownerReferences"] = [owner]
    if meta.get("namespace"):
        wf_meta["namespace"] = meta["namespace"]
    return {"apiVersion": API_VERSION, "kind": WORKFLOW, "metadata": wf_meta, "spec": copy.deepcopy(spec)}


def set_identity(obj, name=None, generate_name=None, namespace=None, labels=None, default_namespace="default"):
    """Name (or generateName), namespace and extra labels of a Workflow; options win over the object's own."""
    meta = obj.setdefault("metadata", {})
    if name:
        meta["name"] = name
        meta.pop("generateName", None)
    elif generate_name:
        meta["generateName"] = generate_name
        meta.pop("name", None)
    if namespace:
        meta["namespace"] = namespace
    elif not meta.get("namespace"):
        meta["namespace"] = default_namespace
    if labels:
        meta["labels"] = dict(meta.get("labels") or {}, **_string_labels(labels))
    if meta.get("name"):
        meta.pop("generateName", None)
    return obj


def source_of(params):
    """Which of definition / spec / workflow_template / cron_workflow the options give (exactly one)."""
    given = [k for k in ("definition", "spec", "workflow_template", "cron_workflow") if params.get(k) is not None]
    if len(given) != 1:
        raise K8sError("give exactly one of definition, spec, workflow_template or cron_workflow (got %s)"
                       % (", ".join(given) or "none"))
    return given[0]


def build_workflow(params, cron=None):
    """The Workflow to submit from the module options; ``cron`` is the live CronWorkflow for that source."""
    source = source_of(params)
    if source == "definition":
        wf = load_definition(params["definition"], WORKFLOW)
    elif source == "spec":
        wf = workflow_from_spec(params["spec"])
    elif source == "workflow_template":
        wf = workflow_from_template(params["workflow_template"], params.get("cluster_scope"))
    else:
        if cron is None:
            raise K8sError("the CronWorkflow %s is needed to build the Workflow" % params["cron_workflow"])
        wf = workflow_from_cron(cron)
    apply_submit_options(wf["spec"], params.get("parameters"), params.get("entrypoint"),
                         params.get("service_account"))
    set_identity(wf, params.get("name"), params.get("generate_name"), params.get("namespace"), params.get("labels"))
    meta = wf["metadata"]
    if not meta.get("name") and not meta.get("generateName"):
        raise K8sError("name or generate_name is required (the %s gives neither metadata.name nor "
                       "metadata.generateName)" % source.replace("_", " "))
    validate_workflow(wf)
    return wf


# -- validation ---------------------------------------------------------------------------------------------
def _check_names(meta, problems):
    name = meta.get("name")
    generate = meta.get("generateName")
    if name is not None and (not isinstance(name, str) or len(name) > 253 or not _NAME.match(name)):
        problems.append("metadata.name %r is not a valid name (lower case letters, digits, '-' and '.', starting "
                        "and ending with a letter or digit)" % (name,))
    if generate is not None and not name and (
            not isinstance(generate, str) or len(generate) > 248 or not _GENERATE_NAME.match(generate)):
        problems.append("metadata.generateName %r is not a valid name prefix" % (generate,))
    namespace = meta.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not _NAME.match(namespace)
                                  or "." in namespace or len(namespace) > 63):
        problems.append("metadata.namespace %r is not a valid namespace name" % (namespace,))


def check_arguments(parameters, where, problems, template_parameters=None):
    """Every argument parameter needs a value (or valueFrom) and a value in its enum, as Argo's validation says.

    ``template_parameters``: the referenced template's own arguments, which the Workflow's override by name.
    """
    merged = {}
    order = []
    for source in (template_parameters or [], parameters or []):
        if not isinstance(source, list):
            problems.append("%s.arguments.parameters must be a list" % where)
            return
        for param in source:
            if not isinstance(param, dict) or not param.get("name"):
                problems.append("%s.arguments.parameters: every parameter needs a name (got %r)" % (where, param))
                continue
            if param["name"] not in merged:
                order.append(param["name"])
                merged[param["name"]] = dict(param)
            else:
                merged[param["name"]].update({k: v for k, v in param.items() if k in ("value", "valueFrom")})
    for name in order:
        param = merged[name]
        if param.get("value") is None and not param.get("valueFrom"):
            problems.append("%s.arguments.parameters.%s.value is required (give it in parameters)" % (where, name))
        elif param.get("enum") and param.get("value") is not None and \
                str(param["value"]) not in [str(v) for v in param["enum"]]:
            problems.append("%s.arguments.parameters.%s: value %r is not one of %s"
                            % (where, name, param["value"], ", ".join(str(v) for v in param["enum"])))


def check_workflow_spec(spec, where, problems, template=None):
    """Static checks of a Workflow spec (a WorkflowTemplate's own spec for a workflowTemplateRef)."""
    if not isinstance(spec, dict):
        problems.append("%s must be a mapping" % where)
        return
    template_ref = spec.get("workflowTemplateRef")
    template_spec = (template or {}).get("spec") or {}
    if template_ref is not None and (not isinstance(template_ref, dict) or not template_ref.get("name")):
        problems.append("%s.workflowTemplateRef.name is required" % where)
    templates = spec.get("templates")
    if templates is not None and not isinstance(templates, list):
        problems.append("%s.templates must be a list" % where)
        templates = []
    names = [t.get("name") for t in templates or [] if isinstance(t, dict)]
    if template_ref is None:
        if not templates:
            problems.append("%s.templates is required (or %s.workflowTemplateRef)" % (where, where))
        if any(not n for n in names) or len(names) != len(templates or []):
            problems.append("%s.templates: every template needs a name" % where)
        duplicates = sorted({n for n in names if n and names.count(n) > 1})
        if duplicates:
            problems.append("%s.templates: duplicate template names %s" % (where, ", ".join(duplicates)))
        entrypoint = spec.get("entrypoint")
        if not entrypoint:
            problems.append("%s.entrypoint is required" % where)
        elif templates and entrypoint not in names and "{{" not in str(entrypoint):
            problems.append("%s.entrypoint %r is not one of the templates (%s)" % (where, entrypoint, ", ".join(
                str(n) for n in names)))
    elif template is not None and spec.get("entrypoint"):
        known = [t.get("name") for t in template_spec.get("templates") or [] if isinstance(t, dict)] + names
        if known and spec["entrypoint"] not in known:
            problems.append("%s.entrypoint %r is not a template of %s (%s)" % (
                where, spec["entrypoint"], ref(template.get("kind"), None, template_ref.get("name")),
                ", ".join(str(n) for n in known)))
    arguments = spec.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        problems.append("%s.arguments must be a mapping" % where)
        return
    check_arguments((arguments or {}).get("parameters"), where, problems,
                    ((template_spec.get("arguments") or {}).get("parameters")) if template is not None else None)


def validate_workflow(wf, template=None):
    """Raise K8sError listing what Argo would reject (names, templates, entrypoint, parameter values)."""
    problems = []
    _check_names(wf.get("metadata") or {}, problems)
    check_workflow_spec(wf.get("spec"), "spec", problems, template)
    if problems:
        raise K8sError("invalid Workflow: %s" % "; ".join(problems))
    return wf


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
        cron = load_definition(params["definition"], CRON_WORKFLOW)
    else:
        cron = _new(CRON_WORKFLOW, {})
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
        template_ref = {"name": params["workflow_template"]}
        if params.get("cluster_scope"):
            template_ref["clusterScope"] = True
        spec["workflowSpec"] = {"workflowTemplateRef": template_ref}
    if isinstance(spec.get("workflowSpec"), dict):
        apply_submit_options(spec["workflowSpec"], params.get("parameters"), params.get("entrypoint"),
                             params.get("service_account"))
    elif any(params.get(k) for k in ("parameters", "entrypoint", "service_account")):
        raise K8sError("parameters, entrypoint and service_account need a workflow_spec or a workflow_template")
    meta = cron["metadata"]
    if params.get("name"):
        meta["name"] = params["name"]
    if params.get("namespace"):
        meta["namespace"] = params["namespace"]
    elif not meta.get("namespace"):
        meta["namespace"] = "default"
    if params.get("labels"):
        meta["labels"] = dict(meta.get("labels") or {}, **_string_labels(params["labels"]))
    return validate_cron_workflow(cron)


def validate_cron_workflow(cron):
    """Raise K8sError listing what the Argo controller would reject (before anything is written)."""
    problems = []
    meta = cron.get("metadata") or {}
    spec = cron.get("spec") or {}
    if not meta.get("name"):
        problems.append("name is required (the definition has no metadata.name)")
    else:
        _check_names({"name": meta["name"], "namespace": meta.get("namespace")}, problems)
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
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append("%s must be a number >= 0 (got %r)" % (key, value))
    if spec.get("suspend") is not None and not isinstance(spec["suspend"], bool):
        problems.append("suspend must be true or false")
    if spec.get("workflowSpec") is None:
        problems.append("a workflow is required: give workflow_spec or workflow_template (spec.workflowSpec)")
    else:
        check_workflow_spec(spec["workflowSpec"], "workflowSpec", problems)
    if problems:
        raise K8sError("invalid CronWorkflow: %s" % "; ".join(problems))
    return cron


# -- comparing ----------------------------------------------------------------------------------------------
def _pruned(value):
    """Drop nulls and empty mappings/lists, so {} given and {} omitted compare equal."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            pruned = _pruned(item)
            if pruned not in (None, {}, []):
                out[key] = pruned
        return out
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def spec_differences(live, desired):
    """Top-level spec keys that differ between a live Workflow and the one to submit (sorted)."""
    left = _pruned((live or {}).get("spec") or {})
    right = _pruned((desired or {}).get("spec") or {})
    return sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))


def labels_to_set(live, desired):
    """The desired labels the live object lacks (or has with another value)."""
    have = ((live or {}).get("metadata") or {}).get("labels") or {}
    want = ((desired or {}).get("metadata") or {}).get("labels") or {}
    return {k: v for k, v in want.items() if have.get(k) != v}


# -- status -------------------------------------------------------------------------------------------------
def phase_of(wf):
    return ((wf or {}).get("status") or {}).get("phase")


def _parameters_dict(outputs):
    return {p.get("name"): p.get("value") for p in (outputs or {}).get("parameters") or []
            if isinstance(p, dict) and p.get("name")}


def outputs_of(wf):
    """status.outputs.parameters as name -> value."""
    return _parameters_dict(((wf or {}).get("status") or {}).get("outputs"))


def parse_time(text):
    """An RFC 3339 time of the API (``2026-01-01T00:00:00Z``, fractions allowed) as an aware datetime."""
    if not text or not isinstance(text, str):
        return None
    text = re.sub(r"\.\d+", "", text.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def duration_of(wf):
    """Seconds between startedAt and finishedAt (None until finished)."""
    status = (wf or {}).get("status") or {}
    started, finished = parse_time(status.get("startedAt")), parse_time(status.get("finishedAt"))
    if started is None or finished is None:
        return None
    return round((finished - started).total_seconds(), 3)


def fnv32a(text):
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def template_of(node):
    return node.get("templateName") or (node.get("templateRef") or {}).get("template")


def pod_name_of(workflow, node):
    """The pod name Argo (POD_NAMES=v2) gives a Pod node: ``<workflow>-<template>-<fnv32a(node name)>``."""
    name = node.get("name") or ""
    if name == workflow:
        return workflow
    suffix = str(fnv32a(name))
    template = template_of(node)
    prefix = "%s-%s" % (workflow, template) if template else workflow
    prefix = prefix[: 63 - len(suffix) - 1].rstrip("-.")
    return "%s-%s" % (prefix, suffix)


def _pods_by_node(pods):
    out = {}
    for pod in pods or []:
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        for key in (ANN_NODE_ID, ANN_NODE_NAME):
            if annotations.get(key):
                out[annotations[key]] = pod
    return out


def nodes_of(wf, pods=None):
    """The Workflow's nodes as a list (started first), each with its pod and outputs."""
    meta = (wf or {}).get("metadata") or {}
    nodes = ((wf or {}).get("status") or {}).get("nodes") or {}
    by_node = _pods_by_node(pods)
    out = []
    for node_id, node in nodes.items():
        if not isinstance(node, dict):
            continue
        pod_name = None
        if node.get("type") == "Pod":
            pod = by_node.get(node.get("id") or node_id) or by_node.get(node.get("name"))
            pod_name = (pod or {}).get("metadata", {}).get("name") or pod_name_of(meta.get("name") or "", node)
        outputs = node.get("outputs") or {}
        out.append({
            "id": node.get("id") or node_id,
            "name": node.get("name"),
            "display_name": node.get("displayName") or node.get("name"),
            "type": node.get("type"),
            "phase": node.get("phase"),
            "message": node.get("message"),
            "template": template_of(node),
            "pod_name": pod_name,
            "outputs": _parameters_dict(outputs),
            "exit_code": outputs.get("exitCode"),
            "started_at": node.get("startedAt"),
            "finished_at": node.get("finishedAt"),
        })
    out.sort(key=lambda n: (n["started_at"] or "9999", n["name"] or ""))
    return out


# -- pods, logs, events -------------------------------------------------------------------------------------
def list_pods(client, wf):
    """The Workflow's pods (label workflows.argoproj.io/workflow), [] when they cannot be listed."""
    meta = (wf or {}).get("metadata") or {}
    try:
        resource = client.find_resource("v1", "Pod")
        if resource is None or not meta.get("name"):
            return []
        return client.list(resource, meta.get("namespace"),
                           label_selector="%s=%s" % (LABEL_WORKFLOW, meta["name"]))["items"]
    except K8sError:
        return []


def read_pod_log(client, namespace, pod, container=MAIN_CONTAINER, tail_lines=100):
    """The last ``tail_lines`` lines of a container's log (``kubectl logs POD -c CONTAINER --tail N``)."""
    import kubernetes

    api = kubernetes.client.CoreV1Api(client.api_client)
    try:
        response = api.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=tail_lines,
                                               _preload_content=False)
        data = response.data
    except Exception as exc:
        raise to_k8s_error(exc, "logs of container %s of %s" % (container, ref("Pod", namespace, pod))) from None
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def collect_logs(client, wf, nodes, tail_lines=100):
    """Main container logs of the Pod nodes: display name -> text (a note when a log cannot be read)."""
    namespace = ((wf or {}).get("metadata") or {}).get("namespace")
    logs = {}
    for node in nodes:
        if node["type"] != "Pod" or not node["pod_name"] or node["phase"] in ("Skipped", "Omitted"):
            continue
        key = node["display_name"] if node["display_name"] not in logs else node["name"]
        try:
            logs[key] = read_pod_log(client, namespace, node["pod_name"], MAIN_CONTAINER, tail_lines)
        except K8sError as err:
            logs[key] = "(no log: %s)" % err.msg
    return logs


def _short(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def container_issues(pod, known=None):
    """What is wrong with a pod's containers: waiting reasons, non-zero exits, pod-level reasons (``known``: the
    node's message, not repeated)."""
    status = (pod or {}).get("status") or {}
    issues = []
    known = _short(known) if known else None
    pod_message = _short(status["message"]) if status.get("message") else None
    if status.get("reason") not in (None, "Error", "Completed") or (pod_message and pod_message != known and (
            status.get("reason") or status.get("phase") == "Failed")):
        issues.append("pod %s%s" % (status.get("reason") or "failed",
                                    ": %s" % pod_message if pod_message and pod_message != known else ""))
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            why = " ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
            issues.append("not scheduled: %s" % _short(why))
    for label, key in (("init container", "initContainerStatuses"), ("container", "containerStatuses")):
        for cs in status.get(key) or []:
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
                text = "%s %s %s" % (label, cs.get("name"), waiting["reason"])
                if waiting.get("message") and _short(waiting["message"]) not in (known or ""):
                    text += ": %s" % _short(waiting["message"])
                issues.append(text)
            elif terminated and str(terminated.get("exitCode", 0)) != "0":
                text = "%s %s terminated with exit code %s%s" % (
                    label, cs.get("name"), terminated.get("exitCode"),
                    " (%s)" % terminated["reason"] if terminated.get("reason") else "")
                if terminated.get("message") and _short(terminated["message"]) != known:
                    text += ": %s" % _short(terminated["message"])
                issues.append(text)
    return issues


def _warning_events(client, namespace, names, notes):
    try:
        resource = client.find_resource("v1", "Event")
        if resource is None:
            return []
        try:
            items = client.list(resource, namespace, field_selector="type=Warning")["items"]
        except K8sError as err:
            if err.status != 400:
                raise
            items = client.list(resource, namespace)["items"]
    except K8sError as err:
        notes.append("cannot list events: %s" % err.msg)
        return []
    out = []
    for event in sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        target = event.get("involvedObject") or event.get("regarding") or {}
        if target.get("kind") == WORKFLOW and str(event.get("reason") or "").startswith("Workflow"):
            continue  # the controller's lifecycle events repeat the status
        if event.get("type") == "Warning" and target.get("name") in names:
            out.append("%s %s: %s: %s" % (target.get("kind"), target.get("name"), event.get("reason"),
                                          _short(event.get("message") or event.get("note") or "", 300)))
    return out[-MAX_EVENTS:]


def _last_lines(text, count):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-count:] if count > 0 else []


def _failed_descendant(raw, node_id):
    """Whether a node below ``node_id`` failed (Argo chains step groups through the previous group's nodes, so
    the failed step of a later group hangs below an earlier, succeeded one)."""
    seen = set()
    todo = list((raw.get(node_id) or {}).get("children") or [])
    while todo:
        child = todo.pop()
        if child in seen:
            continue
        seen.add(child)
        node = raw.get(child) or {}
        if node.get("phase") in FAILED_PHASES:
            return True
        todo.extend(node.get("children") or [])
    return False


def explain(client, wf, pods=None, log_lines=EXPLAIN_LOG_LINES, timed_out=False):
    """Why a Workflow failed (or is not finished): the failed leaf steps (or the steps still running) with their
    messages, their pods' container states and last log lines, and recent Warning events. Never raises.

    Returns {summary, phase, message, steps: [{name, display_name, template, phase, message, pod_name, issues,
    log}], events, notes}.
    """
    notes = []
    meta = (wf or {}).get("metadata") or {}
    status = (wf or {}).get("status") or {}
    namespace = meta.get("namespace")
    if pods is None:
        pods = list_pods(client, wf)
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    nodes = nodes_of(wf, pods)
    raw = status.get("nodes") or {}
    if timed_out:
        chosen = [n for n in nodes if n["type"] in ("Pod", "Suspend") and n["phase"] in ("Pending", "Running")]
    else:
        chosen = [n for n in nodes if n["phase"] in FAILED_PHASES and not _failed_descendant(raw, n["id"])]
    steps = []
    for node in chosen:
        entry = {k: node[k] for k in ("name", "display_name", "type", "template", "phase", "message", "pod_name",
                                      "exit_code")}
        pod = by_name.get(node["pod_name"]) if node["pod_name"] else None
        entry["issues"] = container_issues(pod, node["message"]) if pod else []
        entry["log"] = []
        if pod is not None and log_lines > 0:
            try:
                entry["log"] = _last_lines(read_pod_log(client, namespace, node["pod_name"], MAIN_CONTAINER,
                                                        max(log_lines, 1) * 2), log_lines)
            except K8sError as err:
                notes.append("cannot read the log of pod %s: %s" % (node["pod_name"], err.msg))
        steps.append(entry)
    names = {meta.get("name")} | {s["pod_name"] for s in steps if s["pod_name"]}
    events = _warning_events(client, namespace, names, notes) if meta.get("name") else []
    explanation = {"phase": status.get("phase"), "message": status.get("message"), "steps": steps,
                   "events": events, "notes": notes}
    explanation["summary"] = summarize_explanation(wf, explanation, timed_out)
    return explanation


def summarize_explanation(wf, explanation, timed_out=False):
    parts = []
    if timed_out:
        parts.append(waiter.describe_workflow(wf))
    else:
        status_text = "phase %s" % (explanation.get("phase") or "unknown")
        if explanation.get("message") and explanation["message"] not in [
                s.get("message") for s in explanation.get("steps") or []]:
            status_text += ": %s" % explanation["message"]
        parts.append(status_text)
    for step in explanation.get("steps") or []:
        label = "%s step %s" % ("running" if timed_out else "failed", step["display_name"])
        details = []
        if step.get("template") and step["template"] != step["display_name"]:
            details.append("template %s" % step["template"])
        if step.get("pod_name"):
            details.append("pod %s" % step["pod_name"])
        if details:
            label += " (%s)" % ", ".join(details)
        text = label
        bits = []
        if step.get("message"):
            bits.append(step["message"])
        bits.extend(step.get("issues") or [])
        if bits:
            text += ": " + "; ".join(bits)
        if step.get("log"):
            text += "; last log lines: " + " | ".join(step["log"])
        parts.append(text)
    if explanation.get("events"):
        parts.append("recent warnings: " + " | ".join(explanation["events"]))
    if explanation.get("notes"):
        parts.append("(" + "; ".join(explanation["notes"]) + ")")
    return ". ".join(p.rstrip(".") for p in parts if p)


# -- submitting ---------------------------------------------------------------------------------------------
def _diff(before, after):
    return res.make_diff(before, after)


def _workflow_resource(client, check_mode, warn):
    resource = client.find_resource(API_VERSION, WORKFLOW)
    if resource is None and not check_mode:
        raise K8sError(crd_missing_message(), status=404)
    if resource is None and warn:
        warn(crd_missing_message() + "; check mode could not validate the Workflow")
    return resource


def get_source(client, kind, name, namespace=None, check_mode=False, warn=None):
    """The live WorkflowTemplate / ClusterWorkflowTemplate / CronWorkflow a Workflow is submitted from.

    Fails clearly when it does not exist; in check mode (where it may be created by an earlier task) it warns and
    returns None.
    """
    resource = client.find_resource(API_VERSION, kind)
    what = ref(kind, namespace if kind != CLUSTER_WORKFLOW_TEMPLATE else None, name)
    obj = client.get(resource, name, namespace) if resource is not None else None
    if obj is not None:
        return obj
    message = ("%s does not exist" % what) if resource is not None else crd_missing_message(kind)
    if check_mode:
        if warn:
            warn(message + "; check mode could not validate the Workflow submitted from it")
        return None
    raise K8sError(message, status=404)


def prepare_workflow(client, params, check_mode=False, warn=None):
    """Build (and validate against its source) the Workflow the argo_workflow options describe.

    Returns ``(workflow, verified)``; ``verified`` is False only in check mode when the template or CronWorkflow
    it comes from does not exist yet (then the server is not asked to validate it).
    """
    source = source_of(params)
    namespace = params.get("namespace") or "default"
    cron = None
    if source == "cron_workflow":
        cron = get_source(client, CRON_WORKFLOW, params["cron_workflow"], namespace, check_mode, warn)
        if cron is None:  # check mode, the CronWorkflow is not there yet: a placeholder of the same shape
            placeholder = {"apiVersion": API_VERSION, "kind": CRON_WORKFLOW,
                           "metadata": {"name": params["cron_workflow"], "namespace": namespace},
                           "spec": {"workflowSpec": {"entrypoint": "main", "templates": [{"name": "main"}]}}}
            return build_workflow(params, cron=placeholder), False
    wf = build_workflow(params, cron=cron)
    if source == "workflow_template":
        kind = CLUSTER_WORKFLOW_TEMPLATE if params.get("cluster_scope") else WORKFLOW_TEMPLATE
        template = get_source(client, kind, params["workflow_template"], wf["metadata"]["namespace"], check_mode,
                              warn)
        if template is None:
            return wf, False
        validate_workflow(wf, template=template)
    return wf, True


def _create(client, resource, wf, check_mode):
    if resource is None:  # check mode without the CRD
        return copy.deepcopy(wf)
    return client.create(resource, wf, dry_run=check_mode)


def _delete_and_wait(client, resource, live, timeout):
    meta = live["metadata"]
    client.delete(resource, meta["name"], meta.get("namespace"), propagation_policy="Foreground")
    waiter.wait_for(client, resource, meta["name"], meta.get("namespace"), check=waiter.deleted(meta.get("uid")),
                    timeout=timeout, description="the old Workflow to be deleted")


def submit(client, wf, *, recreate="on_change", check_mode=False, want_diff=False, delete_timeout=600, warn=None):
    """Create the Workflow unless an equal one exists; returns {changed, action, workflow, diff?}.

    action: created (new, or generateName), recreated (deleted and submitted again), labelled (only labels were
    added to the existing one), unchanged.
    """
    if recreate not in RECREATE:
        raise K8sError("recreate must be one of %s" % ", ".join(RECREATE))
    resource = _workflow_resource(client, check_mode, warn)
    meta = wf["metadata"]
    name, namespace = meta.get("name"), meta.get("namespace")
    live = client.get(resource, name, namespace) if (resource is not None and name) else None
    if live is None:
        created = _create(client, resource, wf, check_mode)
        result = {"changed": True, "action": "created", "workflow": created}
        if want_diff:
            result["diff"] = _diff(None, created)
        return result
    what = ref(WORKFLOW, namespace, name)
    differences = spec_differences(live, wf)
    if recreate == "always" or (differences and recreate == "on_change"):
        if check_mode:
            client.delete(resource, name, namespace, propagation_policy="Foreground", dry_run=True)
            probe = copy.deepcopy(wf)  # the name is taken: let the server validate the rest as a generateName
            probe["metadata"].pop("name", None)
            probe["metadata"]["generateName"] = name + "-"
            client.create(resource, probe, dry_run=True)
            created = copy.deepcopy(wf)
        else:
            _delete_and_wait(client, resource, live, delete_timeout)
            created = client.create(resource, wf)
        result = {"changed": True, "action": "recreated", "workflow": created,
                  "differences": ["spec.%s" % k for k in differences]}
        if want_diff:
            result["diff"] = _diff(live, created)
        return result
    if differences:
        raise K8sError("%s already exists with a different spec (differs in %s) and recreate=never: delete it, "
                       "use another name, or set recreate=on_change to submit it again"
                       % (what, ", ".join("spec.%s" % k for k in differences)))
    labels = labels_to_set(live, wf)
    if labels:
        patch = {"apiVersion": API_VERSION, "kind": WORKFLOW,
                 "metadata": {"name": name, "namespace": namespace, "labels": labels}}
        after = client.apply(resource, patch, force_conflicts=True, dry_run=check_mode)
        result = {"changed": True, "action": "labelled", "workflow": after}
        if want_diff:
            result["diff"] = _diff(live, after)
        return result
    result = {"changed": False, "action": "unchanged", "workflow": live}
    if want_diff:
        result["diff"] = _diff(live, live)
    return result


def describe(client, wf, *, with_pods=True):
    """phase, outputs, nodes and duration of a Workflow."""
    pods = list_pods(client, wf) if with_pods and phase_of(wf) else []
    out = {"phase": phase_of(wf), "outputs": outputs_of(wf), "nodes": nodes_of(wf, pods)}
    duration = duration_of(wf)
    if duration is not None:
        out["duration"] = duration
    return out, pods


def finish(client, result, *, wait=True, wait_timeout=600, logs=False, log_lines=100, check_mode=False):
    """Wait for the submitted Workflow (when asked) and add phase, outputs, nodes, logs and duration to
    ``result``. Raises ArgoError (explanation, and ``result`` for the failure) when it Failed / Errored or the
    wait timed out."""
    wf = result["workflow"]
    meta = wf.get("metadata") or {}
    if wait and not check_mode:
        resource = client.resource(API_VERSION, WORKFLOW)
        try:
            outcome = waiter.wait_for_workflow(client, resource, meta["name"], meta.get("namespace"),
                                               uid=meta.get("uid"), timeout=wait_timeout)
            wf = outcome.object
        except K8sError as err:
            if err.reason != "Timeout":
                raise
            current = client.get(resource, meta["name"], meta.get("namespace")) or wf
            info, pods = describe(client, current)
            explanation = explain(client, current, pods, min(log_lines, EXPLAIN_LOG_LINES), timed_out=True)
            failed = dict(result, workflow=res.public_object(current), **info)
            failed.pop("diff", None)
            if logs:
                failed["logs"] = collect_logs(client, current, info["nodes"], log_lines)
            raise ArgoError("timed out after %ss waiting for %s to finish: %s"
                            % (wait_timeout, ref(WORKFLOW, meta.get("namespace"), meta["name"]),
                               explanation["summary"]), reason="Timeout", explanation=explanation,
                            result=failed) from None
    info, pods = describe(client, wf, with_pods=not check_mode)
    out = dict(result, workflow=res.public_object(wf), **info)
    if logs and not check_mode:
        out["logs"] = collect_logs(client, wf, info["nodes"], log_lines)
    if wait and not check_mode and info["phase"] in FAILED_PHASES:
        explanation = explain(client, wf, pods, min(log_lines, EXPLAIN_LOG_LINES))
        hint = ""
        if result.get("action") == "unchanged":
            hint = " (this run of the Workflow already existed with the same spec; set recreate=always to run it " \
                   "again)"
        out.pop("diff", None)
        raise ArgoError("%s %s: %s%s" % (ref(WORKFLOW, meta.get("namespace"), (wf.get("metadata") or {}).get("name")),
                                         info["phase"], explanation["summary"], hint),
                        reason=info["phase"], explanation=explanation, result=out)
    return out


def delete_workflow(client, name, namespace, *, check_mode=False, want_diff=False, wait=True, wait_timeout=600):
    """state=absent: delete the Workflow (its pods with it) and wait until it is gone."""
    resource = client.find_resource(API_VERSION, WORKFLOW)
    manifest = res.Manifest({"apiVersion": API_VERSION, "kind": WORKFLOW,
                             "metadata": {"name": name, "namespace": namespace or "default"}}, "name")
    manifest.resource = resource
    result = res.delete_manifest(client, manifest, check_mode=check_mode, propagation_policy="Foreground",
                                 want_diff=want_diff, wait=wait, wait_timeout=wait_timeout)
    out = {"changed": result["changed"], "action": result["action"]}
    if result.get("diff") is not None:
        out["diff"] = result["diff"]
    return out
