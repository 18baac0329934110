"""Controller plumbing: an identity that writes through `sandbox.objects`, a keyed work queue fed by store
watches, Events, and small helpers shared by the controllers.

Every controller writes as its own user (``system:serviceaccount:kube-system:<name>-controller``) with the field
manager ``kube-controller-manager`` (or ``kube-scheduler`` / ``kubelet``), exactly like the real components, and
each write is recorded in the audit log under that user so tests can tell them from the client's writes.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import secrets
import threading
import time
from collections.abc import Iterable

from ..machinery.errors import ApiError
from ..machinery.selectors import selector_from_dict

log = logging.getLogger("sandbox.controllers")
Key = tuple[str, str]
PODS = ("", "pods")
EVENTS = ("", "events")
NODE_NAME = "sandbox-node"
VERSION = "v1.32.0"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def meta(o: dict) -> dict:
    return o["metadata"]


def controller_ref(owner: dict) -> dict:
    m = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"], "uid": m["uid"],
            "controller": True, "blockOwnerDeletion": True}


def owned_by(o: dict, uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in o["metadata"].get("ownerReferences") or [])


def controller_of(o: dict) -> dict | None:
    return next((r for r in o["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def enqueue_owner(o: dict, kind: str) -> Iterable[tuple[str, str]]:
    """(namespace, name) of `o`'s controller owner if it is a `kind`, else nothing: the key a controller queues
    when an object it owns changes (controller-runtime's EnqueueRequestForOwner)."""
    ref = controller_of(o)
    if ref and ref.get("kind") == kind:
        yield o["metadata"].get("namespace", ""), ref["name"]


def selects(selector: dict | None, labels: dict | None) -> bool:
    try:
        return selector_from_dict(selector).matches(labels or {})
    except ValueError:
        return False


def condition(obj_status: dict, ctype: str) -> dict | None:
    return next((c for c in obj_status.get("conditions") or [] if c.get("type") == ctype), None)


def set_condition(st: dict, ctype: str, status: str, reason: str = "", message: str = "", *,
                  update_time: bool = False) -> None:
    """Insert/replace a condition; lastTransitionTime changes only when status does (lastUpdateTime always on
    `update_time`, as Deployment conditions carry it)."""
    conds = st.setdefault("conditions", [])
    cur = next((c for c in conds if c.get("type") == ctype), None)
    t = now()
    new = {"type": ctype, "status": status}
    if update_time:
        new["lastUpdateTime"] = t if (cur is None or cur.get("status") != status or cur.get("reason") != reason
                                      or cur.get("message") != message) else cur.get("lastUpdateTime", t)
    new["lastTransitionTime"] = t if cur is None or cur.get("status") != status else cur.get("lastTransitionTime", t)
    store_condition(conds, cur, new, reason, message)


def store_condition(conds: list, cur: dict | None, new: dict, reason: str = "", message: str = "") -> None:
    """The common tail of every condition setter: add reason and message when given, then replace `cur` (the
    condition of that type found in `conds`) or append."""
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    if cur is None:
        conds.append(new)
    else:
        conds[conds.index(cur)] = new


def pod_ready(pod: dict) -> bool:
    c = condition(pod.get("status") or {}, "Ready")
    return bool(c and c.get("status") == "True") and not pod["metadata"].get("deletionTimestamp")


def pod_ready_since(pod: dict) -> float | None:
    c = condition(pod.get("status") or {}, "Ready")
    if not c or c.get("status") != "True":
        return None
    return parse_ts(c.get("lastTransitionTime"))


def pod_active(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and \
        not pod["metadata"].get("deletionTimestamp")


def client_for(sandbox, user: str, manager: str = "kube-controller-manager"):
    """The API client of one identity: the host's own (over HTTPS, when components run against any API server)
    or the emulator's in-process one."""
    make = getattr(sandbox, "client_for", None)
    if make is not None:
        return make(user, manager)
    from ..client.local import Client
    return Client(sandbox, user, manager)


class Recorder:
    """core/v1 Events with client-go's aggregation (same object+reason+message -> count++)."""

    def __init__(self, client, component: str):   # a local.Client or a remote.RemoteClient
        self.client, self.component = client, component
        self._seen: dict[tuple, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def event(self, obj: dict, etype: str, reason: str, message: str) -> None:
        m = obj["metadata"]
        ns = m.get("namespace") or "default"
        involved = {"kind": obj.get("kind"), "namespace": m.get("namespace"), "name": m["name"], "uid": m.get("uid"),
                    "apiVersion": obj.get("apiVersion"), "resourceVersion": m.get("resourceVersion")}
        involved = {k: v for k, v in involved.items() if v}
        ident = (m.get("uid"), etype, reason, message, self.component)
        t = now()
        try:
            with self._lock:
                prev = self._seen.get(ident)
                if prev is not None:
                    def bump(ev):
                        ev["count"] = int(ev.get("count") or 1) + 1
                        ev["lastTimestamp"] = t
                    if self.client.mutate(EVENTS, prev[0], prev[1], bump) is not None:
                        return
                name = f"{m['name']}.{secrets.token_hex(8)}"
                self.client.create(EVENTS, ns, {
                    "metadata": {"name": name, "namespace": ns}, "involvedObject": involved, "reason": reason,
                    "message": message, "source": {"component": self.component, "host": NODE_NAME}
                    if self.component == "kubelet" else {"component": self.component},
                    "firstTimestamp": t, "lastTimestamp": t, "count": 1, "type": etype, "eventTime": None,
                    "reportingComponent": self.component, "reportingInstance": NODE_NAME
                    if self.component == "kubelet" else ""})
                self._seen[ident] = (ns, name)
                if len(self._seen) > 5000:
                    self._seen.clear()
        except ApiError as e:   # e.g. the namespace is terminating
            log.debug("event %s on %s/%s not recorded: %s", reason, ns, m["name"], e)

    def normal(self, obj: dict, reason: str, message: str) -> None:
        self.event(obj, "Normal", reason, message)

    def warning(self, obj: dict, reason: str, message: str) -> None:
        self.event(obj, "Warning", reason, message)


class Controller:
    """One thread: drains store watch events into a de-duplicated, delayable work queue of (namespace, name)
    and calls `reconcile(ns, name)` for each due item. Subclasses set `name`, `primary`, `watch_keys`,
    `user`, `component` and override `reconcile` and optionally `keys_for(event)`."""

    name = "controller"
    primary: Key = ("", "")
    watch_keys: tuple[Key, ...] = ()
    user = ""
    manager = "kube-controller-manager"
    component = ""
    resync = 0.0                # seconds between full requeues (0: never)
    settings: tuple[str, ...] = ("delay",)

    def __init__(self, sandbox, manager=None):
        self.sb = sandbox
        self.store = sandbox.store
        self.mgr = manager
        self.client = client_for(sandbox, self.user or f"system:serviceaccount:kube-system:{self.name}-controller",
                                 self.manager)
        self.recorder = Recorder(self.client, self.component or f"{self.name}-controller")
        self.delay = 0.0          # fault injection: seconds to sleep before every reconcile
        self._due: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = None
        self._thread: threading.Thread | None = None
        self.errors = 0
        # per (namespace, name): finished reconcile calls, and the newest resourceVersion of the primary object a
        # finished call began with. A test waits for them to know the controller has looked at a state of the
        # object (and so that what it did not do for that state will not happen).
        self.reconciles: dict[tuple[str, str], int] = {}
        self.reconciled_versions: dict[tuple[str, str], int] = {}

    # -- queue --
    def enqueue(self, ns: str, name: str, after: float = 0.0) -> None:
        due = time.monotonic() + max(0.0, after)
        item = (ns or "", name)
        with self._lock:
            cur = self._due.get(item)
            if cur is not None and cur <= due:
                return
            self._due[item] = due
            heapq.heappush(self._heap, (due, item))

    def _pop_due(self) -> tuple[list[tuple[str, str]], float]:
        out = []
        t = time.monotonic()
        with self._lock:
            while self._heap and self._heap[0][0] <= t:
                due, item = heapq.heappop(self._heap)
                if self._due.get(item) == due:
                    del self._due[item]
                    out.append(item)
            wait = (self._heap[0][0] - t) if self._heap else 1.0
        return out, max(0.0, min(wait, 1.0))

    # -- events --
    def keys_for(self, ev) -> Iterable[tuple[str, str]]:
        if ev.key == self.primary:
            m = ev.obj["metadata"]
            yield m.get("namespace", ""), m["name"]

    def initial(self) -> None:
        for o in self.client.list(self.primary):
            self.enqueue(o["metadata"].get("namespace", ""), o["metadata"]["name"])

    # -- loop --
    def start(self) -> None:
        keys = {self.primary, *self.watch_keys}
        self._watcher = self.store.watch(None)
        self._keys = keys
        ensure = getattr(self.store, "ensure", None)
        if ensure is not None:   # informers (components over HTTPS): list every kind this controller reads
            ensure(keys)
        self.initial()
        self._thread = threading.Thread(target=self._run, name=f"ctrl-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:  # noqa: PLR0912 - the controller's one event loop: drain watch events, resync, work the due queue, requeue on conflicts and errors
        last_resync = time.monotonic()
        wait = 0.0
        while not self._stopping.is_set():
            ev = self._watcher.get(timeout=wait if wait > 0 else 0.001)
            while ev is not None:
                if ev.key in self._keys:
                    try:
                        for ns, name in self.keys_for(ev):
                            self.enqueue(ns, name)
                    except Exception:
                        log.exception("%s: keys_for failed", self.name)
                ev = self._watcher.get(timeout=0)
            if self._stopping.is_set():
                return
            if self.resync and time.monotonic() - last_resync > self.resync:
                last_resync = time.monotonic()
                self.initial()
            items, wait = self._pop_due()
            for ns, name in items:
                if self._stopping.is_set():
                    return
                if self.delay:
                    time.sleep(self.delay)
                version = self._version_of(ns, name)
                try:
                    again = self.reconcile(ns, name)
                    if again is not None:
                        self.enqueue(ns, name, float(again))
                except ApiError as e:
                    if e.code == 409:
                        self.enqueue(ns, name, 0.05)
                    elif e.code != 404:
                        self.errors += 1
                        log.warning("%s: reconcile %s/%s: %s", self.name, ns, name, e)
                        self.enqueue(ns, name, 1.0)
                except Exception:
                    self.errors += 1
                    log.exception("%s: reconcile %s/%s failed", self.name, ns, name)
                    self.enqueue(ns, name, 1.0)
                finally:
                    with self._lock:
                        self.reconciles[(ns, name)] = self.reconciles.get((ns, name), 0) + 1
                        self.reconciled_versions[(ns, name)] = max(version,
                                                                   self.reconciled_versions.get((ns, name), 0))
            if items:
                wait = 0.0

    def _version_of(self, ns: str, name: str) -> int:
        """The resourceVersion of the primary object as a reconcile begins (0 when unknown): never raises."""
        if not name or self.primary == ("", ""):
            return 0
        try:
            seen = self.store.get(self.primary, ns, name)
            return int(((seen or {}).get("metadata") or {}).get("resourceVersion") or 0)
        except Exception:   # a store that cannot answer (an informer not synced): the count still tells
            return 0

    def reconcile(self, ns: str, name: str) -> float | None:  # returns seconds to requeue after, or None
        raise NotImplementedError

    # -- settings (POST /sandbox/v1/controllers/<name>) --
    def configure(self, values: dict) -> dict:
        for k, v in values.items():
            if k not in self.settings:
                raise ValueError(f"unknown setting {k!r} for controller {self.name} (known: {list(self.settings)})")
            setattr(self, k, type(getattr(self, k))(v) if getattr(self, k) is not None else v)
        return self.describe()

    def describe(self) -> dict:
        return {"name": self.name, **{k: getattr(self, k) for k in self.settings}, "errors": self.errors,
                "queued": len(self._due)}


def prune_nulls(v):
    """Go decodes null and absent alike: drop None values (recursively) before comparing templates."""
    if isinstance(v, dict):
        return {k: prune_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [prune_nulls(x) for x in v]
    return v
