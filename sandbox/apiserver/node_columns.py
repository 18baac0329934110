"""The cells of the Node table, as kube-apiserver's node printer (pkg/printers/internalversion printNode) fills
them: STATUS from the Ready condition (Ready / NotReady / Unknown, then SchedulingDisabled when cordoned), ROLES
from the node-role labels, and the wide columns from the addresses and nodeInfo."""

from __future__ import annotations

ROLE_PREFIX = "node-role.kubernetes.io/"


def status(o: dict) -> str:
    st = o.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    out = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if (o.get("spec") or {}).get("unschedulable"):
        out.append("SchedulingDisabled")
    return ",".join(out)


def roles(o: dict) -> str:
    found = set()
    for k, v in ((o.get("metadata") or {}).get("labels") or {}).items():
        if k.startswith(ROLE_PREFIX) and k[len(ROLE_PREFIX):]:
            found.add(k[len(ROLE_PREFIX):])
        elif k == "kubernetes.io/role" and v:
            found.add(v)
    return ",".join(sorted(found)) or "<none>"


def address(kind: str):
    def cell(o: dict) -> str:
        return next((a.get("address", "") for a in (o.get("status") or {}).get("addresses") or []
                     if a.get("type") == kind), "<none>")
    return cell


def _info(o: dict) -> dict:
    return (o.get("status") or {}).get("nodeInfo") or {}


def info(field: str):
    return lambda o: _info(o).get(field) or "<unknown>"


def kernel(o: dict) -> str:
    arch = _info(o).get("architecture")
    return (_info(o).get("kernelVersion") or "<unknown>") + (f" ({arch})" if arch else "")


def version(o: dict) -> str:
    return _info(o).get("kubeletVersion", "")
