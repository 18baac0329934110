# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch-based waits (no polling loops).

A wait is a *check*: ``check(obj) -> (done, detail)`` where ``obj`` is the current object (None when it
does not exist) and ``detail`` says what is missing; it is what a timeout reports. An optional
``failure(obj) -> str | None`` makes a wait fail fast with the reason (e.g. a SeldonDeployment whose
``status.state`` is Failed).

``wait_for`` lists the object (fieldSelector ``metadata.name=<name>``) to get its state and a resourceVersion,
then watches the list endpoint from that resourceVersion so no change is missed, re-listing on 410 Gone and
re-establishing the watch when the server closes it, until ``timeout`` seconds have passed in total.
"""

from __future__ import annotations

import re
import time

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, WaitFailed, WaitTimeout, ref
from ansible_collections.mlops.k8s.plugins.module_utils.text import compact_json, seconds, to_int

ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
PROBE_EVERY = 5.0  # seconds between two probes of a wait that is not done (see wait_for's probe)
_MISSING = object()


# -- field access -------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\.?(?P<name>[A-Za-z0-9_\-/$@]+(?:\\\.[A-Za-z0-9_\-/$@]+)*)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[['"](?P<key>[^'"]+)['"]\]"""
    r"""|\[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*==\s*['"]?(?P<fval>[^'")]*)['"]?\)\]"""
)


def parse_path(path):
    """Split ``{.status.conditions[0].type}``, ``.status.state``, ``status.state``,
    ``metadata.labels['app.kubernetes.io/name']``, ``a\\.b`` or ``conditions[?(@.type=="Ready")].status``
    into steps: ('key', name) | ('index', n) | ('filter', field, value)."""
    text = (path or "").strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text or text == ".":
        return []
    steps = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise K8sError("cannot parse path %r at %r (use a dotted path like .status.conditions[0].type)"
                           % (path, text[pos:]))
        if match.group("name") is not None:
            steps.append(("key", match.group("name").replace("\\.", ".")))
        elif match.group("index") is not None:
            steps.append(("index", int(match.group("index"))))
        elif match.group("key") is not None:
            steps.append(("key", match.group("key")))
        else:
            steps.append(("filter", match.group("fkey"), match.group("fval")))
        pos = match.end()
    return steps


def get_field(obj, path, default=None):
    """The value at ``path`` (see parse_path) in ``obj``, or ``default`` when any step is missing."""
    value = obj
    for step in parse_path(path) if isinstance(path, str) else path:
        if step[0] == "key":
            if not isinstance(value, dict) or step[1] not in value:
                return default
            value = value[step[1]]
        elif step[0] == "index":
            if not isinstance(value, list) or not -len(value) <= step[1] < len(value):
                return default
            value = value[step[1]]
        else:
            if not isinstance(value, list):
                return default
            matches = [i for i in value if _str(get_field(i, "." + step[1], _MISSING)) == step[2]]
            if not matches:
                return default
            value = matches[0]
    return value


