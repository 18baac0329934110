"""The sandbox's Service endpoints on the real control plane.

kube-apiserver refuses loopback addresses in Endpoints and EndpointSlices ("may not be in the loopback range"),
and every address the sandbox may dial is a loopback one (the network rule), so kube-controller-manager cannot
publish the sandbox's pods. This controller does what a CNI plugin's address management would make possible: for
each Service with a selector it writes one EndpointSlice per ready pod whose port really listens on this machine
(the endpoints registry of the pod runners), with `addressType: FQDN` and, as its address, the loopback address
written as a name (`127.0.0.1` is a valid two-segment-or-more domain name, so validation accepts it) and the port
where the process listens. kube-apiserver's webhook and aggregator resolver (`--enable-aggregator-routing=true`)
and its service proxy take the first address of a slice whatever its type, so they dial `127.0.0.1:<port>`
literally: no name lookup, never a ClusterIP. The service proxy also requires the address to be the pod's IP:
it works for a process that listens on its pod's (loopback) IP.
"""

from __future__ import annotations

import hashlib
import ipaddress

from ..controllers.base import PODS, Controller, pod_ready, selects
from ..controllers.runtime import endpoints_registry

SERVICES = ("", "services")
SLICES = ("discovery.k8s.io", "endpointslices")
MANAGED_BY = "network.sandbox.local"
SERVICE_LABEL = "kubernetes.io/service-name"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


class LoopbackEndpointSlices(Controller):
    name = "loopback-endpointslices"
    primary = SERVICES
    watch_keys = (PODS,)
    user = "system:serviceaccount:kube-system:sandbox-network"
    manager = "sandbox-network"
    component = "sandbox-network"
    resync = 5.0   # a runner registers its port without an API event; its pod's Ready event usually follows

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        self.registry = endpoints_registry(sandbox)

    def keys_for(self, ev):
        m = ev.obj["metadata"]
        if ev.key == SERVICES:
            yield m.get("namespace", ""), m["name"]
        elif ev.key == PODS:
            ns = m.get("namespace", "")
            for svc in self.client.list(SERVICES, ns):
                sel = (svc.get("spec") or {}).get("selector")
                if sel and selects({"matchLabels": sel}, m.get("labels")):
                    yield ns, svc["metadata"]["name"]

    def _ours(self, ns: str, name: str) -> dict[str, dict]:
        return {s["metadata"]["name"]: s for s in self.client.list(SLICES, ns)
                if (s["metadata"].get("labels") or {}).get(SERVICE_LABEL) == name
                and (s["metadata"].get("labels") or {}).get("endpointslice.kubernetes.io/managed-by") == MANAGED_BY}

    def desired(self, svc: dict) -> dict[str, dict]:
        m, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = m.get("namespace", ""), m["name"]
        sel = spec.get("selector")
        if not sel or spec.get("type") == "ExternalName":
            return {}
        out = {}
        for pod in self.client.list(PODS, ns):
            pm = pod["metadata"]
            if pm.get("deletionTimestamp") or not selects({"matchLabels": sel}, pm.get("labels")):
                continue
            ports = []
            for sp in spec.get("ports") or []:
                target = sp.get("targetPort", sp.get("port"))
                if isinstance(target, str) and not target.isdigit():
                    target = next((p.get("containerPort") for c in pod["spec"].get("containers") or []
                                   for p in c.get("ports") or [] if p.get("name") == target), None)
                addr = self.registry.lookup(ns, pm["name"], int(target)) if target is not None else None
                if addr is not None and _loopback(addr[0]):
                    host = addr[0]
                    ports.append({"name": sp.get("name", ""), "port": addr[1], "protocol": sp.get("protocol", "TCP")})
            if not ports or len({p["port"] for p in ports}) != len(ports):
                continue
            ready = pod_ready(pod)
            slice_name = f"{name[:40]}-sbx-{hashlib.sha256(pm['name'].encode()).hexdigest()[:10]}"
            out[slice_name] = {
                "metadata": {"name": slice_name, "namespace": ns,
                             "labels": {SERVICE_LABEL: name, "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                                  "uid": m["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "addressType": "FQDN",
                "endpoints": [{"addresses": [host],
                               "conditions": {"ready": ready, "serving": ready, "terminating": False},
                               "targetRef": {"kind": "Pod", "namespace": ns, "name": pm["name"], "uid": pm["uid"]},
                               "nodeName": pod["spec"].get("nodeName", "")}],
                "ports": ports}
        return out

    def reconcile(self, ns: str, name: str):
        svc = self.client.get(SERVICES, ns, name)
        want = self.desired(svc) if svc is not None and not svc["metadata"].get("deletionTimestamp") else {}
        have = self._ours(ns, name)
        for slice_name, body in want.items():
            cur = have.get(slice_name)
            if cur is None:
                self.client.create(SLICES, ns, body)
            elif any(cur.get(k) != body[k] for k in ("addressType", "endpoints", "ports")):
                self.client.mutate(SLICES, ns, slice_name, lambda o, b=body: o.update(
                    {"endpoints": b["endpoints"], "ports": b["ports"]}))
        for slice_name, cur in have.items():
            if slice_name not in want:
                self.client.delete(SLICES, ns, slice_name, uid=cur["metadata"]["uid"])
