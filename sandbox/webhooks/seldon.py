"""Seldon Core v1.18's admission webhook, served by the sandbox for the seldon_core role's operator pod.

`SeldonWebhookRunner` is a pod runner (``sandbox.pod_runners``) for the operator pod (image
``.../seldon-core-operator``): it serves the validating webhook ``v1.vseldondeployment.kb.io`` at
``/validate-machinelearning-seldon-io-v1-seldondeployment`` over HTTPS on a free 127.0.0.1 port, registered in the
endpoints registry under the pod and its ``webhook-server`` containerPort (so the webhook Service's endpoints lead
there, on the emulator and, through an EndpointSlice, on a real kube-apiserver).

Certificates, as upstream's operator: with ``MANAGER_CREATE_RESOURCES=true`` (the role's default ``operator`` webhook
mode) it generates its own CA and serving certificate for ``seldon-webhook-service.<ns>[.svc]`` and creates or
updates ``seldon-validating-webhook-configuration`` (``-<ns>`` with a watch namespace) with that CA as caBundle,
failurePolicy Fail, sideEffects None, the default timeout, and the controller-id selectors; in ``cert_manager`` mode it
serves the certificate of the Secret mounted at ``/tmp/k8s-webhook-server/serving-certs`` (the pod waits in
ContainerCreating while that Secret does not exist, as the kubelet's volume mount would).

It acts on the cluster only through its API client (the pod's ServiceAccount identity): no emulator internals.
"""

from __future__ import annotations

import base64
import json
import logging
import threading

from ..controllers.base import client_for
from ..controllers.runtime import ContainerStatus, RunStatus
from .server import WebhookServer
from .tls import ServingCert, serving_cert

log = logging.getLogger("sandbox.webhooks.seldon")

VALIDATE_PATH = "/validate-machinelearning-seldon-io-v1-seldondeployment"
WEBHOOK_NAME = "v1.vseldondeployment.kb.io"
CONFIG_NAME = "seldon-validating-webhook-configuration"
SERVICE_NAME = "seldon-webhook-service"
CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"  # noqa: S108 - the path in the pod, never opened here
VWC = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
CONFIGMAPS = ("", "configmaps")
SECRETS = ("", "secrets")
SERVICES = ("", "services")
DEPLOYMENTS = ("apps", "deployments")
MANAGER_DEPLOYMENT = "seldon-controller-manager"
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
CRD_NAME = "seldondeployments.machinelearning.seldon.io"
# implementations that are not prepackaged servers (upstream's IsPrepack)
NOT_PREPACKED = ("", "SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER", "UNKNOWN_IMPLEMENTATION")
GROUP_SHOWN = "machinelearing.seldon.io"   # sic: upstream's NewInvalid names this group (a typo it has kept)


# -- validation (upstream's ValidateSeldonDeployment, with its messages) -------------------------------------
def _quote(v: object) -> str:
    return json.dumps("" if v is None else str(v))


def _container(p: dict, name: str) -> dict | None:
    for cs in p.get("componentSpecs") or []:
        for c in ((cs or {}).get("spec") or {}).get("containers") or []:
            if c.get("name") == name:
                return c
    return None


def _graph_size(pu: dict) -> int:
    return 1 + sum(_graph_size(c) for c in pu.get("children") or [] if isinstance(c, dict))


def _transports(pu: dict, found: set) -> None:
    t = (pu.get("endpoint") or {}).get("type")
    if t:
        found.add(t)
    for c in pu.get("children") or []:
        if isinstance(c, dict):
            _transports(c, found)


