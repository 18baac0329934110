"""Deployment and ReplicaSet controllers (kube-controller-manager behaviour, simplified where it doesn't show)."""

from __future__ import annotations

import copy
import json
import math
import time

from ..machinery.errors import ApiError
from .base import (
    PODS,
    Controller,
    controller_of,
    controller_ref,
    enqueue_owner,
    now,
    owned_by,
    parse_ts,
    pod_active,
    prune_nulls,
    selects,
    set_condition,
)
from .pods import ready_for

DEPLOYS = ("apps", "deployments")
RSS = ("apps", "replicasets")
HASH_LABEL = "pod-template-hash"
REV = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in s)


def template_hash(template: dict, collisions: int = 0) -> str:
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")) + (str(collisions) if collisions else "")
    return safe_encode(str(fnv32a(raw.encode())))


def _without_hash(tpl: dict) -> dict:
    t = prune_nulls(copy.deepcopy(tpl or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def int_or_percent(v, total: int, round_up: bool) -> int:
    if isinstance(v, str) and v.endswith("%"):
        try:
            pct = int(v[:-1])
        except ValueError:
            return 0
        x = pct * total / 100
        return math.ceil(x) if round_up else math.floor(x)
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def surge_unavailable(d: dict) -> tuple[int, int]:
    spec = d["spec"]
    replicas = int(spec.get("replicas", 1))
    strat = spec.get("strategy") or {}
    if strat.get("type") == "Recreate":
        return 0, replicas
    ru = strat.get("rollingUpdate") or {}
    surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
    unavail = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavail == 0:
        unavail = 1
    return surge, min(unavail, replicas)


def _revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REV, "0"))
    except ValueError:
        return 0


def _spec_replicas(rs: dict) -> int:
    return int(rs["spec"].get("replicas", 1))


def _st(rs: dict, f: str) -> int:
    return int((rs.get("status") or {}).get(f) or 0)


