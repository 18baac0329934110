"""The scheduler and the kubelet of the sandbox's nodes: bind pods to a node that fits them (scheduling.py; waiting
for their claims), start them (through a registered pod runner, or simulated) and keep their status, conditions and
container states. Every simulated node is this one process: the kubelet runs the pods bound to any node it hosts."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import logging
import os
import secrets
import threading
import time

from . import scheduling
from .base import NODE_NAME, PODS, Controller, now, parse_ts, store_condition
from .node import NODES, node_names
from .runtime import ContainerStatus, RunContext, RunStatus, pod_log_dir
from .simulated import SimPod

log = logging.getLogger("sandbox.controllers.kubelet")
PVCS = ("", "persistentvolumeclaims")
SCS = ("storage.k8s.io", "storageclasses")
# Every address the sandbox writes is a loopback address (the network rule: nothing may dial outside
# 127.0.0.0/8; a real API server dials webhooks at these endpoints). Linux routes all of 127/8 to `lo`.
HOST_IP = "127.0.0.1"
_ips = itertools.count(2)
_ip_lock = threading.Lock()


def _next_ip() -> str:
    with _ip_lock:
        n = next(_ips)
    return f"127.244.{(n // 254) % 254}.{n % 254 + 1}"


def pod_claims(pod: dict) -> list[str]:
    return [v["persistentVolumeClaim"]["claimName"] for v in (pod.get("spec") or {}).get("volumes") or []
            if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)
            and v["persistentVolumeClaim"].get("claimName")]


def _placement(node: dict | None):
    """What of a node decides which pods fit on it (its heartbeats change nothing of it)."""
    if node is None:
        return None
    ready = [c.get("status") for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
    return node["metadata"].get("labels"), node.get("spec"), (node.get("status") or {}).get("allocatable"), ready


class Kubelet(Controller):
    name = "kubelet"
    primary = PODS
    watch_keys = (PVCS, NODES)
    user = "system:node:" + NODE_NAME
    manager = "kubelet"
    component = "kubelet"
    settings = ("delay", "ready_delay", "run_duration", "poll_interval", "backoff_scale", "images", "images_file")

    def __init__(self, sandbox, manager=None):
        super().__init__(sandbox, manager)
        self.ready_delay = float(os.environ.get("SANDBOX_POD_READY_DELAY", "0.5"))
        self.run_duration = float(os.environ.get("SANDBOX_POD_RUN_DURATION", "0.5"))
        self.poll_interval = 0.25
        # simulated containers: back-offs and failing probes' times x backoff_scale; the user's images
        self.backoff_scale = float(os.environ.get("MLOPS_SANDBOX_BACKOFF_SCALE") or 1.0)
        self.images = os.environ.get("MLOPS_SANDBOX_IMAGES_EXTRA", "")
        self.images_file = os.environ.get("MLOPS_SANDBOX_IMAGES_FILE", "")
        from ..registry import Catalogue
        self.catalogue = Catalogue(sandbox.dir)
        self._sims: dict[str, SimPod] = {}   # uid -> its simulated containers
        # binds pending pods itself (the emulator) or leaves that to a real kube-scheduler
        self.schedules = getattr(sandbox, "control_plane", "emulator") != "kube"
        self.hosted = set(node_names(getattr(sandbox, "nodes", 1)))   # the nodes whose pods this kubelet runs
        self.stop_timeout = 60.0   # a runner that never says it has stopped: the pod goes anyway after this
        from .base import Recorder, client_for
        self.scheduler = client_for(sandbox, "system:kube-scheduler", "kube-scheduler")
        self.sched_events = Recorder(self.scheduler, "default-scheduler")
        self.runners = sandbox.pod_runners
        self.endpoints = sandbox.endpoints_registry
        self._running: dict[str, tuple[object, str, str]] = {}   # uid -> (runner, ns, name)
        self._started: dict[str, tuple[float, str, str]] = {}   # uid -> (monotonic start, ns, name)
        self._sched_tries: dict[str, int] = {}
        self._terminating: dict[str, tuple[object, str, str, float]] = {}   # uid -> (runner, ns, name, since)

    def keys_for(self, ev):
        m = ev.obj["metadata"]
        if ev.key == PODS:
            yield m.get("namespace", ""), m["name"]
            if ev.type == "DELETED" and ev.obj["spec"].get("nodeName") and self.schedules:
                yield from self._pending()   # its node's resources (or its ReadWriteOncePod claim) are free again
        elif ev.key == PVCS:   # a claim changed: pods waiting for it
            for p in self.client.list(PODS, m.get("namespace", "")):
                if not p["spec"].get("nodeName") and m["name"] in pod_claims(p):
                    yield m.get("namespace", ""), p["metadata"]["name"]
        elif ev.key == NODES and self.schedules and _placement(ev.obj) != _placement(ev.old):
            yield from self._pending()   # a node changed what fits on it (not a mere heartbeat)

    def _pending(self):
        for p in self.client.list(PODS):
            if not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp"):
                yield p["metadata"].get("namespace", ""), p["metadata"]["name"]

    def stop(self) -> None:
        super().stop()
        for uid, (runner, ns, name) in list(self._running.items()):
            try:
                runner.stop({"metadata": {"namespace": ns, "name": name, "uid": uid}})
            except Exception:
                log.exception("stopping runner for %s/%s", ns, name)
        self._running.clear()

    # ------------------------------------------------------------------
    def _forget(self, ns: str, name: str, keep_uid: str | None = None) -> None:
        for uid, (runner, rns, rname) in list(self._running.items()):
            if rns == ns and rname == name and uid != keep_uid:
                del self._running[uid]
                try:
                    runner.stop({"metadata": {"namespace": ns, "name": name, "uid": uid}})
                except Exception:
                    log.exception("runner stop failed for %s/%s", ns, name)
        for uid in [u for u, (_, sns, sname) in self._started.items() if sns == ns and sname == name
                    and u != keep_uid]:
            del self._started[uid]
            self._sims.pop(uid, None)
        for uid in [u for u, (_, tns, tname, _) in self._terminating.items() if tns == ns and tname == name
                    and u != keep_uid]:
            del self._terminating[uid]   # gone (force-deleted): its runner is already stopping
        if keep_uid is None:
            self.endpoints.unregister_pod(ns, name)

    def reconcile(self, ns: str, name: str):  # noqa: PLR0911 - one return per pod stage the kubelet sync handles (gone, terminating, unscheduled, finished, running, starting)
        pod = self.client.get(PODS, ns, name)
        if pod is None:
            self._forget(ns, name)
            return None
        uid = pod["metadata"]["uid"]
        self._forget(ns, name, keep_uid=uid)   # a re-created pod with the same name
        if pod["metadata"].get("deletionTimestamp"):
            return self._terminate(pod)
        node = pod["spec"].get("nodeName")
        if not node:
            return self._schedule(pod) if self.schedules else None
        if node not in self.hosted:
            return None
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            if uid in self._running:
                self._forget(ns, name)
            return None
        if uid in self._running:
            return self._sync_runner(pod)
        if uid not in self._started:
            runner = self.runners.find(pod)
            if runner is None and phase == "Running":   # running before a restart (snapshot): adopt it as is
                self._started[uid] = (time.monotonic() - self.ready_delay, ns, name)
                return self._sync_simulated(pod)
            self._started[uid] = (time.monotonic(), ns, name)
            if runner is not None:
                self._container_events(pod)
                self._running[uid] = (runner, ns, name)
                try:
                    runner.start(copy.deepcopy(pod), RunContext(self.sb.dir, self.endpoints, pod))
                except Exception as e:
                    log.exception("runner failed to start %s/%s", ns, name)
                    self._write_status(pod, RunStatus("Failed", False, f"runner failed: {e}", "StartError"))
                    del self._running[uid]
                    return None
                self._write_status(pod, RunStatus("Pending", False, reason="ContainerCreating"))
                return self.poll_interval
            self._pull_secret_events(pod)
            return self._sync_simulated(pod)
        return self._sync_simulated(pod)

    # -- graceful termination --
    def _terminate(self, pod: dict):
        """The pod is being deleted: stop it (a runner ends its processes in the background; a simulated pod just
        stops), wait until the runner has stopped, mark the containers terminated and the pod terminal, then
        delete it for good with grace 0, as the kubelet's status manager does. A pod held by finalizers after
        that (or deleted with grace 0 while finalizers hold it) is only stopped."""
        m = pod["metadata"]
        ns, name, uid = m.get("namespace", ""), m["name"], m["uid"]
        phase = (pod.get("status") or {}).get("phase")
        entry = self._running.pop(uid, None)
        started = self._started.pop(uid, None) is not None
        sim = self._sims.pop(uid, None)
        if sim is not None and entry is None and phase not in ("Succeeded", "Failed"):
            wait, codes = sim.on_sigterm(time.monotonic(), float(m.get("deletionGracePeriodSeconds") or 0))
            self._terminating[uid] = (SimStop(time.monotonic() + wait, codes), ns, name, time.monotonic())
        if entry is not None or started:
            self.endpoints.unregister_pod(ns, name)
            if phase not in ("Succeeded", "Failed"):
                for c in pod["spec"].get("containers") or []:
                    self.recorder.normal(pod, "Killing", f"Stopping container {c['name']}")
        if entry is not None:
            self._terminating[uid] = (entry[0], ns, name, time.monotonic())
            try:
                entry[0].stop(copy.deepcopy(pod))
            except Exception:
                log.exception("runner stop failed for %s/%s", ns, name)
        term = self._terminating.get(uid)
        if term is not None:
            if not self._runner_stopped(term[0], pod) and time.monotonic() - term[3] < self.stop_timeout:
                return self.poll_interval
            del self._terminating[uid]
        if not pod["spec"].get("nodeName"):
            return None
        if phase not in ("Succeeded", "Failed"):
            self._write_terminated(pod, signalled=entry is not None or (term is not None and not isinstance(
                term[0], SimStop)) or self.runners.find(pod) is not None,
                codes=term[0].codes if term is not None and isinstance(term[0], SimStop) else {})
        if m.get("deletionGracePeriodSeconds"):
            self.client.delete(PODS, ns, name, uid=uid, grace=0)
        return None

    @staticmethod
    def _runner_stopped(runner, pod: dict) -> bool:
        stopped = getattr(runner, "stopped", None)
        if stopped is None:
            return True
        try:
            return bool(stopped(copy.deepcopy(pod)))
        except Exception:
            log.exception("runner stopped() failed for %s", pod["metadata"]["name"])
            return True

    def _write_terminated(self, pod: dict, signalled: bool, codes: dict[str, int]) -> None:
        """Every container terminated (a process ended by SIGTERM exits 143; a simulated container exits as
        `codes` says, else 0, as a well-behaved server does on SIGTERM), the pod terminal: Succeeded if every
        container exited 0."""
        old = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []}
        cstats = []
        for c in pod["spec"].get("containers") or []:
            cur = old.get(c["name"]) or {}
            prev = (cur.get("state") or {}).get("terminated")
            code = int(prev.get("exitCode") or 0) if prev else codes.get(c["name"], 143 if signalled else 0)
            cstats.append(ContainerStatus(c["name"], "terminated", False, code, "Completed" if code == 0 else "Error",
                                          restart_count=int(cur.get("restartCount") or 0)))
        phase = "Succeeded" if all(cs.exit_code == 0 for cs in cstats) else "Failed"
        self._write_status(pod, RunStatus(phase, False, containers=cstats))

    # -- scheduling --
    def _schedule(self, pod: dict):  # noqa: PLR0911 - one return per claim check, then the node's choice
        ns = pod["metadata"].get("namespace", "")
        nodes = self.client.list(NODES)
        wffc = []
        for claim in pod_claims(pod):
            pvc = self.client.get(PVCS, ns, claim)
            if pvc is None:
                return self._unschedulable(pod, f'persistentvolumeclaim "{claim}" not found')
            if pvc["metadata"].get("deletionTimestamp"):
                return self._unschedulable(pod, f'persistentvolumeclaim "{claim}" is being deleted')
            if "ReadWriteOncePod" in (pvc["spec"].get("accessModes") or []):
                users = [p["metadata"]["name"] for p in self.client.list(PODS, ns)
                         if p["metadata"]["uid"] != pod["metadata"]["uid"] and p["spec"].get("nodeName")
                         and claim in pod_claims(p) and (p.get("status") or {}).get("phase") not in
                         ("Succeeded", "Failed")]
                if users:
                    return self._unschedulable(pod, f"0/{len(nodes)} nodes are available: 1 node has pod using "
                                                    "PersistentVolumeClaim with the same name and ReadWriteOncePod "
                                                    "access mode.")
            if (pvc.get("status") or {}).get("phase") != "Bound":
                sc = self.client.get(SCS, "", pvc["spec"].get("storageClassName") or "")
                if sc is None or sc.get("volumeBindingMode") != "WaitForFirstConsumer":
                    return self._unschedulable(pod, f"0/{len(nodes)} nodes are available: pod has unbound immediate "
                                                    f"PersistentVolumeClaims. preemption: 0/{len(nodes)} nodes are "
                                                    f"available: {len(nodes)} Preemption is not helpful for "
                                                    "scheduling.")
                wffc.append(pvc)
        node, message = scheduling.choose(pod, nodes, self.client.list(PODS))
        if node is None:
            return self._unschedulable(pod, message)
        if wffc:   # the provisioner creates the volume on the chosen node, then the pod binds
            for pvc in wffc:
                if (pvc["metadata"].get("annotations") or {}).get("volume.kubernetes.io/selected-node") != node:
                    self.scheduler.mutate(PVCS, ns, pvc["metadata"]["name"], lambda o, n=node: o["metadata"].setdefault(
                        "annotations", {}).__setitem__("volume.kubernetes.io/selected-node", n))
            return self._unschedulable(pod, "running PreBind plugin \"VolumeBinding\": binding volumes: "
                                            "context deadline exceeded", event=False, wait=0.5)

        def bind(o):
            o["spec"]["nodeName"] = node
        bound = self.scheduler.mutate(PODS, ns, pod["metadata"]["name"], bind)
        self._sched_tries.pop(pod["metadata"]["uid"], None)
        if bound is not None:
            def sched_status(o):
                st = o.setdefault("status", {})
                st.setdefault("phase", "Pending")
                _cond(st, "PodScheduled", "True")
            bound = self.scheduler.mutate(PODS, ns, pod["metadata"]["name"], sched_status, "status") or bound
            self.sched_events.normal(bound, "Scheduled",
                                     f"Successfully assigned {ns}/{pod['metadata']['name']} to {node}")
        return 0.0 if bound is not None else None

    def _unschedulable(self, pod: dict, message: str, event: bool = True, wait: float = 1.0):
        """Pending with PodScheduled=False; retried with the scheduler's backoff (1s doubling up to 10s), though
        any change to the pod or its claims retries at once."""
        def change(o):
            st = o.setdefault("status", {})
            st["phase"] = "Pending"
            _cond(st, "PodScheduled", "False", "Unschedulable", message)
        self.scheduler.mutate(PODS, pod["metadata"].get("namespace", ""), pod["metadata"]["name"], change,
                              "status")
        uid = pod["metadata"]["uid"]
        tries = self._sched_tries.get(uid, 0)
        self._sched_tries[uid] = tries + 1
        if len(self._sched_tries) > 10000:
            self._sched_tries.clear()
        if event and (tries == 0 or tries % 4 == 3):
            self.sched_events.warning(pod, "FailedScheduling", message)
        return min(10.0, wait * (2 ** min(tries, 4)))

    # -- running --
    def _container_events(self, pod: dict) -> None:
        for c in pod["spec"].get("containers") or []:
            self.recorder.normal(pod, "Pulled", f'Container image "{c.get("image")}" already present on machine')
            self.recorder.normal(pod, "Created", f"Created container: {c['name']}")
            self.recorder.normal(pod, "Started", f"Started container {c['name']}")

    def _write_log(self, pod: dict, what: str, container: str | None = None) -> None:
        d = pod_log_dir(self.sb.dir, pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
        try:
            os.makedirs(d, exist_ok=True)
            for c in pod["spec"].get("containers") or []:
                if container is not None and c["name"] != container:
                    continue
                with open(os.path.join(d, f"{c['name']}.log"), "a", encoding="utf-8") as f:
                    f.write(f"sandbox: simulated container {c['name']} (image {c.get('image')}) {what}\n")
        except OSError:
            log.exception("cannot write pod log")

    def holds(self, ref: str) -> bool:
        """Whether the sandbox's registry has image `ref` (`sandbox.registry`, with the user's images)."""
        return self.catalogue.holds(ref, self.catalogue.user_refs(self.images, self.images_file))

    def _pull_secret_events(self, pod: dict) -> None:
        ns = pod["metadata"].get("namespace", "")
        missing = [s.get("name") for s in pod["spec"].get("imagePullSecrets") or []
                   if s.get("name") and self.client.get(("", "secrets"), ns, s["name"]) is None]
        if missing:
            self.recorder.warning(pod, "FailedToRetrieveImagePullSecret",
                                  "Unable to retrieve some image pull secrets (%s); attempting to pull the image may "
                                  "not succeed." % ", ".join(missing))

    def _sync_simulated(self, pod: dict):
        uid = pod["metadata"]["uid"]
        sim = self._sims.get(uid)
        if sim is None:
            sim = self._sims[uid] = SimPod(pod, self._started[uid][0], self.ready_delay, self.run_duration,
                                           self.backoff_scale, self.holds)
        before = [(c.state, c.restarts) for c in sim.cons]
        rs, events, wait = sim.tick(time.monotonic())
        for kind, reason, message in events:
            (self.recorder.warning if kind == "Warning" else self.recorder.normal)(pod, reason, message)
        for c, (state, _) in zip(sim.cons, before, strict=True):
            if c.state != state and c.state in ("running", "terminated"):
                self._write_log(pod, "started" if c.state == "running" else f"exited with code {c.exit_code}",
                                c.spec["name"])
        self._write_status(pod, rs)
        if rs.phase in ("Succeeded", "Failed"):
            self._sims.pop(uid, None)
            return None
        return max(0.0, wait) if wait is not None else None

    def _sync_runner(self, pod: dict):
        runner, _, _ = self._running[pod["metadata"]["uid"]]
        try:
            st = runner.status(copy.deepcopy(pod))
        except Exception as e:
            log.exception("runner status failed")
            st = RunStatus("Failed", False, f"runner failed: {e}", "Error")
        if st is None:
            return self.poll_interval
        self._write_status(pod, st)
        if st.phase in ("Succeeded", "Failed"):
            uid = pod["metadata"]["uid"]
            runner, _, _ = self._running.pop(uid)
            try:
                runner.stop(copy.deepcopy(pod))
            except Exception:
                log.exception("runner stop failed")
            return None
        return self.poll_interval

    def _write_status(self, pod: dict, rs: RunStatus, exit_code: int | None = None) -> None:  # noqa: PLR0915
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        uid = pod["metadata"]["uid"]

        def change(o):
            if o["metadata"]["uid"] != uid:
                return False
            st = o.setdefault("status", {})
            started_at = st.get("startTime") or now()
            st["phase"] = rs.phase
            st["hostIP"] = HOST_IP
            st["hostIPs"] = [{"ip": HOST_IP}]
            if not st.get("podIP"):
                ip = _next_ip()
                st["podIP"] = ip
                st["podIPs"] = [{"ip": ip}]
            st["startTime"] = started_at
            if rs.message:
                st["message"] = rs.message
            if rs.reason and rs.phase in ("Failed",):
                st["reason"] = rs.reason
            running = rs.phase == "Running"
            terminal = rs.phase in ("Succeeded", "Failed")
            ready = bool(rs.ready) and running
            _cond(st, "PodReadyToStartContainers", "True")
            _cond(st, "Initialized", "True")
            _cond(st, "Ready", "True" if ready else "False", "" if ready else
                  ("PodCompleted" if terminal else "ContainersNotReady"),
                  "" if ready or terminal else "containers with unready status: [%s]" % " ".join(
                      c["name"] for c in o["spec"].get("containers") or []))
            _cond(st, "ContainersReady", "True" if ready else "False", "" if ready else
                  ("PodCompleted" if terminal else "ContainersNotReady"))
            _cond(st, "PodScheduled", "True")
            order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
            st["conditions"].sort(key=lambda c: order.index(c["type"]) if c["type"] in order else 99)
            old = {c.get("name"): c for c in st.get("containerStatuses") or []}
            by_name = {c.name: c for c in rs.containers}
            cstats = []
            for c in o["spec"].get("containers") or []:
                prev = old.get(c["name"]) or {}
                cid = prev.get("containerID") or f"containerd://{secrets.token_hex(32)}"
                cs = by_name.get(c["name"])
                state_name = cs.state if cs else ("waiting" if rs.phase == "Pending" else
                                                  "terminated" if terminal else "running")
                c_ready = cs.ready if cs else ready
                code = cs.exit_code if cs and cs.exit_code is not None else (
                    exit_code if exit_code is not None else (0 if rs.phase == "Succeeded" else 1))
                prev_state = prev.get("state") or {}
                if state_name == "waiting":
                    state = {"waiting": {"reason": (cs.reason if cs and cs.reason else rs.reason
                                                    or "ContainerCreating")}}
                    if cs and cs.message:
                        state["waiting"]["message"] = cs.message
                elif state_name == "running":
                    state = {"running": {"startedAt": (prev_state.get("running") or {}).get("startedAt")
                                         or now()}}
                else:
                    state = prev_state if "terminated" in prev_state else {"terminated": {
                        "exitCode": code, "reason": (cs.reason if cs and cs.reason else
                                                     "Completed" if code == 0 else "Error"),
                        "startedAt": (prev_state.get("running") or {}).get("startedAt") or started_at,
                        "finishedAt": now(), "containerID": cid}}
                last_state = cs.last_state if cs and cs.last_state is not None else prev.get("lastState") or {}
                entry = {"name": c["name"], "state": state, "lastState": last_state,
                         "ready": c_ready, "restartCount": cs.restart_count if cs else prev.get("restartCount", 0),
                         "image": c.get("image", ""), "imageID": f"docker.io/library/{c.get('image', '')}@sha256:"
                                                                 + "0" * 64,
                         "started": state_name == "running"}
                if state_name != "waiting":
                    entry["containerID"] = cid
                cstats.append(entry)
            st["containerStatuses"] = cstats
            return None
        self.client.mutate(PODS, ns, name, change, "status")


class SimStop:
    """The stop of a pod's simulated containers on graceful deletion (`SimPod.on_sigterm`), as a runner's."""

    def __init__(self, at: float, codes: dict[str, int]):
        self.at, self.codes = at, codes

    def stop(self, pod: dict) -> None:
        pass

    def stopped(self, pod: dict) -> bool:
        return time.monotonic() >= self.at


def _cond(st: dict, ctype: str, status: str, reason: str = "", message: str = "") -> None:
    conds = st.setdefault("conditions", [])
    cur = next((c for c in conds if c.get("type") == ctype), None)
    t = now()
    new = {"type": ctype, "status": status, "lastProbeTime": None,
           "lastTransitionTime": t if cur is None or cur.get("status") != status else cur.get("lastTransitionTime")}
    store_condition(conds, cur, new, reason, message)


def ready_for(pod: dict, seconds: int) -> bool:
    """Ready for at least minReadySeconds."""
    c = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if not c or c.get("status") != "True":
        return False
    if seconds <= 0:
        return True
    t = parse_ts(c.get("lastTransitionTime"))
    return t is not None and dt.datetime.now(dt.UTC).timestamp() - t >= seconds