def _check_units(spec: dict, pu: dict, p: dict, path: str, servers: dict, errs: list) -> None:
    impl = pu.get("implementation")
    name = pu.get("name", "")
    if impl is None or impl == "UNKNOWN_IMPLEMENTATION":
        if _container(p, name) is None:
            errs.append((path, name, "Can't find container for Predictive Unit"))
        if pu.get("type") == "UNKNOWN_TYPE" and not pu.get("methods"):
            errs.append((path, name, "Predictive Unit has no implementation methods defined. Change to a known type "
                                     "or add what methods it defines"))
    elif impl not in NOT_PREPACKED:
        if not pu.get("modelUri"):
            errs.append((path, name, "Predictive unit modelUri required when using standalone servers"))
        if spec.get("protocol") == "tensorflow" and impl in ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER"):
            errs.append((path, name, "Prepackaged server does not handle tensorflow protocol " + impl))
        c = _container(p, name)
        if (c is None or not c.get("image")) and impl not in servers:
            errs.append((path, name, "No entry in predictors map for " + impl))
    if isinstance(pu.get("logger"), dict) and not pu["logger"].get("mode"):
        errs.append((path, "", "No logger mode specified"))
    for i, child in enumerate(pu.get("children") or []):
        if isinstance(child, dict):
            _check_units(spec, child, p, f"{path}[{i}]", servers, errs)


def _check_traffic(spec: dict, errs: list) -> None:
    preds = spec.get("predictors") or []
    total, shadows = 0, 0
    for p in preds:
        traffic = int(p.get("traffic") or 0)
        if p.get("shadow"):
            shadows += 1
            if shadows > 1:
                errs.append(("spec", p.get("name", ""), "Multiple shadows are not allowed"))
            if not 0 <= traffic <= 100:
                errs.append(("spec", p.get("name", ""), "shadow traffic is illegal, the traffic number should be "
                                                        "between [0, 100]"))
        else:
            total += traffic
    if total != 100 and len(preds) - shadows > 1:
        errs.append(("spec", preds[0].get("name", ""), "Traffic must sum to 100 for multiple predictors"))
    if 0 < total < 100 and len(preds) == 1:
        errs.append(("spec", preds[0].get("name", ""), "Traffic must sum be 100 for a single predictor when set"))


def validation_errors(sdep: dict, servers: dict) -> list[tuple[str, str, str]]:
    """(field path, value, detail) of every problem upstream's webhook reports, in its order."""
    spec = sdep.get("spec") or {}
    errs: list[tuple[str, str, str]] = []
    proto, transport, server_type = spec.get("protocol", ""), spec.get("transport", ""), spec.get("serverType", "")
    if proto and proto not in ("seldon", "tensorflow", "kfserving", "v2"):
        errs.append(("spec", proto, "Invalid protocol"))
    if transport and transport not in ("rest", "grpc"):
        errs.append(("spec", transport, "Invalid transport"))
    if server_type and server_type not in ("rpc", "kafka"):
        errs.append(("spec", server_type, "Invalid serverType"))
    preds = [p for p in spec.get("predictors") or [] if isinstance(p, dict)]
    if server_type == "kafka":
        kafka = {"KAFKA_BROKER", "KAFKA_INPUT_TOPIC", "KAFKA_OUTPUT_TOPIC"}
        for i, p in enumerate(preds):
            names = [e.get("name") for e in (p.get("svcOrchSpec") or {}).get("env") or []]
            if sum(1 for n in names if n in kafka) < 3:
                errs.append((f"spec.predictors[{i}]", p.get("name", ""), "For kafka please supply svcOrchSpec envs "
                                                                          "KAFKA_BROKER, KAFKA_INPUT_TOPIC, "
                                                                          "KAFKA_OUTPUT_TOPIC"))
    if len(preds) == 1 and preds[0].get("shadow"):
        errs.append(("spec.predictors[0]", preds[0].get("name", ""), "Shadow can not exist as only predictor"))
    if not preds:
        errs.append(("spec", transport, "Graph contains no predictors"))
    seen: set = set()
    transports: set = set()
    for i, p in enumerate(preds):
        graph = p.get("graph") if isinstance(p.get("graph"), dict) else {}
        _transports(graph, transports)
        if "seldon.io/no-engine" in (p.get("annotations") or {}) and _graph_size(graph) > 1:
            errs.append((f"spec.predictors[{i}]", p.get("name", ""), "Running without engine only valid for single "
                                                                      "element graphs"))
        if p.get("name", "") in seen:
            errs.append((f"spec.predictors[{i}]", p.get("name", ""), "Duplicate predictor name"))
        seen.add(p.get("name", ""))
        _check_units(spec, graph, p, f"spec.predictors[{i}].graph", servers, errs)
    if len(transports) > 1:
        errs.append(("spec", "", "Multiple endpoint.types found - can only have 1 type in graph. Please use "
                                 "spec.transport"))
    elif len(transports) == 1 and transport:
        t = next(iter(transports))
        if (t == "REST" and transport != "rest") or (t == "GRPC" and transport != "grpc"):
            errs.append(("spec", "", "Mixed transport types found. Remove graph endpoint.types if transport set at "
                                     "deployment level"))
    _check_traffic(spec, errs)
    return errs


