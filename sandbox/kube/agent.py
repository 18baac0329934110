"""The sandbox's node and add-ons on the real control plane, as ordinary API clients over HTTPS: the node
(Node object, heartbeats and Lease), the kubelet (runs the pods kube-scheduler binds to the node, as local
processes or simulated, and writes their status) and the hostpath provisioner. kube-controller-manager does the
rest of the controllers' work (Deployments, ReplicaSets, Jobs, EndpointSlices, volume binding, garbage
collection, namespaces)."""

from __future__ import annotations

import logging

from ..argo import component as argo_component
from ..client.host import ADDON_MANAGER, RemoteHost
from ..client.rest import Credentials
from ..controllers.base import NODE_NAME
from ..controllers.kubelet_api import KubeletServer
from ..controllers.node import NodeAgent
from ..controllers.pods import Kubelet
from ..controllers.storage import HostPathProvisioner
from ..gateway import component as gateway_component
from ..machinery.errors import ApiError
from ..objectstore import component as objectstore_component
from ..seldon import component as seldon_component
from ..webhooks import component as webhooks_component
from .endpoints import LoopbackEndpointSlices

log = logging.getLogger("sandbox.kube.agent")
PROVISIONER_SA = ("kube-system", "sandbox-hostpath-provisioner")
NETWORK_SA = ("kube-system", "sandbox-network")

# What the provisioner may do (the rules external-provisioner's chart grants, for the kinds it touches).
PROVISIONER_RULES = [
    {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch", "update"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "update", "patch", "list", "watch"]},
]


# What the endpoint publisher may do: read Services and Pods, manage EndpointSlices.
NETWORK_RULES = [
    {"apiGroups": [""], "resources": ["services", "pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
     "verbs": ["get", "list", "watch", "create", "update", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "update", "patch"]},
]


def _service_account(sa: tuple[str, str], rules: list[dict]) -> list[tuple[tuple[str, str], str, dict]]:
    ns, name = sa
    return [
        (("", "serviceaccounts"), ns, {"metadata": {"name": name, "namespace": ns}}),
        (("rbac.authorization.k8s.io", "clusterroles"), "", {"metadata": {"name": name}, "rules": rules}),
        (("rbac.authorization.k8s.io", "clusterrolebindings"), "", {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}),
    ]


def addons() -> list[tuple[tuple[str, str], str, dict]]:
    """The add-ons' identities, applied as an admin applies an add-on's manifests."""
    return _service_account(PROVISIONER_SA, PROVISIONER_RULES) + _service_account(NETWORK_SA, NETWORK_RULES)


class Agent:
    def __init__(self, ksb):
        self.host = RemoteHost(ksb.dir, ksb.server, ksb.cp.pki["ca.crt"], Credentials(token=ksb.token))
        self.host.env = ksb.env
        pki = ksb.cp.pki
        self.api = KubeletServer(self.host, pki["kubelet.crt"], pki["kubelet.key"], pki["ca.crt"])
        self.node = NodeAgent(self.host, kubelet_port=self.api.port)
        self.kubelet = Kubelet(self.host)
        self.parts = [self.kubelet, HostPathProvisioner(self.host), LoopbackEndpointSlices(self.host)]
        # components with their own start/stop: the webhook servers (emissary-apiext), the gateway, the Seldon
        # operator (with its admission webhook and model-server runners) and the Argo controllers
        self.components = [factory(self.host) for factory in
                           (webhooks_component, gateway_component, seldon_component, objectstore_component,
                            argo_component)]

    def start(self) -> None:
        addon = self.host.client_for(ADDON_MANAGER, "kubectl")
        for key, ns, body in addons():
            try:
                addon.create(key, ns, body)
            except ApiError as e:
                if e.code != 409:
                    raise
        self.api.start()
        self.node.start()
        for part in self.parts:
            part.start()
            self.host.controllers[part.name] = part
        for comp in self.components:
            comp.start()
        log.info("node %s registered; its kubelet and the add-ons are running", NODE_NAME)

    def stop(self) -> None:
        for comp in reversed(self.components):
            try:
                comp.stop()
            except Exception:
                log.exception("stopping %r", comp)
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s", part.name)
        self.node.stop()
        self.api.stop()
        self.host.close()


def component(ksb) -> Agent:
    return Agent(ksb)
