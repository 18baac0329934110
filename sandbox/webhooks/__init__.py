"""Webhook servers of the sandbox's components: plain HTTPS servers on 127.0.0.1 (`server.py`), registered in the
endpoints registry under the pod and containerPort they stand for, acting on the cluster only through their
component's API client.

* `seldon.py`: Seldon Core v1.18's validating admission webhook, served for the seldon_core role's operator pod;
* `emissary.py`: Emissary's emissary-apiext CRD conversion webhook, served for the ambassador role's apiext pod;
* `tls.py`: serving certificates (a CA and a certificate for a Service's DNS names).
"""

from __future__ import annotations


class WebhooksComponent:
    """Component "sandbox.webhooks:component": registers the emissary-apiext pod runner (the Seldon operator's
    webhook is registered by the Seldon component, whose operator pod it is)."""

    def __init__(self, sandbox):
        from ..controllers.runtime import pod_runners
        from .emissary import EmissaryApiextRunner
        self.sb = sandbox
        self.apiext = EmissaryApiextRunner(sandbox)
        pod_runners(sandbox).register(self.apiext, priority=10)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.apiext.stop_all()
        pr = getattr(self.sb, "pod_runners", None)
        if pr is not None:
            pr.unregister(self.apiext)


def component(sandbox) -> WebhooksComponent:
    return WebhooksComponent(sandbox)