class DeploymentController(Controller):
    name = "deployment"
    primary = DEPLOYS
    watch_keys = (RSS, PODS)
    settings = ("delay",)

    def keys_for(self, ev):
        m = ev.obj["metadata"]
        if ev.key == DEPLOYS:
            yield m.get("namespace", ""), m["name"]
        elif ev.key == RSS:
            yield from enqueue_owner(ev.obj, "Deployment")
        elif ev.type == "DELETED" or (ev.obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            # an old pod gone or terminated: a Recreate rollout may go on
            ref = controller_of(ev.obj)
            rs = self.client.get(RSS, m.get("namespace", ""), ref["name"]) if ref and \
                ref.get("kind") == "ReplicaSet" else None
            dref = controller_of(rs) if rs is not None else None
            if dref and dref.get("kind") == "Deployment":
                d = self.client.get(DEPLOYS, m.get("namespace", ""), dref["name"])
                if d is not None and (d["spec"].get("strategy") or {}).get("type") == "Recreate":
                    yield m.get("namespace", ""), dref["name"]

    def reconcile(self, ns: str, name: str):
        d = self.client.get(DEPLOYS, ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        uid = d["metadata"]["uid"]
        rss = sorted((rs for rs in self.client.list(RSS, ns) if owned_by(rs, uid)),
                     key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]))
        want = _without_hash(d["spec"].get("template"))
        new_rs = next((rs for rs in rss if _without_hash(rs["spec"].get("template")) == want), None)
        old = [rs for rs in rss if rs is not new_rs]
        replicas = int(d["spec"].get("replicas", 1))
        paused = bool(d["spec"].get("paused"))
        created = False
        recreate = (d["spec"].get("strategy") or {}).get("type") == "Recreate"
        if new_rs is None and not paused and recreate and not self._old_gone(d, old):
            for rs in old:   # Recreate: the old pods go first, the new ReplicaSet comes after
                if _spec_replicas(rs):
                    self._scale(d, rs, 0)
            return self._status(d, None, old, False)
        if new_rs is None and not paused:
            new_rs = self._create_rs(d, old)
            created = True
        elif new_rs is not None:
            new_rs = self._sync_rs_revision(d, new_rs, old)
        if not paused and new_rs is not None:
            strat = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
            if strat == "Recreate":
                self._recreate(d, new_rs, old, replicas)
            else:
                self._rolling(d, new_rs, old, replicas)
            self._cleanup(d, old)
        return self._status(d, new_rs, old, created)

    # -- replica sets --
    def _create_rs(self, d: dict, old: list[dict]) -> dict:
        tpl = prune_nulls(copy.deepcopy(d["spec"]["template"]))
        collisions = int((d.get("status") or {}).get("collisionCount") or 0)
        h = template_hash(tpl, collisions)
        labels = dict((tpl.get("metadata") or {}).get("labels") or {}, **{HASH_LABEL: h})
        tpl.setdefault("metadata", {})["labels"] = labels
        sel = copy.deepcopy(d["spec"]["selector"])
        sel.setdefault("matchLabels", {})[HASH_LABEL] = h
        rev = max([_revision(r) for r in old] + [0]) + 1
        replicas = int(d["spec"].get("replicas", 1))
        surge, _ = surge_unavailable(d)
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            start = 0 if any(_spec_replicas(r) or _st(r, "replicas") for r in old) else replicas
        else:
            total = sum(_spec_replicas(r) for r in old)
            start = max(0, min(replicas, replicas + surge - total))
        ann = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
               if k not in (REV, "kubectl.kubernetes.io/last-applied-configuration")}
        ann.update({REV: str(rev), "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + surge)})
        body = {"metadata": {"name": f"{d['metadata']['name']}-{h}", "namespace": d["metadata"]["namespace"],
                             "labels": labels, "annotations": ann, "ownerReferences": [controller_ref(d)]},
                "spec": {"replicas": start, "selector": sel, "template": tpl}}
        if int(d["spec"].get("minReadySeconds") or 0):  # kube-controller-manager leaves the zero value out
            body["spec"]["minReadySeconds"] = int(d["spec"]["minReadySeconds"])
        try:
            rs = self.client.create(RSS, d["metadata"]["namespace"], body)
        except ApiError as e:
            if e.code != 409 or e.body.get("reason") != "AlreadyExists":
                raise
            # a ReplicaSet of that name that isn't ours (hash collision): bump collisionCount and retry
            self.client.mutate(DEPLOYS, d["metadata"]["namespace"], d["metadata"]["name"], lambda o: o.setdefault(
                "status", {}).__setitem__("collisionCount", collisions + 1), "status")
            raise
        self.recorder.normal(d, "ScalingReplicaSet", f"Scaled up replica set {rs['metadata']['name']} to {start}")
        self.client.mutate(DEPLOYS, d["metadata"]["namespace"], d["metadata"]["name"],
                           lambda o: o["metadata"].setdefault("annotations", {}).__setitem__(REV, str(rev)))
        return rs

    def _sync_rs_revision(self, d: dict, rs: dict, old: list[dict]) -> dict:
        max_old = max([_revision(r) for r in old] + [0])
        rev = _revision(rs)
        if rev <= max_old:
            rev = max_old + 1
        replicas = int(d["spec"].get("replicas", 1))
        surge, _ = surge_unavailable(d)

        def change(o):
            a = o["metadata"].setdefault("annotations", {})
            a[REV] = str(rev)
            a["deployment.kubernetes.io/desired-replicas"] = str(replicas)
            a["deployment.kubernetes.io/max-replicas"] = str(replicas + surge)
            if int(d["spec"].get("minReadySeconds") or 0):
                o["spec"]["minReadySeconds"] = int(d["spec"]["minReadySeconds"])
            else:
                o["spec"].pop("minReadySeconds", None)
        out = self.client.mutate(RSS, rs["metadata"]["namespace"], rs["metadata"]["name"], change) or rs
        if (d["metadata"].get("annotations") or {}).get(REV) != str(rev):
            self.client.mutate(DEPLOYS, d["metadata"]["namespace"], d["metadata"]["name"],
                               lambda o: o["metadata"].setdefault("annotations", {}).__setitem__(REV, str(rev)))
        return out

    def _scale(self, d: dict, rs: dict, to: int) -> dict:
        frm = _spec_replicas(rs)
        if frm == to:
            return rs

        def change(o):
            o["spec"]["replicas"] = to
        out = self.client.mutate(RSS, rs["metadata"]["namespace"], rs["metadata"]["name"], change) or rs
        word = "up" if to > frm else "down"
        self.recorder.normal(d, "ScalingReplicaSet", f"Scaled {word} replica set {rs['metadata']['name']} to {to} "
                                                     f"from {frm}")
        return out

    def _recreate(self, d, new_rs, old, replicas) -> None:
        for rs in old:
            if _spec_replicas(rs):
                self._scale(d, rs, 0)
        if self._old_gone(d, old):
            self._scale(d, new_rs, replicas)

    def _old_gone(self, d, old) -> bool:
        if any(_spec_replicas(rs) or _st(rs, "replicas") for rs in old):
            return False
        uids = {rs["metadata"]["uid"] for rs in old}   # a pod being deleted counts until it has terminated
        return not any((p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                       and any(owned_by(p, u) for u in uids)
                       for p in self.client.list(PODS, d["metadata"]["namespace"]))

    def _rolling(self, d, new_rs, old, replicas) -> None:
        surge, unavail = surge_unavailable(d)
        cur_new = _spec_replicas(new_rs)
        if cur_new > replicas:
            new_rs = self._scale(d, new_rs, replicas)
        elif cur_new < replicas:
            total = cur_new + sum(_spec_replicas(r) for r in old)
            room = replicas + surge - total
            if room > 0:
                new_rs = self._scale(d, new_rs, cur_new + min(room, replicas - cur_new))
        old_live = [r for r in old if _spec_replicas(r) > 0]
        if not old_live:
            return
        min_available = replicas - unavail
        all_pods = _spec_replicas(new_rs) + sum(_spec_replicas(r) for r in old_live)
        new_unavailable = max(0, _spec_replicas(new_rs) - _st(new_rs, "availableReplicas"))
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        # first the old replicas that are not available anyway (oldest replica sets first)
        for i, rs in enumerate(old_live):
            unhealthy = _spec_replicas(rs) - _st(rs, "availableReplicas")
            if unhealthy <= 0 or max_scaled_down <= 0:
                continue
            drop = min(unhealthy, max_scaled_down)
            old_live[i] = self._scale(d, rs, _spec_replicas(rs) - drop)
            max_scaled_down -= drop
        # then available ones, keeping minAvailable
        available = _st(new_rs, "availableReplicas") + sum(min(_st(r, "availableReplicas"), _spec_replicas(r))
                                                           for r in old_live)
        budget = available - min_available
        for rs in old_live:
            if budget <= 0:
                break
            cur = _spec_replicas(rs)
            if cur == 0:
                continue
            drop = min(cur, budget)
            self._scale(d, rs, cur - drop)
            budget -= drop

    def _cleanup(self, d, old) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if _spec_replicas(rs) == 0 and _st(rs, "replicas") == 0
                and not rs["metadata"].get("deletionTimestamp")]
        idle.sort(key=_revision)
        for rs in idle[:max(0, len(idle) - limit)]:
            self.client.delete(RSS, rs["metadata"]["namespace"], rs["metadata"]["name"],
                               uid=rs["metadata"]["uid"])

    # -- status --
    def _status(self, d, new_rs, old, created):  # noqa: PLR0915 - the Deployment status fields and conditions computed together, as the deployment controller does
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        all_rs = ([new_rs] if new_rs else []) + old
        replicas = int(d["spec"].get("replicas", 1))
        _, unavail = surge_unavailable(d)
        total = sum(_spec_replicas(r) for r in all_rs)
        st_replicas = sum(_st(r, "replicas") for r in all_rs)
        updated = _st(new_rs, "replicas") if new_rs else 0
        ready = sum(_st(r, "readyReplicas") for r in all_rs)
        available = sum(_st(r, "availableReplicas") for r in all_rs)
        gen = int(d["metadata"].get("generation", 1))
        prev = d.get("status") or {}
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (updated == replicas and available == replicas and st_replicas == replicas and
                    (not new_rs or _spec_replicas(new_rs) == replicas))
        progressed = created or any(
            int(prev.get(f) or 0) < v for f, v in (("updatedReplicas", updated), ("readyReplicas", ready),
                                                    ("availableReplicas", available))) or \
            int(prev.get("replicas") or 0) > st_replicas or int(prev.get("observedGeneration") or 0) < gen
        deadline = d["spec"].get("progressDeadlineSeconds")
        requeue = None

        def change(o):  # noqa: PLR0912 - one branch per Deployment condition rule (Available, Progressing, paused, deadline exceeded)
            nonlocal requeue
            st = o.setdefault("status", {})
            st["observedGeneration"] = gen
            st["replicas"] = st_replicas
            st["updatedReplicas"] = updated
            st["readyReplicas"] = ready
            st["availableReplicas"] = available
            uv = max(0, total - available)
            if uv:
                st["unavailableReplicas"] = uv
            else:
                st.pop("unavailableReplicas", None)
            for f in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
                if not st[f]:
                    st.pop(f)
            if available >= replicas - unavail:
                set_condition(st, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum "
                              "availability.", update_time=True)
            else:
                set_condition(st, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have "
                              "minimum availability.", update_time=True)
            prog = next((c for c in st.get("conditions") or [] if c["type"] == "Progressing"), None)
            if o["spec"].get("paused"):
                set_condition(st, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                              update_time=True)
            elif prog is not None and prog.get("reason") == "DeploymentPaused":
                set_condition(st, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed",
                              update_time=True)
            elif complete and rs_name:
                set_condition(st, "Progressing", "True", "NewReplicaSetAvailable",
                              f'ReplicaSet "{rs_name}" has successfully progressed.', update_time=True)
            elif created:
                set_condition(st, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set '
                              f'"{rs_name}"', update_time=True)
            elif progressed or prog is None:
                set_condition(st, "Progressing", "True", "ReplicaSetUpdated",
                              f'ReplicaSet "{rs_name}" is progressing.', update_time=True)
                for c in st["conditions"]:
                    if c["type"] == "Progressing":
                        c["lastUpdateTime"] = now()
            if not complete and deadline is not None and not o["spec"].get("paused"):
                prog = next(c for c in st["conditions"] if c["type"] == "Progressing")
                if prog.get("reason") != "ProgressDeadlineExceeded":
                    since = parse_ts(prog.get("lastUpdateTime")) or time.time()
                    left = since + int(deadline) - time.time()
                    if left <= 0:
                        set_condition(st, "Progressing", "False", "ProgressDeadlineExceeded",
                                      f'ReplicaSet "{rs_name}" has timed out progressing.', update_time=True)
                        self.recorder.warning(d, "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed '
                                              "out progressing.")
                    else:
                        requeue = left + 0.05
            # the ReplicaSets' ReplicaFailure (the new one's first), as getReplicaFailures
            failures = [c for r in ([new_rs] if new_rs else []) for c in _failure_conditions(r)] or \
                [c for r in old for c in _failure_conditions(r)]
            mine = next((c for c in st["conditions"] if c["type"] == "ReplicaFailure"), None)
            if not failures:
                st["conditions"] = [c for c in st["conditions"] if c["type"] != "ReplicaFailure"]
            elif mine is None or (mine.get("status"), mine.get("reason")) != (failures[0].get("status"),
                                                                               failures[0].get("reason")):
                f = failures[0]
                st["conditions"] = [c for c in st["conditions"] if c["type"] != "ReplicaFailure"] + [{
                    "type": "ReplicaFailure", "status": f.get("status"),
                    "lastUpdateTime": f.get("lastTransitionTime"), "lastTransitionTime": f.get("lastTransitionTime"),
                    "reason": f.get("reason"), "message": f.get("message")}]
            order = {"Available": 0, "Progressing": 1}
            st["conditions"].sort(key=lambda c: order.get(c["type"], 9))
        self.client.mutate(DEPLOYS, ns, name, change, "status")
        return requeue


class ReplicaSetController(Controller):
    name = "replicaset"
    primary = RSS
    watch_keys = (PODS,)

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        self._failures: dict[tuple[str, str], int] = {}   # failed syncs in a row, for the retry's backoff

    def keys_for(self, ev):
        return super().keys_for(ev) if ev.key == RSS else enqueue_owner(ev.obj, "ReplicaSet")

    def reconcile(self, ns: str, name: str):
        rs = self.client.get(RSS, ns, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return None
        uid = rs["metadata"]["uid"]
        pods = [p for p in self.client.list(PODS, ns) if owned_by(p, uid)]
        active = [p for p in pods if pod_active(p)]
        want = _spec_replicas(rs)
        failed = None
        if len(active) < want:
            for _ in range(want - len(active)):
                failed = self._create_pod(rs)
                if failed is not None:
                    break
        elif len(active) > want:
            # delete unscheduled, then not ready, then newest first
            def rank(p):
                st = p.get("status") or {}
                ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions")
                            or [])
                return (bool(p["spec"].get("nodeName")), ready, _neg_ts(p["metadata"].get("creationTimestamp")))
            for p in sorted(active, key=rank)[:len(active) - want]:
                self.client.delete(PODS, ns, p["metadata"]["name"], uid=p["metadata"]["uid"])
                self.recorder.normal(rs, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
        pods = [p for p in self.client.list(PODS, ns) if owned_by(p, uid) and pod_active(p)]
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        ready = sum(1 for p in pods if ready_for(p, 0))
        available = sum(1 for p in pods if ready_for(p, min_ready))
        labels = (rs["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}
        fully = sum(1 for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v
                                           for k, v in labels.items()))
        gen = int(rs["metadata"].get("generation", 1))

        def change(o):
            st = {"replicas": len(pods), "fullyLabeledReplicas": fully, "readyReplicas": ready,
                  "availableReplicas": available, "observedGeneration": gen}
            conds = [c for c in (o.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
            has = any(c.get("type") == "ReplicaFailure" for c in conds)
            if failed is not None and not has:   # calculateStatus: set once, removed after a good sync
                conds.append({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": now(),
                              "reason": "FailedCreate", "message": failed})
            elif failed is None and has:
                conds = [c for c in conds if c.get("type") != "ReplicaFailure"]
            st["conditions"] = conds
            o["status"] = {k: v for k, v in st.items() if v or k in ("replicas", "observedGeneration")}
        self.client.mutate(RSS, ns, name, change, "status")
        key = (ns, name)
        if failed is not None:   # the work queue's rate limiter: 5 ms doubling, capped here at 30 s
            self._failures[key] = n = self._failures.get(key, 0) + 1
            return min(0.005 * 2 ** n, 30.0)
        self._failures.pop(key, None)
        if min_ready and ready > available:
            return float(min_ready) / 2
        return None

    def _create_pod(self, rs: dict) -> str | None:
        """Creates one pod of the template; returns the server's message when the create is refused."""
        tpl = copy.deepcopy(rs["spec"].get("template") or {})
        m = tpl.get("metadata") or {}
        body = {"metadata": {"generateName": rs["metadata"]["name"] + "-", "namespace": rs["metadata"]["namespace"],
                             "labels": m.get("labels") or {}, "ownerReferences": [controller_ref(rs)]},
                "spec": tpl.get("spec") or {}}
        if m.get("annotations"):
            body["metadata"]["annotations"] = m["annotations"]
        try:
            pod = self.client.create(PODS, rs["metadata"]["namespace"], body)
        except ApiError as e:   # refused (admission, quota, ...): a Warning, and the sync fails with its message
            message = str(e.body.get("message") or e)
            causes = (e.body.get("details") or {}).get("causes") or []
            if not any(c.get("reason") == "NamespaceTerminating" for c in causes):
                self.recorder.warning(rs, "FailedCreate", f"Error creating: {message}")
            return message
        self.recorder.normal(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        return None


def _failure_conditions(rs: dict) -> list[dict]:
    return [c for c in (rs.get("status") or {}).get("conditions") or []
            if isinstance(c, dict) and c.get("type") == "ReplicaFailure"]


def _neg_ts(ts: str | None) -> float:
    return -(parse_ts(ts) or 0.0)


__all__ = ["DeploymentController", "ReplicaSetController", "selects", "template_hash"]
