"""The node's own object: register the Node (capacity, allocatable, addresses, conditions, the kubelet's port),
keep its status fresh and renew its Lease in `kube-node-lease`, as the kubelet's node status manager and lease
controller do. On a real control plane the node lifecycle controller marks a node whose heartbeats stop
`Unknown` and taints it; kube-scheduler binds pods only to a Ready, untainted node."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading

from ..machinery.errors import ApiError
from .base import NODE_NAME, client_for, now

log = logging.getLogger("sandbox.controllers.node")
NODES = ("", "nodes")
LEASES = ("coordination.k8s.io", "leases")
HOST_IP = "127.0.0.1"
CAPACITY = {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "0"}
PRESSURE = (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))


def node_names(count: int) -> list[str]:
    """The names of a sandbox's `count` simulated nodes: sandbox-node, sandbox-node-2, sandbox-node-3, ..."""
    return [NODE_NAME] + [f"{NODE_NAME}-{i}" for i in range(2, max(1, count) + 1)]


def node_config(name: str) -> dict:
    """Extra `labels` and `taints` the node `name` registers with (the kubelet's --node-labels and
    --register-with-taints), from $MLOPS_SANDBOX_NODE_CONFIG: JSON {"<node>": {"labels": {...}, "taints": [...]}}."""
    try:
        conf = json.loads(os.environ.get("MLOPS_SANDBOX_NODE_CONFIG") or "{}").get(name) or {}
    except (ValueError, AttributeError) as e:
        raise ValueError(f"MLOPS_SANDBOX_NODE_CONFIG is not a JSON object of nodes: {e}") from e
    return {"labels": dict(conf.get("labels") or {}), "taints": list(conf.get("taints") or [])}


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeAgent:
    """Registers the node `name` and heartbeats it every `interval` seconds (status and Lease) until stopped."""

    def __init__(self, sandbox, *, name: str = NODE_NAME, kubelet_port: int = 0, interval: float = 10.0,
                 version: str = "v1.37.2"):
        self.name = name
        self.client = client_for(sandbox, "system:node:" + name, "kubelet")
        self.kubelet_port, self.interval, self.version = kubelet_port, interval, version
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = now()

    def node(self) -> dict:
        # no node-role labels: a node may not set them on itself (NodeRestriction)
        extra = node_config(self.name)
        labels = {**extra["labels"], "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
        return {"metadata": {"name": self.name, "labels": labels,
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": {"taints": extra["taints"]} if extra["taints"] else {}}

    def status(self, old: dict | None) -> dict:
        t = now()
        prev = {c["type"]: c for c in (old or {}).get("conditions") or []}

        def cond(ctype, status, reason, message):
            was = prev.get(ctype) or {}
            return {"type": ctype, "status": status, "lastHeartbeatTime": t,
                    "lastTransitionTime": was.get("lastTransitionTime", t) if was.get("status") == status else t,
                    "reason": reason, "message": message}
        conds = [cond(c, "False", r, m) for c, r, m in PRESSURE]
        conds.append(cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
        return {"capacity": dict(CAPACITY), "allocatable": dict(CAPACITY), "conditions": conds,
                "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": self.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
                "nodeInfo": {"machineID": "sandbox", "systemUUID": "sandbox", "bootID": "sandbox",
                             "kernelVersion": "sandbox", "osImage": "mlops.k8s sandbox",
                             "containerRuntimeVersion": "sandbox://1.0", "kubeletVersion": self.version,
                             "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}

    def register(self) -> None:
        try:
            self.client.create(NODES, "", self.node())
        except ApiError as e:
            if e.code != 409:
                raise
        self.heartbeat()

    def heartbeat(self) -> None:
        cur = self.client.read(NODES, "", self.name)
        if cur is None:
            self.client.create(NODES, "", self.node())
            cur = self.client.read(NODES, "", self.name)
        # a patch of the status alone, as the kubelet sends it: a PUT would also carry the spec it read, and
        # NodeRestriction refuses a node that changes its taints (the node lifecycle controller's, since)
        self.client.patch(NODES, "", self.name, {"status": self.status(cur.get("status"))}, sub="status",
                          content_type="application/strategic-merge-patch+json")
        lease = self.client.read(LEASES, "kube-node-lease", self.name)
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}
        if lease is None:
            self.client.create(LEASES, "kube-node-lease", {
                "metadata": {"name": self.name, "namespace": "kube-node-lease", "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": self.name, "uid": cur["metadata"]["uid"]}]},
                "spec": spec})
        else:
            lease["spec"].update(spec)
            self.client.update(LEASES, lease)

    def start(self) -> None:
        self.register()
        self._thread = threading.Thread(target=self._run, name=f"node-heartbeat-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.heartbeat()
            except (ApiError, OSError) as e:
                log.warning("node heartbeat failed: %s", e)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
