"""Endpoints controller: Service (with a selector) -> Endpoints of the matching pods, ready ones in `addresses`,
the others in `notReadyAddresses`, ports resolved through the pods' named container ports."""

from __future__ import annotations

from .base import PODS, Controller, pod_ready

SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")


def _resolve(port: dict, pod: dict) -> int | None:
    tp = port.get("targetPort", port.get("port"))
    if isinstance(tp, int) or (isinstance(tp, str) and tp.isdigit()):
        return int(tp)
    for c in pod["spec"].get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == tp:
                return int(cp["containerPort"])
    return None


class EndpointsController(Controller):
    name = "endpoint"
    primary = SERVICES
    watch_keys = (PODS, ENDPOINTS)

    def keys_for(self, ev):
        m = ev.obj["metadata"]
        ns = m.get("namespace", "")
        if ev.key in (SERVICES, ENDPOINTS):
            yield ns, m["name"]
            return
        labels = [m.get("labels") or {}]
        if ev.old is not None:
            labels.append(ev.old["metadata"].get("labels") or {})
        for svc in self.client.list(SERVICES, ns):
            sel = svc["spec"].get("selector")
            if sel and any(all(lb.get(k) == v for k, v in sel.items()) for lb in labels):
                yield ns, svc["metadata"]["name"]

    def reconcile(self, ns: str, name: str):  # noqa: PLR0912 - the Endpoints controller's sync: one branch per pod and port case it distinguishes
        svc = self.client.get(SERVICES, ns, name)
        ep = self.client.get(ENDPOINTS, ns, name)
        if svc is None or svc["metadata"].get("deletionTimestamp"):
            if ep is not None and (ep["metadata"].get("labels") or {}).get(
                    "endpoints.kubernetes.io/managed-by") == "endpoint-controller":
                self.client.delete(ENDPOINTS, ns, name, uid=ep["metadata"]["uid"])
            return None
        sel = svc["spec"].get("selector")
        if not sel or svc["spec"].get("type") == "ExternalName":
            return None
        subsets: dict[tuple, dict] = {}
        for pod in self.client.list(PODS, ns):
            pl = pod["metadata"].get("labels") or {}
            if not all(pl.get(k) == v for k, v in sel.items()):
                continue
            st = pod.get("status") or {}
            if not st.get("podIP") or st.get("phase") in ("Succeeded", "Failed") or \
                    pod["metadata"].get("deletionTimestamp"):
                continue
            ports = []
            for p in svc["spec"].get("ports") or []:
                n = _resolve(p, pod)
                if n is None:
                    continue
                entry = {"port": n, "protocol": p.get("protocol", "TCP")}
                if p.get("name"):
                    entry["name"] = p["name"]
                if p.get("appProtocol"):
                    entry["appProtocol"] = p["appProtocol"]
                ports.append(entry)
            key = tuple(sorted((e.get("name", ""), e["port"]) for e in ports))
            sub = subsets.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
            addr = {"ip": st["podIP"], "nodeName": pod["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}}
            if pod["spec"].get("hostname"):
                addr["hostname"] = pod["spec"]["hostname"]
            sub["addresses" if pod_ready(pod) else "notReadyAddresses"].append(addr)
        out = []
        for sub in subsets.values():
            for f in ("addresses", "notReadyAddresses"):
                sub[f].sort(key=lambda a: a["ip"])
                if not sub[f]:
                    del sub[f]
            if not sub["ports"]:
                del sub["ports"]
            out.append(sub)
        labels = dict(svc["metadata"].get("labels") or {}, **{"endpoints.kubernetes.io/managed-by":
                                                               "endpoint-controller"})
        if ep is None:
            body = {"metadata": {"name": name, "namespace": ns, "labels": labels}}
            if out:
                body["subsets"] = out
            self.client.create(ENDPOINTS, ns, body)
            return None

        def change(o):
            o["metadata"]["labels"] = labels
            if out:
                o["subsets"] = out
            else:
                o.pop("subsets", None)
        self.client.mutate(ENDPOINTS, ns, name, change)
        return None