def invalid_status(name: str, errs: list[tuple[str, str, str]]) -> dict:
    """apierrors.NewInvalid for upstream's GroupKind, as controller-runtime returns it in the response."""
    causes = [{"reason": "FieldValueInvalid", "message": f"Invalid value: {_quote(v)}: {d}", "field": f}
              for f, v, d in errs]
    text = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    return {"metadata": {}, "status": "Failure", "message": f'SeldonDeployment.{GROUP_SHOWN} "{name}" is invalid: '
                                                           f"{text}",
            "reason": "Invalid", "details": {"name": name, "group": GROUP_SHOWN, "kind": "SeldonDeployment",
                                             "causes": causes}, "code": 422}


def review_response(review: dict, allowed: bool, status: dict | None = None) -> dict:
    req = review.get("request") or {}
    resp: dict = {"uid": req.get("uid", ""), "allowed": allowed}
    resp["status"] = status if status is not None else {"metadata": {}, "code": 200}
    return {"apiVersion": review.get("apiVersion") or "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": resp}


class SeldonValidator:
    """The handler of VALIDATE_PATH; `servers()` gives seldon-config's predictor_servers of the operator's
    namespace (read through the operator's client on each call, as upstream reads it through its cache)."""

    def __init__(self, servers):
        self.servers = servers

    def __call__(self, review: dict) -> dict:
        req = review.get("request") or {}
        if req.get("operation") not in ("CREATE", "UPDATE") or not isinstance(req.get("object"), dict):
            return review_response(review, True)
        obj = req["object"]
        try:
            servers = self.servers()
        except Exception:   # upstream logs "Failed to read prepacked model servers from configmap" and goes on
            log.exception("reading seldon-config")
            servers = {}
        errs = validation_errors(obj, servers)
        if not errs:
            return review_response(review, True)
        name = (obj.get("metadata") or {}).get("name", "")
        return review_response(review, False, invalid_status(name, errs))


# -- the operator pod's webhook server ---------------------------------------------------------------------
def _env(container: dict) -> dict:
    return {e.get("name"): str(e.get("value", "")) for e in container.get("env") or [] if "value" in e}


def _arg(container: dict, flag: str) -> str:
    for a in container.get("args") or []:
        if isinstance(a, str) and a.startswith(f"--{flag}="):
            return a.split("=", 1)[1]
    return ""


def is_operator_pod(pod: dict) -> bool:
    for c in (pod.get("spec") or {}).get("containers") or []:
        repo = str(c.get("image", "")).rsplit("@", 1)[0]
        repo = repo.rsplit(":", 1)[0] if ":" in repo.rsplit("/", 1)[-1] else repo
        if repo.rsplit("/", 1)[-1] == "seldon-core-operator":
            return True
    return False


