"""The emulator's scheduler decisions, as kube-scheduler's default plugins make them (k8s.io/kubernetes
pkg/scheduler/framework/plugins, v1.37): the filters NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector
and required node affinity) and NodeResourcesFit (cpu, memory, pods against allocatable minus the requests of the
pods bound there), in that order, each node failing at its first filter; the least requested feasible node wins
(ties: the first by name). When no node fits, the message is the scheduler's FitError text with the default
preemption's verdict (the sandbox never preempts: every pod has the same priority, so there are no victims)."""

from __future__ import annotations

from .storage import quantity

UNSCHEDULABLE = "node(s) were unschedulable"
UNTOLERATED = "node(s) had untolerated taint(s)"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
# what NodeResourcesFit's scoring assumes for a container that requests nothing (schedutil.DefaultMilliCPURequest)
SCORE_DEFAULTS = {"cpu": 0.1, "memory": 200 * 2**20}


def pod_requests(pod: dict) -> dict[str, float]:
    """cpu (cores) and memory (bytes) the pod asks for: the sum over its containers, or the largest init container
    when that is more, plus the pod overhead."""
    def req(c):
        r = ((c or {}).get("resources") or {}).get("requests") or {}
        return {k: quantity(r[k]) for k in ("cpu", "memory") if k in r}
    spec = pod.get("spec") or {}
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        for k, v in req(c).items():
            total[k] = total.get(k, 0.0) + v
    for c in spec.get("initContainers") or []:
        for k, v in req(c).items():
            total[k] = max(total.get(k, 0.0), v)
    for k, v in (spec.get("overhead") or {}).items():
        if k in ("cpu", "memory"):
            total[k] = total.get(k, 0.0) + quantity(v)
    return total


def _tolerates(tol: dict, taint: dict) -> bool:
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    if tol.get("key") and tol["key"] != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    return op == "Exists" or (op == "Equal" and (tol.get("value") or "") == (taint.get("value") or ""))


def untolerated(taints: list[dict], tolerations: list[dict], effects=("NoSchedule", "NoExecute")) -> dict | None:
    """The first taint of `effects` no toleration tolerates (v1helper.FindMatchingUntoleratedTaint)."""
    return next((t for t in taints if t.get("effect") in effects
                 and not any(_tolerates(tol, t) for tol in tolerations)), None)


def node_taints(node: dict) -> list[dict]:
    """The node's taints, plus the not-ready taint the node lifecycle controller would add to a node that is not
    Ready (the emulator has no such controller)."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if not ready or ready.get("status") != "True":
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    return taints


def _expression(expr: dict, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def _term(term: dict, node: dict) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False   # an empty term matches no node
    labels = node["metadata"].get("labels") or {}
    return all(_expression(e, labels.get(e.get("key"))) for e in exprs) and \
        all(e.get("key") == "metadata.name" and _expression(e, node["metadata"]["name"]) for e in fields)


def matches_node(spec: dict, node: dict) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (any of its terms) both hold."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    return required is None or any(_term(t, node) for t in required.get("nodeSelectorTerms") or [])


def _allocatable(node: dict) -> dict[str, float]:
    st = node.get("status") or {}
    alloc = st.get("allocatable") or st.get("capacity") or {}
    return {k: quantity(alloc[k]) for k in ("cpu", "memory", "pods") if k in alloc}


def _fit(want: dict, alloc: dict, used: dict, pods: int) -> tuple[list[str], bool]:
    """NodeResourcesFit: the reasons and whether preemption could help (no request exceeds allocatable)."""
    reasons, resolvable = [], True
    if pods + 1 > alloc.get("pods", 110):
        reasons.append("Too many pods")
    for r in ("cpu", "memory"):
        if want.get(r, 0) > 0 and want[r] > alloc.get(r, 0) - used.get(r, 0):
            reasons.append(f"Insufficient {r}")
            resolvable = resolvable and want[r] <= alloc.get(r, 0)
    return reasons, resolvable


def _filter(pod: dict, node: dict, want: dict, used: dict, pods: int) -> tuple[list[str], bool]:
    spec = pod.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    if (node.get("spec") or {}).get("unschedulable") and untolerated(
            [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}], tolerations):
        return [UNSCHEDULABLE], False
    if untolerated(node_taints(node), tolerations):
        return [UNTOLERATED], False
    if not matches_node(spec, node):
        return [AFFINITY], False
    return _fit(want, _allocatable(node), used, pods)


def choose(pod: dict, nodes: list[dict], bound: list[dict]) -> tuple[str | None, str]:
    """(node name, "") for a pod, or (None, the scheduler's message) when no node fits. `bound`: the pods already
    bound to a node (any phase; the terminal ones are not counted)."""
    if not nodes:
        return None, "no nodes available to schedule pods"
    used: dict[str, dict[str, float]] = {}
    count: dict[str, int] = {}
    for p in bound:
        name = (p.get("spec") or {}).get("nodeName")
        if not name or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        count[name] = count.get(name, 0) + 1
        u = used.setdefault(name, {})
        for k, v in pod_requests(p).items():
            u[k] = u.get(k, 0.0) + v
    want = pod_requests(pod)
    feasible, failed = [], {}
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        reasons, resolvable = _filter(pod, node, want, used.get(name, {}), count.get(name, 0))
        if reasons:
            failed[name] = (reasons, resolvable)
        else:
            feasible.append(node)
    if feasible:
        return max(feasible, key=lambda n: _score(want, _allocatable(n), used.get(n["metadata"]["name"], {}),
                                                  count.get(n["metadata"]["name"], 0)))["metadata"]["name"], ""
    return None, fit_error(len(nodes), failed, (pod.get("spec") or {}).get("preemptionPolicy") == "Never")


def _score(want: dict, alloc: dict, used: dict, pods: int) -> tuple[float, int]:
    """LeastAllocated over cpu and memory (the scoring default for what the pod does not request), then the fewer
    pods; the first node by name wins a tie (max keeps the first)."""
    free = 0.0
    for r, default in SCORE_DEFAULTS.items():
        cap = alloc.get(r) or 1.0
        free += max(0.0, cap - used.get(r, 0.0) - (want.get(r) or default)) / cap
    return free, -pods


def _histogram(counts: dict[str, int]) -> str:
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items() if n))


def fit_error(n: int, failed: dict[str, tuple[list[str], bool]], never_preempts: bool = False) -> str:
    """kube-scheduler's FitError text: the reasons' histogram, then the default preemption's."""
    counts: dict[str, int] = {}
    for reasons, _ in failed.values():
        for r in reasons:
            counts[r] = counts.get(r, 0) + 1
    msg = f"0/{n} nodes are available: {_histogram(counts)}."
    if never_preempts:
        return msg + " preemption: not eligible due to preemptionPolicy=Never."
    helps = sum(1 for _, resolvable in failed.values() if resolvable)
    return msg + f" preemption: 0/{n} nodes are available: " \
                 f"{_histogram({NO_VICTIMS: helps, NOT_HELPFUL: n - helps})}."
