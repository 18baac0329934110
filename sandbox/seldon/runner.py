"""The pod runner for the model pods of SeldonDeployments: what the kubelet and the container runtime would do
with the pods of the Deployments the operator creates.

For each pod (a `PodWorker` thread):

1. init containers, in order. The storage initializer (``<container>-model-initializer``, args ``[uri, dest]``)
   really copies the model (`sandbox.seldon.storage`) into the pod's emptyDir; its env comes from the container's
   ``env``/``envFrom`` with Secrets and ConfigMaps resolved like the kubelet does (a missing Secret:
   ``CreateContainerConfigError``). A failure terminates the init container (exit 1, the error as termination
   message) and restarts it with the kubelet's back-off (10s doubling, at most 300s: ``CrashLoopBackOff``).
   Other init containers complete at once.
2. containers: a model container starts a real server (`sandbox.servers.launch`; prepackaged servers by the
   seldon-config image, custom images by the image directory mapping: ``DIR/images/<name>[/<tag>]`` of the sandbox
   directory, then ``$MLOPS_SANDBOX_IMAGES``), its output going to the pod log file; the
   executor container ``seldon-container-engine`` is played by the pod's endpoints table for one-node graphs
   (its ports 8000/5001 lead to the root's server) and by `sandbox.seldon.executor` (REST) for larger graphs.
   Probes are honoured: readiness (the server's real health endpoint) after ``initialDelaySeconds``, every
   ``periodSeconds``, ``failureThreshold``; liveness
   failures and server exits (a model that fails to load) terminate the container with the server's error as
   message and restart it with back-off.

Readiness probe delays and periods and the restart back-off are multiplied by the operator setting
``time_scale`` (env ``SANDBOX_SELDON_TIME_SCALE``, default 1.0: as on a real cluster); liveness probes always run
on real time (scaling them down would kill servers that are still loading).

Container states are reported to the kubelet (`RunStatus`); what it does not write (``initContainerStatuses``,
``lastState``, termination messages) the runner writes to the pod status itself, as the kubelet.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import json
import logging
import os
import secrets
import shutil
import socket
import threading
import time

from ..controllers.base import Recorder, client_for
from ..controllers.runtime import ContainerStatus, ProcessRunner, RunStatus
from . import spec as S
from .storage import DownloadError, download

log = logging.getLogger("sandbox.seldon.runner")
PODS = ("", "pods")
PVCS = ("", "persistentvolumeclaims")
PVS = ("", "persistentvolumes")
SECRETS = ("", "secrets")
CONFIGMAPS = ("", "configmaps")
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
TERMINATED_HOLD = 1.0      # seconds a terminated state stays visible before CrashLoopBackOff
# env the operator gives model containers that must not reach the local process (ports are the sandbox's)
_LOCAL_ENV_DROP = {"PREDICTIVE_UNIT_SERVICE_PORT", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT",
                   "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "MLSERVER_HTTP_PORT",
                   "MLSERVER_GRPC_PORT", "MLSERVER_METRICS_PORT", "MLSERVER_MODEL_URI",
                   "MLSERVER_MODEL_IMPLEMENTATION", "PREDICTIVE_UNIT_PARAMETERS", "MLSERVER_MODEL_NAME"}
_IMAGE_SERVERS = {"sklearnserver": "SKLEARN_SERVER", "xgboostserver": "XGBOOST_SERVER",
                  "mlflowserver": "MLFLOW_SERVER", "tfserving-proxy": "TENSORFLOW_SERVER",
                  "serving": "TENSORFLOW_SERVER", "tritonserver": "TRITON_SERVER"}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigError(Exception):
    """CreateContainerConfigError (a Secret or ConfigMap the container needs is missing)."""


class CState:
    """One container's state, as the kubelet would report it."""

    def __init__(self, name: str, image: str, waiting_reason: str):
        self.name, self.image = name, image
        self.state = "waiting"
        self.reason = waiting_reason
        self.message = ""
        self.ready = False
        self.restarts = 0
        self.exit_code: int | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.last: dict | None = None            # lastState.terminated
        self.container_id = ""
        self.terminated: dict | None = None      # state.terminated (with message)
        self.hold_until = 0.0
        self.restart_at = 0.0
        self.backoff = BACKOFF_START

    def waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message, self.ready = "waiting", reason, message, False

    def running(self) -> None:
        self.state, self.reason, self.message, self.ready = "running", "", "", False
        self.started_at = now()
        self.container_id = f"containerd://{secrets.token_hex(32)}"
        self.exit_code = None
        self.terminated = None

    def terminate(self, code: int, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message, self.ready = "terminated", reason, message, False
        self.exit_code = code
        self.finished_at = now()
        self.terminated = {"exitCode": code, "reason": reason, "startedAt": self.started_at or now(),
                           "finishedAt": self.finished_at, "containerID": self.container_id}
        if message:
            self.terminated["message"] = message[-4096:]
        self.last = dict(self.terminated)

    def report(self) -> ContainerStatus:
        return ContainerStatus(name=self.name, state=self.state, ready=self.ready, exit_code=self.exit_code,
                               reason=self.reason, message=self.message, restart_count=self.restarts)

    def k8s(self) -> dict:
        """A full container status (init containers, which the kubelet does not write for runners)."""
        if self.state == "waiting":
            state: dict = {"waiting": {"reason": self.reason}}
            if self.message:
                state["waiting"]["message"] = self.message
        elif self.state == "running":
            state = {"running": {"startedAt": self.started_at}}
        else:
            state = {"terminated": dict(self.terminated or {})}
        out = {"name": self.name, "state": state, "lastState": {"terminated": dict(self.last)}
               if self.last and self.state != "terminated" else {},
               "ready": self.ready if self.state != "terminated" else self.exit_code == 0,
               "restartCount": self.restarts, "image": self.image,
               "imageID": f"docker.io/library/{self.image}@sha256:" + "0" * 64,
               "started": self.state == "running"}
        if self.container_id and self.state != "waiting":
            out["containerID"] = self.container_id
        return out


class Probe:
    """A readiness or liveness probe's schedule and thresholds."""

    def __init__(self, spec: dict | None, scale: float, default_ready: bool):
        self.spec = spec
        self.scale = scale
        self.initial = float((spec or {}).get("initialDelaySeconds") or 0)
        self.period = float((spec or {}).get("periodSeconds") or 10)
        self.success_threshold = int((spec or {}).get("successThreshold") or 1)
        self.failure_threshold = int((spec or {}).get("failureThreshold") or 3)
        self.timeout = float((spec or {}).get("timeoutSeconds") or 1)
        self.result = default_ready
        self.next = 0.0
        self.succ = self.fail = 0

    def reset(self) -> None:
        self.next = time.monotonic() + self.initial * self.scale
        self.succ = self.fail = 0
        self.result = self.spec is None

    def due(self) -> bool:
        return self.spec is not None and time.monotonic() >= self.next

    def record(self, ok: bool) -> None:
        self.next = time.monotonic() + max(0.1, self.period * self.scale)
        if ok:
            self.succ, self.fail = self.succ + 1, 0
            if self.succ >= self.success_threshold:
                self.result = True
        else:
            self.fail, self.succ = self.fail + 1, 0
            if self.fail >= self.failure_threshold:
                self.result = False


class PodWorker(threading.Thread):
    def __init__(self, runner: SeldonPodRunner, pod: dict, ctx):
        m = pod["metadata"]
        super().__init__(name=f"seldon-pod-{m['name']}", daemon=True)
        self.runner = runner
        self.pod = copy.deepcopy(pod)
        self.ns, self.pod_name, self.uid = m.get("namespace", ""), m["name"], m["uid"]
        self.ctx = ctx
        self.base = os.path.join(runner.sb.dir, "seldon", "pods", self.ns, f"{self.pod_name}-{self.uid[:8]}")
        self.stopping = threading.Event()
        self.lock = threading.RLock()
        spec = self.pod.get("spec") or {}
        self.init_specs = spec.get("initContainers") or []
        self.con_specs = spec.get("containers") or []
        self.inits = {c["name"]: CState(c["name"], c.get("image", ""), "PodInitializing") for c in self.init_specs}
        wait_reason = "PodInitializing" if self.init_specs else "ContainerCreating"
        self.cons = {c["name"]: CState(c["name"], c.get("image", ""), wait_reason) for c in self.con_specs}
        self.procs: dict = {}
        self.probes: dict[str, tuple[Probe, Probe]] = {}
        self.initialized = not self.init_specs
        self.engine_error = ""
        self.executor = None

    # -- helpers --
    @property
    def scale(self) -> float:
        return self.runner.time_scale()

    def plog(self, container: str, text: str) -> None:
        try:
            with open(self.ctx.log_path(container), "a", encoding="utf-8") as f:
                for line in text.splitlines() or [""]:
                    f.write(f"{line}\n")
        except OSError:
            log.exception("cannot write the log of %s/%s", self.pod_name, container)

    def _sleep(self, seconds: float) -> bool:
        """False when stopping."""
        return not self.stopping.wait(max(0.0, seconds))

    def volume_dir(self, vol_name: str) -> str | None:
        vol = next((v for v in (self.pod.get("spec") or {}).get("volumes") or [] if v.get("name") == vol_name), None)
        if vol is None:
            return None
        if "emptyDir" in vol:
            d = os.path.join(self.base, "volumes", vol_name)
            os.makedirs(d, exist_ok=True)
            return d
        if "hostPath" in vol:
            return vol["hostPath"].get("path")
        if "persistentVolumeClaim" in vol:
            store = self.runner.sb.store
            pvc = store.get(PVCS, self.ns, vol["persistentVolumeClaim"].get("claimName", ""))
            pv_name = ((pvc or {}).get("spec") or {}).get("volumeName")
            pv = store.get(PVS, "", pv_name) if pv_name else None
            if pv is None:
                return None
            return (pv["spec"].get("hostPath") or pv["spec"].get("local") or {}).get("path")
        return None

    def local_path(self, con: dict, path: str) -> str | None:
        mounts = sorted(con.get("volumeMounts") or [], key=lambda m: -len(m.get("mountPath", "")))
        for m in mounts:
            mp = m.get("mountPath", "").rstrip("/") or "/"
            if path == mp or path.startswith(mp + "/"):
                base = self.volume_dir(m.get("name", ""))
                if base is None:
                    return None
                rel = path[len(mp):].lstrip("/")
                return os.path.join(base, m.get("subPath") or "", rel).rstrip("/")
        return None

    def _source(self, kind_key, ref: dict | None, what: str) -> dict | None:
        """The data of a Secret / ConfigMap a container references (None: optional and missing)."""
        name = (ref or {}).get("name", "")
        obj = self.runner.sb.store.get(kind_key, self.ns, name)
        if obj is None:
            if (ref or {}).get("optional"):
                return None
            raise ConfigError(f'{what} "{name}" not found')
        if kind_key == SECRETS:
            data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
            data.update(obj.get("stringData") or {})
            return data
        return dict(obj.get("data") or {})

    def _value_from(self, vf: dict) -> str | None:
        for key, kind_key, what in (("secretKeyRef", SECRETS, "secret"), ("configMapKeyRef", CONFIGMAPS,
                                                                          "configmap")):
            if key in vf:
                ref = vf[key]
                data = self._source(kind_key, ref, what)
                if data is None:
                    return None
                if ref.get("key") not in data:
                    if ref.get("optional"):
                        return None
                    raise ConfigError(f"couldn't find key {ref.get('key')} in {what} {self.ns}/{ref.get('name')}")
                return data[ref["key"]]
        if "fieldRef" in vf:
            return {"metadata.namespace": self.ns, "metadata.name": self.pod_name, "metadata.uid": self.uid,
                    "status.podIP": "127.0.0.1", "spec.nodeName": "sandbox-node"}.get(
                vf["fieldRef"].get("fieldPath", ""), "")
        return None

    def resolve_env(self, con: dict) -> dict:
        """The container's environment as the kubelet builds it (envFrom, then env); ConfigError when a
        referenced Secret/ConfigMap (or key) is missing."""
        env: dict[str, str] = {}
        for ef in con.get("envFrom") or []:
            data = None
            if "secretRef" in ef:
                data = self._source(SECRETS, ef["secretRef"], "secret")
            elif "configMapRef" in ef:
                data = self._source(CONFIGMAPS, ef["configMapRef"], "configmap")
            for k, v in (data or {}).items():
                env[ef.get("prefix", "") + k] = v
        for e in con.get("env") or []:
            if "valueFrom" in e:
                v = self._value_from(e["valueFrom"])
                if v is not None:
                    env[e["name"]] = v
            else:
                env[e["name"]] = str(e.get("value", ""))
        return env

    # -- main --
    def run(self) -> None:
        try:
            os.makedirs(self.base, exist_ok=True)
            if not self._run_inits():
                return
            with self.lock:
                self.initialized = True
                for c in self.cons.values():
                    if c.state == "waiting":
                        c.waiting("ContainerCreating")
            for con in self.con_specs:
                if self.stopping.is_set():
                    return
                self._start(con)
            while self._sleep(0.2):
                for con in self.con_specs:
                    self._tick(con)
        except Exception as e:   # keep the pod visible as broken rather than silently running
            log.exception("pod worker %s/%s failed", self.ns, self.pod_name)
            with self.lock:
                for c in self.cons.values():
                    if c.state != "terminated":
                        c.terminate(128, "StartError", f"sandbox runner error: {e}")

    # -- init containers --
    def _run_inits(self) -> bool:
        for ic in self.init_specs:
            st = self.inits[ic["name"]]
            while not self.stopping.is_set():
                try:
                    env = self.resolve_env(ic)
                except ConfigError as e:
                    with self.lock:
                        st.waiting("CreateContainerConfigError", str(e))
                    if not self._sleep(2.0 * self.scale):
                        return False
                    continue
                with self.lock:
                    st.running()
                try:
                    self._init_step(ic, env)
                except DownloadError as e:
                    self._init_failed(ic, st, str(e))
                    if not self._back_off(st):
                        return False
                    continue
                except Exception as e:
                    log.exception("init container %s of %s/%s", ic["name"], self.ns, self.pod_name)
                    self._init_failed(ic, st, f"model download failed: {type(e).__name__}: {e}")
                    if not self._back_off(st):
                        return False
                    continue
                with self.lock:
                    st.terminate(0, "Completed")
                    st.ready = True
                break
            if self.stopping.is_set():
                return False
        return True

    def _init_step(self, ic: dict, env: dict) -> None:
        args = [str(a) for a in (ic.get("args") or [])]
        storage = ic["name"].endswith("-model-initializer") or "storage-initializer" in ic.get("image", "")
        if not storage or len(args) < 2:
            self.plog(ic["name"], f"sandbox: init container {ic['name']} (image {ic.get('image')}) completed")
            return
        src, dst = args[0], args[1]
        dest = self.local_path(ic, dst)
        if dest is None:
            raise DownloadError(f"model download failed: the destination {dst} is not a volume of the pod")
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest, exist_ok=True)
        from ..gateway import resolve_service_url
        n = download(src, dest, env, lambda p: self.local_path(ic, p), lambda s: self.plog(ic["name"], s),
                     lambda url: resolve_service_url(self.runner.sb, url))
        self.plog(ic["name"], f"INFO  : Transferred: {n} files\nsandbox: model {src} copied to {dst}")

    def _init_failed(self, ic: dict, st: CState, msg: str) -> None:
        self.plog(ic["name"], f"ERROR : {msg}")
        with self.lock:
            st.terminate(1, "Error", msg)
        self.runner.recorder.warning(self.pod, "BackOff", f"Back-off restarting failed container {ic['name']} in "
                                                          f"pod {self.pod_name}_{self.ns}({self.uid})")

    def _back_off(self, st: CState) -> bool:
        """terminated -> (hold) -> CrashLoopBackOff for the back-off -> running again. False when stopping."""
        delay = min(st.backoff, BACKOFF_MAX)
        st.backoff = min(st.backoff * 2, BACKOFF_MAX)
        if not self._sleep(TERMINATED_HOLD):
            return False
        with self.lock:
            st.waiting("CrashLoopBackOff", f"back-off {int(delay)}s restarting failed container={st.name} "
                                           f"pod={self.pod_name}_{self.ns}({self.uid})")
        if not self._sleep(max(0.0, delay * self.scale - TERMINATED_HOLD)):
            return False
        with self.lock:
            st.restarts += 1
        return True

    # -- containers --
    def _engine_predictor(self) -> dict:
        eng = next((c for c in self.con_specs if c["name"] == S.ENGINE_CONTAINER), None)
        env = {e.get("name"): e.get("value", "") for e in (eng or {}).get("env") or []}
        try:
            pred = json.loads(base64.b64decode(env.get("ENGINE_PREDICTOR", "")) or b"{}")
        except ValueError:
            pred = {}
        return pred if isinstance(pred, dict) else {}

    def _is_graph(self) -> bool:
        """More than one node (or a built-in root): the sandbox executor runs the graph."""
        graph = self._engine_predictor().get("graph") or {}
        return bool(graph.get("children")) or graph.get("implementation") in S.BUILTIN_IMPLEMENTATIONS

    def _engine_target(self) -> str | None:
        """The container a single-node predictor's executor forwards to (the root), or None with engine_error."""
        root = (self._engine_predictor().get("graph") or {}).get("name")
        if root and any(c["name"] == root for c in self.con_specs):
            return root
        models = [c["name"] for c in self.con_specs if c["name"] != S.ENGINE_CONTAINER]
        if len(models) == 1:
            return models[0]
        self.engine_error = f"sandbox executor: cannot find the graph root container {root!r} in the pod"
        return None

    def resolve_node(self, name: str) -> tuple[str, int] | None:
        """Where a graph node's HTTP server listens: a server of this pod, else the ready endpoints of the node's
        container Service (another componentSpec's pod)."""
        proc = self.procs.get(name)
        if proc is not None:
            return ("127.0.0.1", proc.http_port) if proc.alive else None
        pred = self._engine_predictor()
        node = next((n for n in S.graph_nodes(pred.get("graph") or {}) if n.get("name") == name), None)
        if node is None:
            return None
        ep = node.get("endpoint") or {}
        svc = ep.get("service_host") or ""
        port = int(ep.get("httpPort") or 9000)
        store = self.runner.sb.store
        eps = store.get(("", "endpoints"), self.ns, svc.split(".", 1)[0]) if svc and svc != "localhost" else None
        for sub in (eps or {}).get("subsets") or []:
            for a in sub.get("addresses") or []:
                ref = a.get("targetRef") or {}
                addr = self.runner.sb.endpoints_registry.lookup(ref.get("namespace") or self.ns, ref.get("name", ""),
                                                                port)
                if addr is not None:
                    return addr
        return None

    def _protocol(self) -> str:
        eng = next((c for c in self.con_specs if c["name"] == S.ENGINE_CONTAINER), None)
        args = [str(a) for a in (eng or {}).get("args") or []]
        for i, a in enumerate(args):
            if a == "--protocol" and i + 1 < len(args):
                return args[i + 1]
            if a.startswith("--protocol="):
                return a.split("=", 1)[1]
        return ""

    def _server_of(self, con: dict, env: dict) -> tuple[str, str]:
        image = con.get("image", "")
        cfg = self.runner.config_for(self.ns)
        impl = cfg.server_for_image(image) if cfg else None
        repo = S._repo(image).rsplit("/", 1)[-1]
        if impl is None:
            impl = _IMAGE_SERVERS.get(repo)
        mlimpl = env.get("MLSERVER_MODEL_IMPLEMENTATION", "")
        if impl is None and repo == "mlserver" and mlimpl:
            impl = next((k for k, v in S.MLSERVER_IMPLEMENTATIONS.items() if v == mlimpl), None)
        proto = self._protocol() or ("v2" if mlimpl or repo == "mlserver" else "seldon")
        return (impl or image), proto

    def _start(self, con: dict) -> None:
        if con["name"] == S.ENGINE_CONTAINER:
            self._start_engine(con)
        else:
            self._start_model(con)

    def _start_engine(self, con: dict) -> None:
        name = con["name"]
        st = self.cons[name]
        if self._is_graph():
            from .executor import Executor
            if self.executor is None:
                self.executor = Executor(self._engine_predictor(), self.resolve_node, self._protocol() or "seldon")
                port = self.executor.start()
                self.ctx.register(S.ENGINE_HTTP_PORT, "127.0.0.1", port)
            self.plog(name, f"sandbox: executor for the inference graph of predictor "
                            f"{self._engine_predictor().get('name')} (REST only)")
        else:
            target = self._engine_target()
            if target is None:
                with self.lock:
                    st.running()
                    st.terminate(1, "Error", self.engine_error)
                    st.restart_at = float("inf")
                self.plog(name, self.engine_error)
                return
            self.plog(name, f"sandbox: executor for predictor (graph root {target}); ports {S.ENGINE_HTTP_PORT}, "
                            f"{S.ENGINE_GRPC_PORT} lead to its server")
        with self.lock:
            st.running()
            self.probes[name] = (Probe(con.get("readinessProbe"), self.scale, True),
                                 Probe(con.get("livenessProbe"), 1.0, True))
            for p in self.probes[name]:
                p.reset()
        self._register_engine()

    def _model_dir(self, con: dict, env: dict) -> str | None:
        """The local directory of the model the container is given (/mnt/models, or what its env names)."""
        candidates = []
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            candidates += [q.get("value") for q in json.loads(env.get("PREDICTIVE_UNIT_PARAMETERS") or "[]")
                           if q.get("name") == "model_uri"]
        for candidate in [*candidates, env.get("MLSERVER_MODEL_URI"), S.MODEL_MOUNT]:
            if candidate and str(candidate).startswith("/"):
                found = self.local_path(con, str(candidate))
                if found:
                    return found
        return None

    def _launch_args(self, con: dict, env: dict) -> dict:
        server, proto = self._server_of(con, env)
        params = []
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            params = [q for q in json.loads(env.get("PREDICTIVE_UNIT_PARAMETERS") or "[]")
                      if q.get("name") != "model_uri"]
        model_dir = self._model_dir(con, env)
        local_env = {k: v for k, v in env.items() if k not in _LOCAL_ENV_DROP}
        if model_dir:
            local_env["SANDBOX_MODEL_DIR"] = model_dir
        workdir = os.path.join(self.base, "containers", con["name"])
        os.makedirs(workdir, exist_ok=True)
        link = os.path.join(workdir, "server.log")
        if not os.path.lexists(link):   # the server's output is the pod log
            target = self.ctx.log_path(con["name"])
            with open(target, "a", encoding="utf-8"):
                pass
            os.symlink(target, link)
        return {"server": server, "protocol": proto, "model_dir": model_dir, "workdir": workdir, "env": local_env,
                "parameters": params, "model_name": env.get("MLSERVER_MODEL_NAME") or con["name"],
                "images_dirs": [os.path.join(self.runner.sb.dir, "images")]}

    def _start_model(self, con: dict) -> None:
        from ..servers import ServerNotAvailable, launch
        name = con["name"]
        st = self.cons[name]
        try:
            args = self._launch_args(con, self.resolve_env(con))
        except ConfigError as e:
            with self.lock:
                st.waiting("CreateContainerConfigError", str(e))
                st.restart_at = time.monotonic() + 2.0 * self.scale
            return
        try:
            proc = launch(args.pop("server"), args.pop("protocol"), args.pop("model_dir"), args.pop("workdir"),
                          build_missing=True, **args)
        except Exception as e:
            unavailable = isinstance(e, ServerNotAvailable)
            if not unavailable:
                log.exception("launch failed for %s/%s %s", self.ns, self.pod_name, name)
            reason = "ErrImagePull" if unavailable and con.get("image", "") and \
                self._server_of(con, {})[0] not in S.PREPACKAGED else "CreateContainerError"
            msg = f"sandbox: {e}" if unavailable else f"sandbox: cannot start the model server: {e}"
            self.plog(name, msg)
            with self.lock:
                st.waiting(reason, msg)
                st.restart_at = time.monotonic() + 30.0 * self.scale
            return
        if self.stopping.is_set():
            proc.stop(grace=2)
            return
        with self.lock:
            self.procs[name] = proc
            st.running()
            self.probes[name] = (Probe(con.get("readinessProbe"), self.scale, True),
                                 Probe(con.get("livenessProbe"), 1.0, True))
            for p in self.probes[name]:
                p.reset()
        self._register(con, proc)
        self._register_engine()

    def _register(self, con: dict, proc) -> None:
        by_name = {"http": proc.http_port, "grpc": proc.grpc_port, "metrics": proc.metrics_port}
        for pt in con.get("ports") or []:
            port = by_name.get(pt.get("name", ""))
            if port is None:
                env = {e.get("name"): str(e.get("value", "")) for e in con.get("env") or []}
                port = {env.get("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "9000"): proc.http_port,
                        env.get("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "9500"): proc.grpc_port,
                        env.get("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "6000"): proc.metrics_port}.get(
                    str(pt.get("containerPort", 0)))
            if port is not None:
                self.ctx.register(int(pt["containerPort"]), "127.0.0.1", port)

    def _register_engine(self) -> None:
        if not any(c["name"] == S.ENGINE_CONTAINER for c in self.con_specs) or self._is_graph():
            return
        target = self._engine_target()
        proc = self.procs.get(target) if target else None
        if proc is not None:
            self.ctx.register(S.ENGINE_HTTP_PORT, "127.0.0.1", proc.http_port)
            self.ctx.register(S.ENGINE_GRPC_PORT, "127.0.0.1", proc.grpc_port)

    def _tick_restart(self, con: dict, st: CState) -> None:
        """terminated -> CrashLoopBackOff (after the hold) -> started again (after the back-off)."""
        t = time.monotonic()
        if st.state == "terminated":
            if t >= st.hold_until and st.restart_at != float("inf"):
                delay = min(st.backoff, BACKOFF_MAX)
                st.backoff = min(st.backoff * 2, BACKOFF_MAX)
                with self.lock:
                    st.waiting("CrashLoopBackOff", f"back-off {int(delay)}s restarting failed container={st.name} "
                                                   f"pod={self.pod_name}_{self.ns}({self.uid})")
                    st.restart_at = t + max(0.0, delay * self.scale - TERMINATED_HOLD)
            return
        if st.reason in ("CrashLoopBackOff", "CreateContainerError", "ErrImagePull",
                         "CreateContainerConfigError") and t >= st.restart_at:
            if st.reason == "CrashLoopBackOff":
                with self.lock:
                    st.restarts += 1
            self._start(con)

    def _tick(self, con: dict) -> None:
        name = con["name"]
        st = self.cons[name]
        if st.state in ("terminated", "waiting"):
            self._tick_restart(con, st)
            return
        if name == S.ENGINE_CONTAINER:
            self._tick_engine(st)
            return
        proc = self.procs.get(name)
        if proc is None:
            return
        err = proc.error()
        if proc.exit_code is not None or err:
            if proc.exit_code is None:
                self._sleep(1.0)    # let the dying server finish its traceback
            err = proc.error() or err
            code = proc.exit_code
            proc.stop(grace=2)
            if code is None:
                code = proc.exit_code if proc.exit_code not in (None, 0) else 1
            msg = err or f"{proc.server} model server exited with code {code}"
            self._crash(st, code, msg)
            return
        ready_p, live_p = self.probes[name]
        if ready_p.due():
            ready_p.record(proc.ready(timeout=min(ready_p.timeout, 2.0)))
        if live_p.due():
            live_p.record(proc.alive and _tcp_ok(proc.http_port))
            if not live_p.result:
                reason = f"Liveness probe failed: dial tcp 127.0.0.1:{proc.http_port}: connect: connection refused"
                self.runner.recorder.warning(self.pod, "Unhealthy", reason)
                self.runner.recorder.normal(self.pod, "Killing", f"Container {name} failed liveness probe, will "
                                                                 "be restarted")
                proc.stop(grace=2)
                self._crash(st, 137, reason)
                return
        with self.lock:
            st.ready = ready_p.result

    def _tick_engine(self, st: CState) -> None:
        ready_p, _live = self.probes[S.ENGINE_CONTAINER]
        if ready_p.due():
            if self.executor is not None:
                ready_p.record(self.executor.ready())
            else:
                target = self._engine_target()
                proc = self.procs.get(target) if target else None
                ready_p.record(proc is not None and proc.ready(timeout=1.0))
        with self.lock:
            st.ready = ready_p.result

    def _crash(self, st: CState, code: int, msg: str) -> None:
        self.plog(st.name, f"sandbox: container {st.name} terminated (exit code {code}): {msg.splitlines()[0]}"
                  if msg else f"sandbox: container {st.name} terminated (exit code {code})")
        with self.lock:
            st.terminate(code, "Error" if code else "Completed", msg)
            st.hold_until = time.monotonic() + TERMINATED_HOLD
        self.runner.recorder.warning(self.pod, "BackOff", f"Back-off restarting failed container {st.name} in pod "
                                                          f"{self.pod_name}_{self.ns}({self.uid})")

    # -- reporting --
    def run_status(self) -> RunStatus:
        with self.lock:
            if not self.initialized:
                return RunStatus("Pending", False, reason="PodInitializing",
                                 containers=[c.report() for c in self.cons.values()])
            ready = bool(self.cons) and all(c.ready for c in self.cons.values())
            return RunStatus("Running", ready, containers=[c.report() for c in self.cons.values()])

    def extra_status(self) -> tuple[list[dict], dict[str, dict], dict[str, dict]]:
        """(initContainerStatuses, {container: lastState}, {container: state.terminated}) to write."""
        with self.lock:
            inits = [self.inits[c["name"]].k8s() for c in self.init_specs]
            last = {n: {"terminated": dict(c.last)} for n, c in self.cons.items() if c.last}
            term = {n: dict(c.terminated) for n, c in self.cons.items() if c.state == "terminated" and c.terminated}
        return inits, last, term

    def stop(self) -> None:
        self.stopping.set()
        if self.executor is not None:
            self.executor.stop()
        grace = min(5.0, float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 5))
        with self.lock:
            procs = list(self.procs.values())
            self.procs.clear()
        for p in procs:
            try:
                p.stop(grace=grace)
            except Exception:
                log.exception("stopping a model server of %s/%s", self.ns, self.pod_name)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)
        shutil.rmtree(self.base, ignore_errors=True)


def _tcp_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class SeldonPodRunner(ProcessRunner):
    """Registered in `sandbox.pod_runners`: runs the pods of the Deployments the Seldon operator creates."""

    def __init__(self, sandbox, component):
        super().__init__(sandbox)
        self.component = component
        self.client = client_for(sandbox, "system:node:sandbox-node", "kubelet")
        self.recorder = Recorder(self.client, "kubelet")

    def time_scale(self) -> float:
        return self.component.time_scale()

    def config_for(self, namespace: str):
        return self.component.config_for_namespace(namespace)

    # -- runner protocol --
    def matches(self, pod: dict) -> bool:
        labels = pod["metadata"].get("labels") or {}
        return S.LABEL_SELDON_ID in labels and bool((pod.get("spec") or {}).get("containers"))

    def start(self, pod: dict, ctx) -> None:
        w = PodWorker(self, pod, ctx)
        with self.lock:
            old = self.workers.pop(pod["metadata"]["uid"], None)
            self.workers[pod["metadata"]["uid"]] = w
        if old is not None:
            old.stop()
        w.start()

    def status(self, pod: dict) -> RunStatus | None:
        w = self.workers.get(pod["metadata"]["uid"])
        if w is None:
            if self.closing:      # the sandbox stops: leave the pod as it was (snapshot)
                return None
            return RunStatus("Failed", False, "the sandbox runner lost this pod", "Error")
        self._write_extra(pod, w)
        return w.run_status()

    def stop(self, pod: dict) -> None:
        """The pod is gone: its processes end in the background (terminationGracePeriodSeconds, at most 5s), so
        the kubelet is not held up."""
        self.stop_worker(pod["metadata"].get("uid", ""))

    def pids(self) -> list[int]:
        with self.lock:
            workers = list(self.workers.values())
        return [p.pid for w in workers for p in list(w.procs.values()) if p.alive]

    # -- what the kubelet does not write for runners --
    def _write_extra(self, pod: dict, w: PodWorker) -> None:
        inits, last, term = w.extra_status()

        def change(o):
            if o["metadata"]["uid"] != w.uid:
                return False
            st = o.setdefault("status", {})
            if inits:
                st["initContainerStatuses"] = inits
            for cs in st.get("containerStatuses") or []:
                if cs.get("name") in last:
                    cs["lastState"] = last[cs["name"]]
                t = term.get(cs.get("name"))
                if t and "terminated" in (cs.get("state") or {}):
                    cs["state"]["terminated"].update({k: v for k, v in t.items() if k in ("message", "reason",
                                                                                          "exitCode")})
            return None
        cur = pod.get("status") or {}
        want_inits = inits if inits else cur.get("initContainerStatuses")
        dirty = want_inits != cur.get("initContainerStatuses")
        for cs in cur.get("containerStatuses") or []:
            if cs.get("name") in last and cs.get("lastState") != last[cs["name"]]:
                dirty = True
            t = term.get(cs.get("name"))
            if t and "terminated" in (cs.get("state") or {}) and \
                    cs["state"]["terminated"].get("message") != t.get("message"):
                dirty = True
        if not dirty:
            return
        try:
            self.client.mutate(PODS, w.ns, w.pod_name, change, "status")
        except Exception as e:   # a conflict: next poll
            log.debug("extra status of %s/%s: %s", w.ns, w.pod_name, e)
