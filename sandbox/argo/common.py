"""Names shared by the sandbox's Argo Workflows parts (controller, executor, cron): API keys, labels and
annotations as Argo Workflows 3.5 writes them, node IDs and pod names (POD_NAMES=v2)."""

from __future__ import annotations

from ..controllers.base import condition

GROUP = "argoproj.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
WORKFLOWS = (GROUP, "workflows")
WORKFLOW_TEMPLATES = (GROUP, "workflowtemplates")
CLUSTER_WORKFLOW_TEMPLATES = (GROUP, "clusterworkflowtemplates")
CRON_WORKFLOWS = (GROUP, "cronworkflows")
TASK_RESULTS = (GROUP, "workflowtaskresults")
DEPLOYS = ("apps", "deployments")

LABEL_WORKFLOW = "workflows.argoproj.io/workflow"                  # on pods, task results, workflows of a cron
LABEL_COMPLETED = "workflows.argoproj.io/completed"                # "true"/"false" on workflows and pods
LABEL_PHASE = "workflows.argoproj.io/phase"                        # on workflows
LABEL_CRON_WORKFLOW = "workflows.argoproj.io/cron-workflow"        # on workflows a CronWorkflow created
LABEL_WORKFLOW_TEMPLATE = "workflows.argoproj.io/workflow-template"
LABEL_CLUSTER_WORKFLOW_TEMPLATE = "workflows.argoproj.io/cluster-workflow-template"
LABEL_REPORT_OUTPUTS_COMPLETED = "workflows.argoproj.io/report-outputs-completed"   # on task results
ANN_NODE_ID = "workflows.argoproj.io/node-id"                      # on pods
ANN_NODE_NAME = "workflows.argoproj.io/node-name"                  # on pods
ANN_SCHEDULED_TIME = "workflows.argoproj.io/scheduled-time"        # on workflows a CronWorkflow created

# Environment of a step pod's containers (as Argo 3.5's controller sets them for argoexec).
ENV_TEMPLATE = "ARGO_TEMPLATE"          # JSON of the resolved template (inputs substituted)
ENV_NODE_ID = "ARGO_NODE_ID"
ENV_POD_NAME = "ARGO_POD_NAME"
ENV_WORKFLOW_NAME = "ARGO_WORKFLOW_NAME"
MAIN_CONTAINER = "main"
WAIT_CONTAINER = "wait"

DEFAULT_EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v3.5.12"
MAX_NAME = 63   # pod names derived from node names stay valid label values / DNS labels


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(workflow: str, node_name: str) -> str:
    """The ID of a workflow node: the workflow's name for the root node, else ``<workflow>-<fnv32a(name)>``."""
    if node_name == workflow:
        return workflow
    return f"{workflow}-{fnv32a(node_name)}"


def pod_name(workflow: str, node_name: str, template: str) -> str:
    """POD_NAMES=v2: ``<workflow>-<template>-<fnv32a(node name)>``, the prefix cut so the whole fits 63."""
    if workflow == node_name:
        return workflow
    suffix = str(fnv32a(node_name))
    prefix = f"{workflow}-{template}" if template else workflow
    prefix = prefix[: MAX_NAME - len(suffix) - 1].rstrip("-.")
    return f"{prefix}-{suffix}"


def is_controller_deployment(d: dict) -> bool:
    """A Deployment that runs an Argo workflow controller (the argo_workflows role's, the Helm chart's, upstream's)."""
    m = d["metadata"]
    labels = m.get("labels") or {}
    name = m.get("name") or ""
    return (name == "workflow-controller" or name.endswith("-workflow-controller")
            or labels.get("app") == "workflow-controller"
            or labels.get("app.kubernetes.io/name") == "workflow-controller"
            or labels.get("app.kubernetes.io/component") == "workflow-controller")


def deployment_available(d: dict) -> bool:
    c = condition(d.get("status") or {}, "Available")
    return bool(c and c.get("status") == "True") and not d["metadata"].get("deletionTimestamp")


def _flags(argv: list[str]) -> dict[str, str]:
    """Cobra-style ``--flag value`` / ``--flag=value`` / bare boolean ``--namespaced`` from a container's argv."""
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = str(argv[i])
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if eq:
                out[name] = value
            elif name == "namespaced":
                out[name] = "true"
            elif i + 1 < len(argv):
                out[name] = str(argv[i + 1])
                i += 1
        i += 1
    return out


class ControllerConfig:
    """What the sandbox reads from a workflow-controller Deployment's args: the executor image and the namespace it
    manages (``--namespaced`` / ``--managed-namespace``; None: all)."""

    def __init__(self, deploy: dict):
        containers = ((deploy.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        con = next((c for c in containers if c.get("name") == "workflow-controller"),
                   containers[0] if containers else {})
        flags = _flags([*(con.get("command") or []), *(con.get("args") or [])])
        self.name = deploy["metadata"]["name"]
        self.namespace = deploy["metadata"].get("namespace", "")
        self.executor_image = flags.get("executor-image") or DEFAULT_EXECUTOR_IMAGE
        namespaced = flags.get("namespaced", "false").lower() in ("true", "1")
        self.managed_namespace = (flags.get("managed-namespace") or self.namespace) if namespaced else None

    def watches(self, ns: str) -> bool:
        return self.managed_namespace is None or self.managed_namespace == ns


def controller_scope(deploy: dict) -> str | None:
    """The namespace a workflow controller manages (None: all)."""
    return ControllerConfig(deploy).managed_namespace


def controller_for(deploys: list[dict], ns: str) -> ControllerConfig | None:
    """The Available workflow controller that manages namespace `ns` (a namespaced one first), or None."""
    cfgs = sorted((ControllerConfig(d) for d in deploys if is_controller_deployment(d) and deployment_available(d)),
                  key=lambda c: (c.managed_namespace is None, c.namespace, c.name))
    return next((c for c in cfgs if c.watches(ns)), None)
