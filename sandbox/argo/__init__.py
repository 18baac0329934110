"""The sandbox's Argo Workflows 3.5 (component "sandbox.argo:component").

* `sandbox.argo.workflow.WorkflowController`: the Workflow controller (acts only while a workflow-controller
  Deployment like the argo_workflows role's is Available): steps and DAGs, parameters, `when`, loops, retries,
  deadlines, exit handlers; a pod per container/script/resource node; ``status.nodes``, phase, outputs, Events;
* `sandbox.argo.executor.ArgoPodRunner`: a pod runner for the step pods (what argoexec does): runs the main
  container as a local process from a loaded image (`sandbox.argo.images`), runs resource templates with the pod's
  service account, reports outputs through a WorkflowTaskResult;
* `sandbox.argo.cron.CronWorkflowController`: CronWorkflow schedules;
* `sandbox.argo.common`: names shared by the three.

Adds ``SANDBOX_ARGO_CONTROLLER=1`` to the sandbox env.
"""

from __future__ import annotations

import logging

log = logging.getLogger("sandbox.argo")


class ArgoComponent:
    def __init__(self, sandbox):
        from ..controllers.runtime import pod_runners
        from .cron import CronWorkflowController
        from .executor import ArgoPodRunner
        from .workflow import WorkflowController
        self.sb = sandbox
        self.workflows = WorkflowController(sandbox)
        self.cron = CronWorkflowController(sandbox)
        self.runner = ArgoPodRunner(sandbox)
        pod_runners(sandbox).register(self.runner, priority=5)

    def start(self) -> None:
        self.sb.env["SANDBOX_ARGO_CONTROLLER"] = "1"
        controllers = getattr(self.sb, "controllers", None)
        for c in (self.workflows, self.cron):
            if isinstance(controllers, dict):
                controllers[c.name] = c
            c.start()

    def stop(self) -> None:
        for c in (self.cron, self.workflows):
            c.stop()
        try:
            self.runner.stop_all()
        except Exception:
            log.exception("stopping the Argo step processes")
        pr = getattr(self.sb, "pod_runners", None)
        if pr is not None:
            pr.unregister(self.runner)


def component(sandbox) -> ArgoComponent:
    comp = ArgoComponent(sandbox)
    sandbox.argo = comp
    return comp
