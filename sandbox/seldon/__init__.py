"""The sandbox's Seldon Core v1 operator (component "sandbox.seldon:component").

* `sandbox.seldon.operator.SeldonOperator`: the SeldonDeployment controller (acts only while an operator
  Deployment like the seldon_core role's is Available; Deployments, Services with Ambassador Mappings, status);
* `sandbox.seldon.runner.SeldonPodRunner`: a pod runner for the model pods (storage initializer for real, model
  servers from `sandbox.servers`, probes, restarts), registered in ``sandbox.pod_runners``;
* `sandbox.seldon.spec`: what the operator makes of a SeldonDeployment (pure functions).

Adds ``SANDBOX_SELDON_OPERATOR=1`` to the sandbox env. Settings (admin endpoint of the controllers component):
``POST /sandbox/v1/controllers/seldon-operator {"time_scale": 0.1}`` shortens probe delays and back-offs (default
``SANDBOX_SELDON_TIME_SCALE`` or 1.0, real time); ``{"delay": s}`` slows every reconcile down.
"""

from __future__ import annotations

import logging

log = logging.getLogger("sandbox.seldon")


class SeldonComponent:
    def __init__(self, sandbox):
        from ..controllers.runtime import pod_runners
        from .operator import SeldonOperator
        from .runner import SeldonPodRunner
        self.sb = sandbox
        self.operator = SeldonOperator(sandbox)
        self.runner = SeldonPodRunner(sandbox, self)
        pod_runners(sandbox).register(self.runner, priority=10)
        # the operator pod serves Seldon's admission webhook (sandbox/webhooks/seldon.py)
        from ..webhooks.seldon import SeldonWebhookRunner
        self.webhooks = SeldonWebhookRunner(sandbox)
        pod_runners(sandbox).register(self.webhooks, priority=10)

    def time_scale(self) -> float:
        return max(0.0, float(self.operator.time_scale))

    def config_for_namespace(self, namespace: str):
        return self.operator.config_for_namespace(namespace)

    def start(self) -> None:
        self.sb.env["SANDBOX_SELDON_OPERATOR"] = "1"
        controllers = getattr(self.sb, "controllers", None)
        if isinstance(controllers, dict):
            controllers[self.operator.name] = self.operator
        self.operator.start()

    def stop(self) -> None:
        self.operator.stop()
        try:
            self.runner.stop_all()
        except Exception:
            log.exception("stopping the Seldon model servers")
        self.webhooks.stop_all()
        pr = getattr(self.sb, "pod_runners", None)
        if pr is not None:
            pr.unregister(self.runner)
            pr.unregister(self.webhooks)


def component(sandbox) -> SeldonComponent:
    comp = SeldonComponent(sandbox)
    sandbox.seldon = comp
    return comp