def _str(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def values_equal(actual, expected):
    """kubectl-style comparison of a field with the string the user gave."""
    if isinstance(actual, bool) or str(expected).lower() in ("true", "false"):
        return _str(actual).lower() == str(expected).lower()
    return _str(actual) == str(expected)


# -- status summaries ---------------------------------------------------------------------------------------
def conditions_of(obj):
    conditions = get_field(obj, ".status.conditions", []) or []
    return [c for c in conditions if isinstance(c, dict)]


def summarize(obj):
    """A one-line picture of an object's status for timeout messages."""
    if obj is None:
        return "the object does not exist"
    parts = []
    status = obj.get("status") or {}
    for key in ("state", "phase"):
        if status.get(key):
            parts.append("%s=%s" % (key, status[key]))
    if status.get("description") or status.get("message"):
        parts.append("message=%r" % (status.get("description") or status.get("message")))
    conds = []
    for cond in conditions_of(obj):
        text = "%s=%s" % (cond.get("type"), cond.get("status"))
        extra = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
        conds.append("%s (%s)" % (text, extra) if extra else text)
    if conds:
        parts.append("conditions: " + ", ".join(conds))
    if not parts:
        parts.append("no status reported yet" if not status else "status: %s" % compact_json(status))
    return "; ".join(parts)


# -- checks -------------------------------------------------------------------------------------------------
def exists():
    def check(obj):
        return obj is not None, summarize(obj)

    return check


def replaced(obj, uid):
    """Whether ``obj`` is another object than the one with ``uid`` (the name deleted and used again)."""
    return bool(uid) and (obj.get("metadata") or {}).get("uid") != uid


def deleted(uid=None):
    """Done when the object is gone (or replaced by a new object with another uid)."""

    def check(obj):
        if obj is None:
            return True, "deleted"
        if replaced(obj, uid):
            return True, "deleted (a new object with the same name exists)"
        meta = obj.get("metadata") or {}
        detail = "still exists"
        if meta.get("deletionTimestamp"):
            detail = "deletion pending since %s" % meta["deletionTimestamp"]
            if meta.get("finalizers"):
                detail += ", finalizers: %s" % ", ".join(meta["finalizers"])
        return False, detail

    return check


def condition(type_, status="True", reason=None):
    """Done when status.conditions has ``type_`` with ``status`` (and ``reason`` when given)."""
    status = _str(status) if isinstance(status, bool) else str(status)
    status = status.capitalize() if status.lower() in ("true", "false", "unknown") else status

    def check(obj):
        if obj is None:
            return False, "the object does not exist"
        for cond in conditions_of(obj):
            if cond.get("type") == type_ and cond.get("status") == status and reason in (None, cond.get("reason")):
                return True, summarize(obj)
        return False, summarize(obj)

    return check


def jsonpath(path, value=None):
    """Done when the field equals ``value`` (or, without value, exists and is not empty)."""
    steps = parse_path(path)

    def check(obj):
        if obj is None:
            return False, "the object does not exist"
        actual = get_field(obj, steps, _MISSING)
        if actual is _MISSING:
            return False, "%s is not set; %s" % (path, summarize(obj))
        if value is None:
            return actual not in (None, "", [], {}), "%s=%s" % (path, compact_json(actual))
        return values_equal(actual, value), "%s=%s (want %s)" % (path, compact_json(actual), value)

    return check


def _deployment_status(meta, spec, status):
    if to_int(meta.get("generation")) > to_int(status.get("observedGeneration")):
        return False, "waiting for the deployment spec update to be observed"
    replicas = to_int(spec.get("replicas", 1))
    updated = to_int(status.get("updatedReplicas"))
    if updated < replicas:
        return False, "%d out of %d new replicas have been updated" % (updated, replicas)
    if to_int(status.get("replicas")) > updated:
        return False, "%d old replicas are pending termination" % (to_int(status.get("replicas")) - updated)
    available = to_int(status.get("availableReplicas"))
    if available < updated:
        return False, "%d of %d updated replicas are available" % (available, updated)
    return True, "successfully rolled out"


def _statefulset_status(meta, spec, status):  # noqa: PLR0911 - the steps of kubectl rollout status
    observed = to_int(status.get("observedGeneration"))
    if observed == 0 or to_int(meta.get("generation")) > observed:
        return False, "waiting for the statefulset spec update to be observed"
    replicas = to_int(spec.get("replicas", 1))
    ready = to_int(status.get("readyReplicas"))
    if ready < replicas:
        return False, "waiting for %d pods to be ready (%d ready)" % (replicas, ready)
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return True, "all replicas ready (update strategy %s)" % strategy.get("type")
    partition = to_int((strategy.get("rollingUpdate") or {}).get("partition"))
    if partition:
        updated = to_int(status.get("updatedReplicas"))
        if updated < replicas - partition:
            return False, "waiting for partitioned roll out to finish: %d out of %d new pods have been updated" % (
                updated, replicas - partition)
        return True, "partitioned roll out complete"
    if status.get("updateRevision") != status.get("currentRevision"):
        return False, "waiting for statefulset rolling update to complete %d pods at revision %s" % (
            to_int(status.get("updatedReplicas")), status.get("updateRevision"))
    return True, "successfully rolled out"


def _daemonset_status(meta, spec, status):
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return True, "update strategy is not RollingUpdate"
    if to_int(meta.get("generation")) > to_int(status.get("observedGeneration")):
        return False, "waiting for the daemon set spec update to be observed"
    desired = to_int(status.get("desiredNumberScheduled"))
    updated = to_int(status.get("updatedNumberScheduled"))
    if updated < desired:
        return False, "%d out of %d new pods have been updated" % (updated, desired)
    available = to_int(status.get("numberAvailable"))
    if available < desired:
        return False, "%d of %d updated pods are available" % (available, desired)
    return True, "successfully rolled out"


_ROLLOUT = {"Deployment": _deployment_status, "StatefulSet": _statefulset_status, "DaemonSet": _daemonset_status}


def rollout_status(obj):
    """kubectl rollout status for Deployment / StatefulSet / DaemonSet: ``(done, message)``."""
    if obj is None:
        return False, "the object does not exist"
    func = _ROLLOUT.get(obj.get("kind"))
    if func is None:
        raise K8sError("rollout status is supported for %s, not %s" % ("/".join(ROLLOUT_KINDS), obj.get("kind")))
    return func(obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {})


def rollout():
    return rollout_status


def rollout_explanation(client):
    """``explain`` of a rollout wait: the problems of the workload's pods (pod_diagnostics.workload_problems)."""
    from ansible_collections.mlops.k8s.plugins.module_utils.pod_diagnostics import workload_problems

    return lambda obj: workload_problems(client, obj)


def rollout_probe(client, kind, crashloop_restarts=None):
    """``probe`` of a rollout wait: the first problem of the workload's current pods that waiting will not cure
    (pod_diagnostics.workload_fatal: an image that cannot be pulled, a crash loop of ``crashloop_restarts``)."""
    from ansible_collections.mlops.k8s.plugins.module_utils import pod_diagnostics

    restarts = pod_diagnostics.CRASHLOOP_RESTARTS if crashloop_restarts is None else crashloop_restarts
    return lambda obj: pod_diagnostics.workload_fatal(client, kind, obj, restarts)


def rollout_failure(obj):
    """Fail fast on a Deployment whose progress deadline was exceeded."""
    if obj and obj.get("kind") == "Deployment":
        for cond in conditions_of(obj):
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return "progress deadline exceeded: %s" % (cond.get("message") or "")
    return None


def default_check(kind):
    """What ``wait: true`` means for a kind when no condition is given."""
    if kind in ROLLOUT_KINDS:
        return rollout(), rollout_failure
    if kind == "CustomResourceDefinition":
        return condition("Established"), None
    if kind == "Namespace":
        return jsonpath(".status.phase", "Active"), None
    if kind == "SeldonDeployment":
        return seldon_available(), seldon_failure
    return exists(), None


def seldon_available():
    """Done when a SeldonDeployment's ``status.state`` is Available for its current generation (the operator
    writes ``status.observedGeneration``; without it the state alone counts)."""

    def check(obj):
        if obj is None:
            return False, "the object does not exist"
        status = obj.get("status") or {}
        generation = to_int((obj.get("metadata") or {}).get("generation"))
        observed = status.get("observedGeneration")
        if observed is not None and generation > to_int(observed):
            return False, "waiting for the operator to observe generation %d; %s" % (generation, summarize(obj))
        return status.get("state") == "Available", summarize(obj)

    return check


def seldon_failure(obj):
    """The operator's description when a SeldonDeployment's state is Failed for its current generation."""
    status = (obj or {}).get("status") or {}
    if status.get("state") != "Failed":
        return None
    observed = status.get("observedGeneration")
    if observed is not None and to_int((obj.get("metadata") or {}).get("generation")) > to_int(observed):
        return None
    return "state Failed: %s" % ((status.get("description") or "").strip() or "the operator gave no description")


# -- the wait loop ------------------------------------------------------------------------------------------
class WaitResult:
    def __init__(self, obj, elapsed, detail):
        self.object = obj
        self.elapsed = elapsed
        self.detail = detail


class _Wait:
    """State of one wait: the last object seen and what its check said."""

    def __init__(self, client, resource, name, namespace, *, check, failure, timeout, description, clock, sleep,
                 explain=None, probe=None, probe_every=PROBE_EVERY, deadline=None):
        self.client = client
        self.explain = explain
        self.probe = probe
        self.probe_every = probe_every
        self.resource = resource
        self.name = name
        self.namespace = namespace if resource.namespaced else None
        self.check = check or exists()
        self.failure = failure
        self.timeout = timeout
        self.description = description
        self.clock = clock
        self.sleep = sleep
        self.what = ref(resource.kind, self.namespace, name)
        self.start = clock()
        # ``deadline``: a clock time shared with earlier waits of one overall ``timeout`` (the one messages name)
        self.deadline = self.start + max(0, timeout) if deadline is None else deadline
        self.obj = None
        self.detail = "nothing observed yet"
        self.probed = self.start

    def evaluate(self, obj):
        self.obj = obj
        reason = self.failure(obj) if (self.failure and obj is not None) else None
        if reason:
            raise WaitFailed("%s failed: %s" % (self.what, reason))
        done, self.detail = self.check(obj)
        return done

    def result(self):
        return WaitResult(self.obj, self.clock() - self.start, self.detail)

    def remaining(self):
        return self.deadline - self.clock()

    def why(self):
        """``; <explanation>`` of the object last seen (its pods' problems, for a rollout), or ""."""
        if self.explain is None or self.obj is None:
            return ""
        text = self.explain(self.obj)
        return "; %s" % text if text else ""

    def probe_now(self):
        """Every ``probe_every`` seconds of waiting, ask ``probe(obj)`` whether the object can still get there:
        a reason (a pod that cannot pull its image, a crash loop) ends the wait at once instead of at the
        timeout."""
        if self.probe is None or self.clock() - self.probed < self.probe_every:
            return
        self.probed = self.clock()
        for what, obj in self.probed_objects():
            reason = self.probe(obj)
            if reason:
                raise WaitFailed("%s cannot become ready: %s" % (what, reason))

    def probed_objects(self):
        return [(self.what, self.obj)] if self.obj is not None else []

    def watch_timeout(self):
        """A watch lasts until the deadline, or until the next probe."""
        remaining = self.remaining()
        return min(remaining, max(0.5, self.probe_every - (self.clock() - self.probed))) if self.probe else remaining

    def timed_out(self):
        return WaitTimeout("timed out after %ss waiting for %s: %s; last seen: %s%s"
                           % (seconds(self.timeout), self.what, self.description, self.detail, self.why()))

    def list(self):
        """Evaluate the current state; return (done, resourceVersion to watch from)."""
        listing = self.client.list(self.resource, namespace=self.namespace,
                                   field_selector="metadata.name=%s" % self.name)
        items = [i for i in listing.get("items") or [] if (i.get("metadata") or {}).get("name") == self.name]
        done = self.evaluate(items[0] if items else None)
        return done, (listing.get("metadata") or {}).get("resourceVersion")

    def watch(self, version):
        """Follow one watch stream. Returns ("done"|"relist"|"again", version)."""
        events = self.client.watch(self.resource, namespace=self.namespace, name=self.name,
                                   resource_version=version, timeout=self.watch_timeout())
        try:
            return self._follow(events, version)
        finally:
            close = getattr(events, "close", None)
            if close:
                close()

    def _follow(self, events, version):
        for etype, obj in events:
            if not isinstance(obj, dict):
                continue
            meta = obj.get("metadata") or {}
            if etype == "ERROR":
                if to_int(obj.get("code")) == 410:
                    return "relist", version
                raise K8sError("watch %s: %s %s: %s"
                               % (self.what, obj.get("code"), obj.get("reason"), obj.get("message")))
            version = meta.get("resourceVersion") or version
            if etype != "BOOKMARK" and self._seen(meta.get("name"), None if etype == "DELETED" else obj):
                return "done", version
            if self.remaining() <= 0 or (self.probe and self.clock() - self.probed >= self.probe_every):
                break
        return "again", version

    def _seen(self, name, obj):
        """Evaluate an event's object if it is the awaited one; True once done."""
        return name == self.name and self.evaluate(obj)

    def run(self):
        done, version = self.list()
        while not done:
            if self.remaining() <= 0:
                raise self.timed_out()
            opened = self.clock()
            try:
                outcome, version = self.watch(version)
            except (WaitFailed, WaitTimeout):
                raise
            except K8sError as err:
                if err.status == 410:
                    outcome = "relist"
                elif err.status and err.status < 500 and err.status != 429:
                    raise
                else:  # connection dropped / server error: watch again from the last version, after a pause
                    self.sleep(min(1.0, max(0.0, self.remaining())))
                    continue
            if outcome == "done":
                break
            self.probe_now()
            if outcome == "relist":
                done, version = self.list()
            elif self.clock() - opened < 0.5:  # the server closed the watch at once: do not spin
                self.sleep(min(0.5, max(0.0, self.remaining())))
        return self.result()


def done_as_is(check, failure, obj):
    """(done, detail) of an object the caller already holds (None: nothing held, never done): done when it passes
    ``check`` and ``failure`` finds nothing, so a wait for it needs no request."""
    if not obj:
        return False, "nothing observed yet"
    done, detail = check(obj)
    return bool(done) and not (failure and failure(obj)), detail


def wait_for(client, resource, name, namespace=None, *, check=None, timeout=120, failure=None,
             description="the condition", clock=time.monotonic, sleep=time.sleep, explain=None, current=None,
             probe=None, deadline=None):
    """Block until ``check(obj)`` is done and return a WaitResult (object, elapsed, detail).

    Raises K8sError when ``failure(obj)`` returns a reason, or on timeout with what was last seen (and
    ``explain(obj)``, when given: why it is not there yet). ``current``: the object as the caller has just read
    or written it; when it already passes the check, no request is made. ``probe(obj)``, asked every
    PROBE_EVERY seconds while the object is not done: a reason why it never will be, which fails the wait
    (WaitFailed) at once. ``deadline``: a ``clock()`` time that ends the wait instead of ``timeout`` from now,
    for waits that share one ``timeout`` (which the timeout message then names).
    """
    if check is not None:
        done, detail = done_as_is(check, failure, current)
        if done:
            return WaitResult(current, 0.0, detail)
    return _Wait(client, resource, name, namespace, check=check, failure=failure, timeout=timeout,
                 description=description, clock=clock, sleep=sleep, explain=explain, probe=probe,
                 deadline=deadline).run()


class _WaitAll(_Wait):
    """Several objects of one kind in one namespace with one list and one watch: done when every check is done,
    failed as soon as one object fails. ``waits`` are _Wait of those objects (their own checks)."""

    def __init__(self, waits, *, timeout, clock, sleep, deadline=None):
        first = waits[0]
        super().__init__(first.client, first.resource, None, first.namespace, check=first.check,
                         failure=first.failure, timeout=timeout, description=first.description, clock=clock,
                         sleep=sleep, probe=first.probe, probe_every=first.probe_every, deadline=deadline)
        self.what = "%d %s objects%s" % (len(waits), first.resource.kind,
                                         " in namespace %s" % self.namespace if self.namespace else "")
        self.waits = {w.name: w for w in waits}
        self.pending = set(self.waits)
        self.finished = {}

    def _seen(self, name, obj):
        """Evaluate one object if it is still awaited; True once none is."""
        wait = self.waits.get(name)
        if wait is not None and name in self.pending and wait.evaluate(obj):
            self.pending.discard(name)
            self.finished[name] = self.clock() - self.start
        return not self.pending

    def list(self):
        listing = self.client.list(self.resource, namespace=self.namespace)
        found = {(i.get("metadata") or {}).get("name"): i for i in listing.get("items") or []}
        for name in sorted(self.pending):
            self._seen(name, found.get(name))
        return not self.pending, (listing.get("metadata") or {}).get("resourceVersion")

    def probed_objects(self):
        return [(self.waits[n].what, self.waits[n].obj) for n in sorted(self.pending) if self.waits[n].obj is not None]

    def timed_out(self):
        late = sorted(self.pending)
        return WaitTimeout("timed out after %ss waiting for %s: %s; %s" % (
            seconds(self.timeout), self.what, self.description,
            "; ".join("%s last seen: %s%s" % (self.waits[n].what, self.waits[n].detail, self.waits[n].why())
                      for n in late)))

    def results(self):
        """name -> WaitResult (elapsed: until that object was done)."""
        return {name: WaitResult(w.obj, self.finished.get(name, self.clock() - self.start), w.detail)
                for name, w in self.waits.items()}


def wait_for_all(client, resource, names, namespace=None, *, check=None, timeout=120, failure=None,
                 description="the condition", clock=time.monotonic, sleep=time.sleep, explain=None, probe=None,
                 deadline=None):
    """wait_for for several objects of one kind in one namespace, sharing one list and one watch (one object:
    wait_for itself). Returns {name: WaitResult}; fails on the first failure (or probe reason), or on timeout
    naming each object not done with what was last seen of it."""
    names = list(dict.fromkeys(names))
    if len(names) == 1:
        return {names[0]: wait_for(client, resource, names[0], namespace, check=check, timeout=timeout,
                                   failure=failure, description=description, clock=clock, sleep=sleep,
                                   explain=explain, probe=probe, deadline=deadline)}
    waits = [_Wait(client, resource, name, namespace, check=check, failure=failure, timeout=timeout,
                   description=description, clock=clock, sleep=sleep, explain=explain, probe=probe)
             for name in names]
    group = _WaitAll(waits, timeout=timeout, clock=clock, sleep=sleep, deadline=deadline)
    group.run()
    return group.results()


def _first_match(events, what, version):
    """Follow a watch of a list: ("found", obj) | ("relist", None) | ("again", last version)."""
    for etype, obj in events:
        if not isinstance(obj, dict):
            continue
        if etype == "ERROR":
            if to_int(obj.get("code")) == 410:
                return "relist", None
            raise K8sError("watch %s: %s %s: %s" % (what, obj.get("code"), obj.get("reason"), obj.get("message")))
        if etype in ("ADDED", "MODIFIED"):
            return "found", obj
        version = (obj.get("metadata") or {}).get("resourceVersion") or version
    return "again", version


def wait_for_match(client, resource, namespace=None, *, label_selector=None, field_selector=None, timeout=120,
                   clock=time.monotonic, sleep=time.sleep):
    """Block until at least one object matches the selectors; return the matching items (list of dicts).

    Lists once, then watches from the list's resourceVersion (re-listing on 410 Gone).
    """
    namespace = namespace if resource.namespaced else None
    what = ref(resource.kind, namespace)
    deadline = clock() + max(0, timeout)
    version = None
    while True:
        if version is None:
            listing = client.list(resource, namespace, label_selector=label_selector, field_selector=field_selector)
            if listing.get("items"):
                return listing["items"]
            version = (listing.get("metadata") or {}).get("resourceVersion") or "0"
        if deadline - clock() <= 0:
            raise WaitTimeout("timed out after %ss waiting for %s matching %s" % (
                seconds(timeout), what, " and ".join(x for x in (label_selector, field_selector) if x) or "anything"))
        opened = clock()
        try:
            outcome, found = _first_match(
                client.watch(resource, namespace=namespace, resource_version=version, timeout=deadline - clock(),
                             label_selector=label_selector, field_selector=field_selector), what, version)
        except K8sError as err:
            if err.status != 410 and err.status and err.status < 500 and err.status != 429:
                raise
            outcome, found = ("relist", None) if err.status == 410 else ("again", version)
        if outcome == "found":
            return [found]
        version = found
        if clock() - opened < 0.5:  # closed at once (or failed): do not spin
            sleep(min(0.5, max(0.0, deadline - clock())))