def webhook_configuration(namespace: str, watch_namespace: str, controller_id: str, ca_pem: str,
                          owner: dict | None) -> dict:
    """The ValidatingWebhookConfiguration upstream's operator registers (operator/config/webhook, made per
    namespace by utils/k8s/webhook.go)."""
    if watch_namespace:
        ns_selector = {"matchLabels": {"kubernetes.io/metadata.name": watch_namespace}}
    else:
        ns_selector = {"matchExpressions": [{"key": "seldon.io/controller-id", "operator": "DoesNotExist"}]}
    obj_selector = {"matchLabels": {"seldon.io/controller-id": controller_id}} if controller_id else \
        {"matchExpressions": [{"key": "seldon.io/controller-id", "operator": "DoesNotExist"}]}
    meta: dict = {"name": CONFIG_NAME + (f"-{namespace}" if watch_namespace else ""),
                  "labels": {"app": "seldon", "app.kubernetes.io/name": "seldon"}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": meta,
            "webhooks": [{"name": WEBHOOK_NAME, "admissionReviewVersions": ["v1", "v1beta1"], "sideEffects": "None",
                          "failurePolicy": "Fail",
                          "clientConfig": {"caBundle": base64.b64encode(ca_pem.encode()).decode(),
                                           "service": {"name": SERVICE_NAME, "namespace": namespace,
                                                       "path": VALIDATE_PATH}},
                          "namespaceSelector": ns_selector, "objectSelector": obj_selector,
                          "rules": [{"apiGroups": ["machinelearning.seldon.io"], "apiVersions": ["v1"],
                                     "operations": ["CREATE", "UPDATE"], "resources": ["seldondeployments"]}]}]}


class _PodWebhook:
    def __init__(self, server: WebhookServer | None, status: RunStatus, retry=None):
        self.server, self.status, self.retry = server, status, retry


def _live_get(client, key: tuple[str, str], ns: str, name: str) -> dict | None:
    """A live read where the client has one (an informer's cache may lag behind a write), else its get."""
    read = getattr(client, "read", None)
    return read(key, ns, name) if read is not None else client.get(key, ns, name)


