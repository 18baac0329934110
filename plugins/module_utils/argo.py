# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argo Workflows: building, validating, submitting and deleting Workflows.

* Building: a Workflow from a whole definition, a spec, a WorkflowTemplate / ClusterWorkflowTemplate
  (``spec.workflowTemplateRef``) or a CronWorkflow (its ``workflowSpec``, labelled and owned as
  ``argo submit --from cronwf/NAME`` does), with the submit options of ``argo submit`` (parameters merged over
  the source's, entrypoint, service account, labels).
* Submitting: a named Workflow is created once; when one exists its spec decides (same spec: nothing written;
  another spec: deleted and submitted again, or a clear failure, as ``recreate`` says). ``generateName`` always
  submits. Check mode sends server dry runs only.
* Finishing: the wait for the submitted Workflow and its results, read by ``argo_status`` (which also explains a
  failed or timed-out Workflow). CronWorkflows and their schedules are in ``argo_schedule``.
"""

from __future__ import annotations

import copy
import datetime
import json
import re

from ansible_collections.mlops.k8s.plugins.module_utils import waiter
from ansible_collections.mlops.k8s.plugins.module_utils.argo_status import (
    EXPLAIN_LOG_LINES,
    FAILED_PHASES,
    WORKFLOW,
    collect_logs,
    describe,
    explain,
    wait_for_workflow,
)
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, WaitTimeout, describe_shape, ref
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import Manifest, load_manifests
from ansible_collections.mlops.k8s.plugins.module_utils.service import delete_manifest, make_diff, public_object

GROUP = "argoproj.io"
API_VERSION = "argoproj.io/v1alpha1"
# WORKFLOW ("Workflow") comes from argo_status, which reads Workflows without importing this module
WORKFLOW_TEMPLATE = "WorkflowTemplate"
CLUSTER_WORKFLOW_TEMPLATE = "ClusterWorkflowTemplate"
CRON_WORKFLOW = "CronWorkflow"

LABEL_CRON_WORKFLOW = "workflows.argoproj.io/cron-workflow"
LABEL_WORKFLOW_TEMPLATE = "workflows.argoproj.io/workflow-template"
LABEL_CLUSTER_WORKFLOW_TEMPLATE = "workflows.argoproj.io/cluster-workflow-template"
LABEL_CONTROLLER_INSTANCE_ID = "workflows.argoproj.io/controller-instanceid"
ANN_SCHEDULED_TIME = "workflows.argoproj.io/scheduled-time"

RECREATE = ("never", "on_change", "always")

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")  # \Z: "$" matches before a trailing newline
_GENERATE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9.-])?\Z")


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


def submit_options_spec():
    """Argument spec of the ``argo submit`` options that argo_workflow and cron_workflow both take."""
    return {
        "workflow_template": {"type": "str"},
        "cluster_scope": {"type": "bool", "default": False},
        "parameters": {"type": "dict"},
        "entrypoint": {"type": "str"},
        "service_account": {"type": "str"},
        "labels": {"type": "dict"},
    }


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


def string_labels(labels, what="labels"):
    """Label values as the strings Kubernetes wants (mappings and lists refused)."""
    out = {}
    for key, value in (labels or {}).items():
        if value is None or isinstance(value, (dict, list)):
            raise K8sError("%s: the value of %s must be a string" % (what, key))
        out[str(key)] = parameter_value(value)
    return out


# -- building Workflows -------------------------------------------------------------------------------------
def new_object(kind, spec):
    """An empty object of an Argo ``kind`` around ``spec``."""
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {}, "spec": spec}


def load_definition(definition, kind):
    """The one object of ``kind`` in ``definition`` (a dict or YAML string)."""
    manifests = load_manifests(definition)
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


def name_to_delete(params, kind):
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
    return new_object(WORKFLOW, copy.deepcopy(spec))


def template_ref(template, cluster_scope=False):
    """A ``workflowTemplateRef`` to a WorkflowTemplate (or, with ``cluster_scope``, a ClusterWorkflowTemplate)."""
    out = {"name": template}
    if cluster_scope:
        out["clusterScope"] = True
    return out


def workflow_from_template(template, cluster_scope=False):
    """A Workflow that runs a WorkflowTemplate (or ClusterWorkflowTemplate), as ``argo submit --from``."""
    wf = new_object(WORKFLOW, {"workflowTemplateRef": template_ref(template, cluster_scope)})
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


def set_namespace_and_labels(meta, namespace=None, labels=None, default_namespace="default"):
    """The ``namespace`` option over the object's own (``default_namespace`` when neither gives one), and the
    ``labels`` option added to the object's labels."""
    if namespace:
        meta["namespace"] = namespace
    elif not meta.get("namespace"):
        meta["namespace"] = default_namespace
    if labels:
        meta["labels"] = dict(meta.get("labels") or {}, **string_labels(labels))
    return meta


def set_identity(obj, name=None, generate_name=None, namespace=None, labels=None, default_namespace="default"):
    """Name (or generateName), namespace and extra labels of a Workflow; options win over the object's own."""
    meta = obj.setdefault("metadata", {})
    if name:
        meta["name"] = name
        meta.pop("generateName", None)
    elif generate_name:
        meta["generateName"] = generate_name
        meta.pop("name", None)
    set_namespace_and_labels(meta, namespace, labels, default_namespace)
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
def check_names(meta, problems):
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
                problems.append("%s.arguments.parameters: every parameter needs a name (got %s)"
                                % (where, describe_shape(param)))
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
    check_names(wf.get("metadata") or {}, problems)
    check_workflow_spec(wf.get("spec"), "spec", problems, template)
    if problems:
        raise K8sError("invalid Workflow: %s" % "; ".join(problems))
    return wf


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


# -- submitting ---------------------------------------------------------------------------------------------
def _outcome(action, workflow, before, want_diff, changed=True, **extra):
    """What submit returns: {changed, action, workflow, ...extra, diff (before -> workflow) when asked}."""
    result = dict({"changed": changed, "action": action, "workflow": workflow}, **extra)
    if want_diff:
        result["diff"] = make_diff(before, workflow)
    return result


def served_resource(client, kind=WORKFLOW, check_mode=False, warn=None):
    """The API resource of an Argo ``kind``; without its CRD a clear failure, or in check mode a warning and None."""
    resource = client.find_resource(API_VERSION, kind)
    if resource is None and not check_mode:
        raise K8sError(crd_missing_message(kind), status=404)
    if resource is None and warn:
        warn(crd_missing_message(kind) + "; check mode could not validate the %s" % kind)
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
    resource = served_resource(client, WORKFLOW, check_mode, warn)
    meta = wf["metadata"]
    name, namespace = meta.get("name"), meta.get("namespace")
    live = client.get(resource, name, namespace) if (resource is not None and name) else None
    if live is None:
        return _outcome("created", _create(client, resource, wf, check_mode), None, want_diff)
    what = ref(WORKFLOW, namespace, name)
    differences = ["spec.%s" % k for k in spec_differences(live, wf)]
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
        return _outcome("recreated", created, live, want_diff, differences=differences)
    if differences:
        raise K8sError("%s already exists with a different spec (differs in %s) and recreate=never: delete it, "
                       "use another name, or set recreate=on_change to submit it again"
                       % (what, ", ".join(differences)))
    labels = labels_to_set(live, wf)
    if labels:
        patch = {"apiVersion": API_VERSION, "kind": WORKFLOW,
                 "metadata": {"name": name, "namespace": namespace, "labels": labels}}
        after = client.apply(resource, patch, force_conflicts=True, dry_run=check_mode)
        return _outcome("labelled", after, live, want_diff)
    return _outcome("unchanged", live, live, want_diff, changed=False)


def wait_and_report(client, result, *, wait=True, wait_timeout=600, logs=False, log_lines=100, check_mode=False):
    """Wait for the submitted Workflow (when asked) and add phase, outputs, nodes, logs and duration to
    ``result``. Raises ArgoError (explanation, and ``result`` for the failure) when it Failed / Errored or the
    wait timed out."""
    wf = result["workflow"]
    meta = wf.get("metadata") or {}
    if wait and not check_mode:
        resource = client.resource(API_VERSION, WORKFLOW)
        try:
            outcome = wait_for_workflow(client, resource, meta["name"], meta.get("namespace"),
                                        uid=meta.get("uid"), timeout=wait_timeout)
            wf = outcome.object
        except WaitTimeout:
            current = client.get(resource, meta["name"], meta.get("namespace")) or wf
            info, pods = describe(client, current)
            explanation = explain(client, current, pods, min(log_lines, EXPLAIN_LOG_LINES), timed_out=True)
            failed = dict(result, workflow=public_object(current), **info)
            failed.pop("diff", None)
            if logs:
                failed["logs"] = collect_logs(client, current, info["nodes"], log_lines)
            raise ArgoError("timed out after %ss waiting for %s to finish: %s"
                            % (wait_timeout, ref(WORKFLOW, meta.get("namespace"), meta["name"]),
                               explanation["summary"]), reason="Timeout", explanation=explanation,
                            result=failed) from None
    info, pods = describe(client, wf, with_pods=not check_mode)
    out = dict(result, workflow=public_object(wf), **info)
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
    return delete(client, WORKFLOW, name, namespace, propagation_policy="Foreground", check_mode=check_mode,
                  want_diff=want_diff, wait=wait, wait_timeout=wait_timeout)


def delete(client, kind, name, namespace, *, propagation_policy, check_mode=False, want_diff=False, wait=True,
           wait_timeout=600):
    """state=absent for an Argo ``kind``: delete the object (``namespace`` defaults to default) and, with
    ``wait``, wait until it is gone. Returns {changed, action, diff?}."""
    manifest = Manifest({"apiVersion": API_VERSION, "kind": kind,
                         "metadata": {"name": name, "namespace": namespace or "default"}}, "name")
    manifest.resource = client.find_resource(API_VERSION, kind)
    result = delete_manifest(client, manifest, check_mode=check_mode, propagation_policy=propagation_policy,
                             want_diff=want_diff, wait=wait, wait_timeout=wait_timeout)
    out = {"changed": result["changed"], "action": result["action"]}
    if result.get("diff") is not None:
        out["diff"] = result["diff"]
    return out
