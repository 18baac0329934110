"""Emissary-ingress's `emissary-apiext`, the getambassador.io CRD conversion webhook, served by the sandbox for the
ambassador role's apiext pod (a container whose command is ``apiext emissary-apiext``).

As upstream's apiext: it keeps its CA in the Secret ``emissary-ingress-webhook-ca`` of its namespace (created when
missing), serves ``/webhooks/crd-convert`` (ConversionReview v1) over HTTPS with a certificate for
``emissary-apiext.<ns>.svc`` signed by that CA, and writes the CA into the ``caBundle`` of every CRD whose
conversion webhook names its Service, with its path (re-checked while it runs, so CRDs applied later get it too).
The server listens on a free 127.0.0.1 port registered in the endpoints registry under the pod's ``https``
containerPort.

Conversion between v2 and v3alpha1 (and any other served version) changes ``apiVersion`` and keeps every field:
the fields that the roles and ``seldon_deployment`` write (Mapping prefix/service/rewrite/timeout_ms/weight/shadow,
Module config, Host hostname/tlsSecret, TLSContext) are spelled the same in both versions.
"""

from __future__ import annotations

import base64
import copy
import logging
import threading
import time

from ..controllers.base import client_for
from ..controllers.runtime import ContainerStatus, RunStatus
from .server import WebhookServer
from .tls import issue, make_ca

log = logging.getLogger("sandbox.webhooks.emissary")

CONVERT_PATH = "/webhooks/crd-convert"
SERVICE_NAME = "emissary-apiext"
CA_SECRET = "emissary-ingress-webhook-ca"  # noqa: S105 - a Secret name
SECRETS = ("", "secrets")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
RECHECK = 2.0


def is_apiext_pod(pod: dict) -> bool:
    return any("emissary-apiext" in [*(c.get("command") or []), *(c.get("args") or [])]
               for c in (pod.get("spec") or {}).get("containers") or [])


def convert(review: dict) -> dict:
    """The ConversionReview answer: every object in the desired apiVersion, its fields kept."""
    req = review.get("request") or {}
    desired = req.get("desiredAPIVersion", "")
    out = []
    for obj in req.get("objects") or []:
        o = copy.deepcopy(obj)
        o["apiVersion"] = desired
        out.append(o)
    return {"apiVersion": review.get("apiVersion") or "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": req.get("uid", ""), "convertedObjects": out,
                         "result": {"metadata": {}, "status": "Success"}}}


class _Apiext:
    def __init__(self, client, namespace: str, server: WebhookServer | None, ca_pem: str, status: RunStatus):
        self.client, self.namespace, self.server, self.ca_pem, self.status = client, namespace, server, ca_pem, status
        self.checked = 0.0


class EmissaryApiextRunner:
    """Pod runner of emissary-apiext (see the module docstring)."""

    def __init__(self, sandbox):
        self.sb = sandbox
        self.lock = threading.Lock()
        self.pods: dict[str, _Apiext] = {}

    def matches(self, pod: dict) -> bool:
        return is_apiext_pod(pod)

    def start(self, pod: dict, ctx) -> None:
        uid, ns = pod["metadata"]["uid"], pod["metadata"].get("namespace", "")
        spec = pod.get("spec") or {}
        container = next(c for c in spec.get("containers") or [] if is_apiext_pod({"spec": {"containers": [c]}}))
        port = next((int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name") == "https"),
                    8443)
        client = client_for(self.sb, f"system:serviceaccount:{ns}:{spec.get('serviceAccountName') or 'default'}",
                            "emissary-apiext")
        name = container.get("name", "emissary-apiext")
        try:
            ca_pem, ca_key = self._ca(client, ns)
            cert = issue(ca_pem, ca_key, [f"{SERVICE_NAME}.{ns}.svc", f"{SERVICE_NAME}.{ns}",
                                          f"{SERVICE_NAME}.{ns}.svc.cluster.local"])
        except Exception as e:   # upstream's apiext exits when it cannot keep its CA
            log.exception("emissary-apiext CA")
            self._set(uid, _Apiext(client, ns, None, "", RunStatus("Running", False, str(e), "Error", [
                ContainerStatus(name, "terminated", False, exit_code=1, reason="Error", message=str(e))])))
            return
        server = WebhookServer(cert, {CONVERT_PATH: convert}, name=f"emissary-apiext-{ns}").start()
        ctx.register(port, server.host, server.port)
        state = _Apiext(client, ns, server, ca_pem, RunStatus("Running", True, containers=[
            ContainerStatus(name, "running", True)]))
        self._inject(state)
        self._set(uid, state)

    @staticmethod
    def _ca(client, ns: str) -> tuple[str, str]:
        read = getattr(client, "read", None)
        secret = read(SECRETS, ns, CA_SECRET) if read is not None else client.get(SECRETS, ns, CA_SECRET)
        if secret is not None:
            data = secret.get("data") or {}
            return (base64.b64decode(data.get("tls.crt", "")).decode(),
                    base64.b64decode(data.get("tls.key", "")).decode())
        ca_pem, ca_key = make_ca("emissary-apiext-ca")
        client.create(SECRETS, ns, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                                    "metadata": {"name": CA_SECRET, "namespace": ns},
                                    "data": {"tls.crt": base64.b64encode(ca_pem.encode()).decode(),
                                             "tls.key": base64.b64encode(ca_key.encode()).decode()}})
        return ca_pem, ca_key

    @staticmethod
    def _inject(state: _Apiext) -> None:
        """Write the CA into the conversion webhook of every CRD that names this apiext's Service."""
        state.checked = time.monotonic()
        bundle = base64.b64encode(state.ca_pem.encode()).decode()
        for crd in state.client.list(CRDS):
            webhook = ((crd.get("spec") or {}).get("conversion") or {}).get("webhook") or {}
            svc = (webhook.get("clientConfig") or {}).get("service") or {}
            if (svc.get("name"), svc.get("namespace")) != (SERVICE_NAME, state.namespace) or \
                    (webhook["clientConfig"].get("caBundle") == bundle and svc.get("path") == CONVERT_PATH):
                continue

            def change(obj: dict) -> None:
                config = obj["spec"]["conversion"]["webhook"]["clientConfig"]
                config["caBundle"] = bundle
                config["service"]["path"] = CONVERT_PATH
            try:
                state.client.mutate(CRDS, "", crd["metadata"]["name"], change)
            except Exception:   # a conflict or a CRD going away: the next check tries again
                log.info("caBundle of %s not written yet", crd["metadata"]["name"], exc_info=True)

    def _set(self, uid: str, state: _Apiext) -> None:
        with self.lock:
            old = self.pods.pop(uid, None)
            self.pods[uid] = state
        if old is not None and old.server is not None:
            old.server.stop()

    def status(self, pod: dict) -> RunStatus | None:
        state = self.pods.get(pod["metadata"]["uid"])
        if state is None:
            return None
        if state.server is not None and time.monotonic() - state.checked > RECHECK:
            self._inject(state)
        return state.status

    def stop(self, pod: dict) -> None:
        with self.lock:
            state = self.pods.pop(pod["metadata"].get("uid", ""), None)
        if state is not None and state.server is not None:
            state.server.stop()

    def stop_all(self) -> None:
        with self.lock:
            states, self.pods = list(self.pods.values()), {}
        for state in states:
            if state.server is not None:
                state.server.stop()