class SeldonWebhookRunner:
    """Pod runner of the Seldon operator pod: its webhook server (see the module docstring)."""

    def __init__(self, sandbox):
        self.sb = sandbox
        self.lock = threading.Lock()
        self.pods: dict[str, _PodWebhook] = {}

    def matches(self, pod: dict) -> bool:
        return is_operator_pod(pod)

    def start(self, pod: dict, ctx) -> None:
        uid = pod["metadata"]["uid"]
        ns = pod["metadata"].get("namespace", "")
        spec = pod.get("spec") or {}
        container = next(c for c in spec.get("containers") or [] if is_operator_pod({"spec": {"containers": [c]}}))
        env = _env(container)
        port = next((int(p["containerPort"]) for p in container.get("ports") or []
                     if p.get("name") == "webhook-server"), 0) or int(_arg(container, "webhook-port") or 4443)
        user = f"system:serviceaccount:{ns}:{spec.get('serviceAccountName') or 'default'}"
        client = client_for(self.sb, user, "manager")
        name = container.get("name", "manager")
        try:
            cert = self._certificate(client, ns, spec, env)
        except LookupError as e:
            self._set(uid, None, RunStatus("Pending", False, str(e), "ContainerCreating", [ContainerStatus(
                name, "waiting", False, reason="ContainerCreating", message=str(e))]), retry=(pod, ctx))
            return

        def servers() -> dict:
            cm = client.get(CONFIGMAPS, ns, "seldon-config")
            raw = ((cm or {}).get("data") or {}).get("predictor_servers") or "{}"
            return json.loads(raw)

        server = WebhookServer(cert, {VALIDATE_PATH: SeldonValidator(servers)}, name=f"seldon-{ns}").start()
        ctx.register(port, server.host, server.port)
        try:
            if env.get("MANAGER_CREATE_RESOURCES", "true").lower() == "true":
                self._register(client, ns, env.get("WATCH_NAMESPACE", "") or _arg(container, "namespace"),
                               env.get("CONTROLLER_ID", ""), cert.ca_pem)
        except Exception as e:   # upstream's operator exits when it cannot create its resources
            log.exception("registering the Seldon webhook")
            server.stop()
            self._set(uid, None, RunStatus("Running", False, str(e), "Error", [ContainerStatus(
                name, "terminated", False, exit_code=1, reason="Error", message=str(e))]))
            return
        self._set(uid, server, RunStatus("Running", True, containers=[ContainerStatus(name, "running", True)]))

    @staticmethod
    def _certificate(client, ns: str, spec: dict, env: dict) -> ServingCert:
        mount = next((m.get("name") for c in spec.get("containers") or [] for m in c.get("volumeMounts") or []
                      if m.get("mountPath") == CERT_DIR), None)
        volume = next((v for v in spec.get("volumes") or [] if v.get("name") == mount), None)
        secret_name = ((volume or {}).get("secret") or {}).get("secretName")
        if not secret_name:
            return serving_cert([f"{SERVICE_NAME}.{ns}", f"{SERVICE_NAME}.{ns}.svc"])
        secret = _live_get(client, SECRETS, ns, secret_name)
        if secret is None:
            raise LookupError(f'MountVolume.SetUp failed for volume "{mount}" : secret "{secret_name}" not found')
        data = secret.get("data") or {}

        def field(key: str) -> str:
            return base64.b64decode(data.get(key) or "").decode("ascii", "replace")
        return ServingCert(field("ca.crt"), field("tls.crt"), field("tls.key"))

    @staticmethod
    def _register(client, ns: str, watch_ns: str, controller_id: str, ca_pem: str) -> None:
        """Upstream's InitializeOperator: the webhook Service when missing (owned by the operator Deployment),
        then the ValidatingWebhookConfiguration created or its webhooks updated (owned by the CRD)."""
        if _live_get(client, SERVICES, ns, SERVICE_NAME) is None:
            dep = _live_get(client, DEPLOYMENTS, ns, MANAGER_DEPLOYMENT)
            svc: dict = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE_NAME, "namespace": ns},
                         "spec": {"ports": [{"port": 443, "targetPort": "webhook-server"}],
                                  "selector": {"control-plane": "seldon-controller-manager"}}}
            if dep is not None:
                svc["metadata"]["ownerReferences"] = [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": MANAGER_DEPLOYMENT,
                    "uid": dep["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
            client.create(SERVICES, ns, svc)
        crd = _live_get(client, CRDS, "", CRD_NAME)
        desired = webhook_configuration(ns, watch_ns, controller_id, ca_pem, crd)
        name = desired["metadata"]["name"]
        cur = _live_get(client, VWC, "", name)
        if cur is None:
            client.create(VWC, "", desired)
            return
        new = json.loads(json.dumps(cur))
        new["webhooks"] = desired["webhooks"]
        client.update(VWC, new)

    def _set(self, uid: str, server: WebhookServer | None, status: RunStatus, retry=None) -> None:
        with self.lock:
            old = self.pods.pop(uid, None)
            self.pods[uid] = _PodWebhook(server, status, retry)
        if old is not None and old.server is not None:
            old.server.stop()

    def status(self, pod: dict) -> RunStatus | None:
        w = self.pods.get(pod["metadata"]["uid"])
        if w is not None and w.retry is not None:   # waiting for its certificate Secret: the kubelet retries
            self.start(*w.retry)
            w = self.pods.get(pod["metadata"]["uid"])
        return w.status if w is not None else None

    def stop(self, pod: dict) -> None:
        with self.lock:
            w = self.pods.pop(pod["metadata"].get("uid", ""), None)
        if w is not None and w.server is not None:
            w.server.stop()

    def stop_all(self) -> None:
        with self.lock:
            pods, self.pods = list(self.pods.values()), {}
        for w in pods:
            if w.server is not None:
                w.server.stop()
