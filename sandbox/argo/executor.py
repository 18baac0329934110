"""The pod runner for Argo Workflow step pods: what argoexec and the container runtime do on a real node.

A step pod (docs/dev/argo.md) has a ``main`` container with ``ARGO_TEMPLATE`` (the resolved template as JSON) and
a ``wait`` container. For each pod a `StepWorker` thread:

* **container / script templates**: resolves the main container's image (`sandbox.argo.images`: a loaded image or
  a built-in base image; otherwise the container waits in ``ErrImagePull`` / ``ImagePullBackOff`` and retries), lays
  out the pod's file system (`PodFS`: ``DIR/argo/pods/<ns>/<pod>/rootfs``, volumes, the image's files), resolves
  the environment like the kubelet (``value``, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``, ``envFrom``),
  maps absolute paths of command, args, env values and script source into that file system, and runs the command
  as a local process in its own process group (stdout + stderr -> ``ctx.log_path("main")``; stdout is a script's
  ``outputs.result``). ``activeDeadlineSeconds`` kills it (pod reason ``DeadlineExceeded``);
* **resource templates**: performs ``action`` on ``manifest`` through the sandbox API *as the pod's service
  account* (a token the sandbox issues for it, so RBAC applies: a 403 fails the step with the API's message), then
  polls ``successCondition`` / ``failureCondition`` (`sandbox.argo.conditions`) and reads ``jsonPath`` /
  ``jqFilter`` output parameters from the object;
* **wait**: collects output parameters (``valueFrom.path`` with ``default``) and creates the WorkflowTaskResult
  named after the node ID as the pod's service account (a 403 fails ``wait`` and the pod); the wait log says what
  it reported.

Container states go to the kubelet as `RunStatus` (``main`` and ``wait``: waiting ContainerCreating -> running ->
terminated); termination messages are written to the pod status by the runner (as the kubelet does from
``terminationMessagePath``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import yaml

from ..client.rest import Credentials, admin_api, resource_path
from ..controllers.base import client_for, now
from ..controllers.runtime import ContainerStatus, ProcessRunner, RunStatus
from ..machinery.errors import ApiError
from . import common as C
from . import conditions, images

log = logging.getLogger("sandbox.argo.executor")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
PODS = ("", "pods")
PVCS = ("", "persistentvolumeclaims")
PVS = ("", "persistentvolumes")
SECRETS = ("", "secrets")
CONFIGMAPS = ("", "configmaps")
SAS = ("", "serviceaccounts")
# container paths mapped into the pod root
ROOTFS_PREFIXES = ("/tmp", "/argo", "/mnt", "/data", "/workdir")  # noqa: S108
SCRIPT_PATH = "/argo/staging/script"
RESULT_MAX = 256 * 1024
PULL_BACKOFF_MAX = 10.0
POLL = 1.0                                   # resource condition checks (argoexec: RESOURCE_STATE_CHECK_INTERVAL)
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
BUILTIN_CMD = {"python": ["python3"], "busybox": ["sh"], "alpine": ["/bin/sh"]}
USER_AGENT = "argoexec/v3.5.12 (linux/amd64) sandbox"


class StepError(Exception):
    """The step fails: the container terminates with exit code 1 (or `code`) and this message."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message, self.code = message, code


class NotReady(Exception):
    """The container cannot be created yet (waiting `reason`, retried): a missing Secret, ConfigMap, ..."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class Stopped(Exception):
    """The pod was deleted or the sandbox stops."""


class Deadline(Exception):
    """activeDeadlineSeconds passed."""


# ---------------------------------------------------------------------------------------------------------------------
class Ctr:
    """One container's state as the kubelet reports it."""

    def __init__(self, name: str):
        self.name = name
        self.state, self.reason, self.message = "waiting", "ContainerCreating", ""
        self.exit_code: int | None = None
        self.started_at = self.finished_at = ""

    def waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message = "waiting", reason, message

    def running(self) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.started_at = now()

    def terminate(self, code: int, message: str = "", reason: str = "") -> None:
        self.state, self.exit_code, self.message = "terminated", code, message
        self.reason = reason or ("Completed" if code == 0 else "Error")
        self.started_at = self.started_at or now()
        self.finished_at = now()

    def report(self) -> ContainerStatus:
        return ContainerStatus(self.name, self.state, self.state == "running", self.exit_code, self.reason,
                               self.message)


# ---------------------------------------------------------------------------------------------------------------------
class PodFS:
    """The container's file system: absolute paths -> local paths (volume mounts longest first, the image's
    workingDir, then the pod's rootfs)."""

    def __init__(self, rootfs: str, mounts: dict[str, str]):
        self.rootfs = rootfs
        self.mounts = {p.rstrip("/") or "/": d for p, d in mounts.items()}
        text_prefixes = {p: d for p, d in self.mounts.items() if p != "/"}
        for p in ROOTFS_PREFIXES:
            text_prefixes.setdefault(p, rootfs + p)
        alts = sorted(text_prefixes, key=len, reverse=True)
        self._text = text_prefixes
        self._re = re.compile(r"(?<![\w.\-/~$])(" + "|".join(re.escape(p) for p in alts) + r")(?=/|[^\w.\-]|$)")

    def local(self, path: str) -> str:
        """Where an absolute container path is on this machine."""
        path = os.path.normpath("/" + path.lstrip("/")) if path else "/"
        for mp in sorted(self.mounts, key=len, reverse=True):
            if mp in ("/", path) or path.startswith(mp + "/"):
                rel = path[len(mp):].lstrip("/") if mp != "/" else path.lstrip("/")
                return os.path.join(self.mounts[mp], rel) if rel else self.mounts[mp]
        return self.rootfs + path

    def text(self, s: str) -> str:
        """`s` with the mapped absolute paths in it replaced by their local paths."""
        return self._re.sub(lambda m: self._text[m.group(1)], s)


def expand_vars(s: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion (``$$`` escapes; unknown references stay)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def _jsonpath(expr: str) -> str:
    """``{.metadata.name}`` / ``.items[0].x`` -> a `conditions.lookup` path."""
    expr = expr.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1].strip()
    return re.sub(r"\[(\d+)\]", r".\1", expr).lstrip(".")


def _render(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------------------
KUBELET = "system:node:sandbox-node"


class ApiAs:
    """The API as a service account, over HTTPS with a token from the TokenRequest API (authentication, RBAC,
    admission and the audit log as for any client), as argoexec acts with its pod's service account token."""

    def __init__(self, sandbox, namespace: str, sa_name: str, pod: tuple[str, str]):
        admin, self.discovery = admin_api(sandbox)
        self.user = f"system:serviceaccount:{namespace}:{sa_name}"
        kubelet = admin.with_creds(Credentials(token=admin.creds.token, impersonate=KUBELET,
                                               groups=("system:nodes", "system:authenticated")), USER_AGENT)
        try:   # the kubelet asks for the pod's service account token, as it does to mount it
            out = kubelet.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa_name}/token",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                 # the API server's own audience (none given), the one the pod's projected token
                                 # has: the Node authorizer refuses a node other audiences
                                 "spec": {"expirationSeconds": 3600,
                                          # bound to the pod: the Node authorizer gives a node only its pods' tokens
                                          "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod[0],
                                                             "uid": pod[1]}}})
        except ApiError as e:
            if e.code == 404:
                raise StepError(f'serviceaccounts "{sa_name}" not found in namespace "{namespace}"') from e
            raise StepError(f"requesting a token for {self.user}: {e}") from e
        self.rest = admin.with_creds(Credentials(token=out["status"]["token"]), USER_AGENT)

    def call(self, method: str, path: str, body: object = None,
             ctype: str = "application/json") -> tuple[int, dict]:
        try:
            out = self.rest.request(method, path, body, content_type=ctype)
        except ApiError as e:
            return e.code, e.body
        return 200, out if isinstance(out, dict) else {}


def _custom(kind) -> bool:
    """A custom resource (kubectl sends it a merge patch: strategic merge needs the built-in types' schemas)."""
    return "." in kind.group and not kind.group.endswith(".k8s.io")


def api_message(code: int, out: dict) -> str:
    reason = out.get("reason") or ""
    msg = out.get("message") or f"the server answered {code}"
    return f"Error from server ({reason}): {msg}" if reason else msg


# ---------------------------------------------------------------------------------------------------------------------
class StepWorker(threading.Thread):
    def __init__(self, runner: ArgoPodRunner, pod: dict, ctx):
        m = pod["metadata"]
        super().__init__(name=f"argo-step-{m['name']}", daemon=True)
        self.runner, self.sb, self.ctx = runner, runner.sb, ctx
        self.pod = pod
        self.ns, self.pod_name, self.uid = m.get("namespace", ""), m["name"], m.get("uid", "")
        self.spec = pod.get("spec") or {}
        self.con = next(c for c in self.spec.get("containers") or [] if c.get("name") == C.MAIN_CONTAINER)
        self.env_spec = {e.get("name"): e.get("value") for e in self.con.get("env") or [] if "value" in e}
        self.tmpl = json.loads(self.env_spec.get(C.ENV_TEMPLATE) or "{}")
        self.base = os.path.join(self.sb.dir, "argo", "pods", self.ns, self.pod_name)
        self.rootfs = os.path.join(self.base, "rootfs")
        self.main, self.wait = Ctr(C.MAIN_CONTAINER), Ctr(C.WAIT_CONTAINER)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.done = False
        self.pod_reason = self.pod_message = ""
        self.messages_written = False
        ads = self.spec.get("activeDeadlineSeconds")
        self.deadline = time.monotonic() + float(ads) if ads is not None else None
        self.sa = self.spec.get("serviceAccountName") or "default"

    # -- logs --
    def plog(self, container: str, text: str) -> None:
        try:
            with open(self.ctx.log_path(container), "a", encoding="utf-8") as f:
                f.write(text if text.endswith("\n") else text + "\n")
        except OSError:
            log.exception("cannot write the %s log of %s/%s", container, self.ns, self.pod_name)

    def _check(self) -> None:
        if self.stopping.is_set():
            raise Stopped
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise Deadline

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self._check()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stopping.wait(min(left, 0.2))

    # -- main --
    def run(self) -> None:
        try:
            shutil.rmtree(self.base, ignore_errors=True)
            os.makedirs(self.rootfs, exist_ok=True)
            with self.lock:
                self.wait.running()
            self.plog(C.WAIT_CONTAINER, "sandbox argoexec wait: waiting for the main container")
            self._run_main()
        except Stopped:
            return
        except Deadline:
            self._kill()
            with self.lock:
                if self.main.state == "running":
                    self.main.terminate(137, DEADLINE_MESSAGE)
                if self.wait.state == "running":
                    self.wait.terminate(137, DEADLINE_MESSAGE)
                self.pod_reason, self.pod_message = "DeadlineExceeded", DEADLINE_MESSAGE
            self.plog(C.MAIN_CONTAINER, f"sandbox: {DEADLINE_MESSAGE} (activeDeadlineSeconds="
                                        f"{self.spec.get('activeDeadlineSeconds')}): killed")
        except Exception as e:   # a broken step must show as failed, never hang
            log.exception("argo step %s/%s failed", self.ns, self.pod_name)
            with self.lock:
                for c in (self.main, self.wait):
                    if c.state != "terminated":
                        c.terminate(1, f"sandbox executor error: {e}")
        finally:
            self._kill()
            with self.lock:
                self.done = True

    def _run_main(self) -> None:
        """main, then wait: output parameters (a missing file without default fails wait) and the task result."""
        result, fs, params = None, None, []
        try:
            if self.tmpl.get("resource") is not None:
                code, message, params = self.run_resource(self.tmpl["resource"])
            else:
                code, message, result, fs = self.run_container()
        except StepError as e:
            self.plog(C.MAIN_CONTAINER, f"sandbox: {e.message}")
            code, message = e.code, e.message
        with self.lock:
            self.main.terminate(code, message)
        if fs is not None:
            try:
                params = self._path_params(fs, code)
            except StepError as e:
                self.plog(C.WAIT_CONTAINER, f"sandbox argoexec wait: {e.message}")
                with self.lock:
                    self.wait.terminate(1, e.message)
                return
        self.report(code, result, params)

    # -- container and script templates --
    def run_container(self) -> tuple[int, str, str | None, PodFS]:
        image = self._pull()
        while True:
            try:
                fs, env, argv, cwd = self._create(image)
                break
            except NotReady as e:
                with self.lock:
                    self.main.waiting(e.reason, e.message)
                self._sleep(2.0)
        argv = self._resolve_argv(argv, env)
        if argv is None:
            return 128, "exec: executable file not found in $PATH", None, fs
        self.plog(C.WAIT_CONTAINER, "sandbox argoexec wait: main started: " + " ".join(argv))
        out_buf = bytearray()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            msg = f"failed to create containerd task: exec: {argv[0]}: {e.strerror}"
            self.plog(C.MAIN_CONTAINER, f"sandbox: {msg}")
            return 128, msg, None, fs
        with self.lock:
            self.proc = proc
            self.main.running()
        readers = [threading.Thread(target=self._pump, args=(proc.stdout, out_buf), daemon=True),
                   threading.Thread(target=self._pump, args=(proc.stderr, None), daemon=True)]
        for t in readers:
            t.start()
        while proc.poll() is None:
            self._check()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        for t in readers:
            t.join(timeout=5)
        code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        result = None
        if self.tmpl.get("script") is not None:
            text = bytes(out_buf).decode(errors="replace")
            result = (text[:-1] if text.endswith("\n") else text)[-RESULT_MAX:]
        return code, "" if code == 0 else f"exit code {code}", result, fs

    def _pump(self, stream, buf: bytearray | None) -> None:
        lock = self.runner.log_lock
        with open(self.ctx.log_path(C.MAIN_CONTAINER), "ab") as f:
            for chunk in iter(lambda: stream.read1(65536), b""):
                with lock:
                    f.write(chunk)
                    f.flush()
                if buf is not None and len(buf) < 4 * RESULT_MAX:
                    buf.extend(chunk)
        stream.close()

    def _pull(self) -> images.Image:
        ref = self.con.get("image") or ""
        backoff = 2.0
        while True:
            self._check()
            try:
                image = images.resolve(self.sb.dir, ref)
            except (OSError, ValueError) as e:
                raise StepError(f"image {ref}: broken {images.IMAGE_CONFIG}: {e}") from e
            if image is not None:
                return image
            msg = images.not_loaded_message(ref)
            with self.lock:
                self.main.waiting("ErrImagePull", msg)
            self.runner.event(self.pod, "Warning", "Failed", f'Failed to pull image "{ref}": {msg}')
            self._sleep(1.0)
            with self.lock:
                self.main.waiting("ImagePullBackOff", f'Back-off pulling image "{ref}": {msg}')
            self._sleep(backoff)
            backoff = min(backoff * 2, PULL_BACKOFF_MAX)

    def _create(self, image: images.Image) -> tuple[PodFS, dict, list[str], str]:
        """The file system, environment, command line and working directory of the main container."""
        mounts = {m["mountPath"]: self._mount_dir(m) for m in self.con.get("volumeMounts") or []
                  if m.get("mountPath")}
        wd_image = image.working_dir or "/"
        if image.dir:
            dest = os.path.join(self.rootfs, wd_image.lstrip("/"))
            shutil.copytree(image.dir, dest, symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(images.IMAGE_CONFIG))
            if wd_image != "/":
                mounts.setdefault(wd_image, dest)
        fs = PodFS(self.rootfs, mounts)
        env = self._env(image, fs)
        if self.tmpl.get("script") is not None:
            script = fs.local(SCRIPT_PATH)
            os.makedirs(os.path.dirname(script), exist_ok=True)
            with open(script, "w", encoding="utf-8") as f:
                f.write(fs.text(self.tmpl["script"].get("source") or ""))
        command, args = self.con.get("command") or [], self.con.get("args") or []
        if self.tmpl.get("script") is not None and SCRIPT_PATH not in args:
            args = [*args, SCRIPT_PATH]
        if command:
            argv = [*command, *args]
        elif args:
            argv = [*image.entrypoint, *args]
        else:
            name = images.normalize(image.ref)[0].rsplit("/", 1)[-1]
            default = image.cmd or (BUILTIN_CMD.get(name, ["bash"]) if image.builtin else [])
            argv = [*image.entrypoint, *default]
        if not argv:
            raise StepError("no command specified for the main container (and the image has no entrypoint/cmd)")
        argv = [fs.text(expand_vars(str(a), env)) for a in argv]
        cwd = fs.local(self.con.get("workingDir") or wd_image)
        os.makedirs(cwd, exist_ok=True)
        return fs, env, argv, cwd

    def _resolve_argv(self, argv: list[str], env: dict) -> list[str] | None:
        exe = argv[0]
        path = env.get("PATH", "")
        if "/" not in exe:
            found = shutil.which(exe, path=path)
        elif os.path.isabs(exe) and not os.path.exists(exe):
            found = shutil.which(os.path.basename(exe), path=path)   # /usr/local/bin/python -> the host's tool
        else:
            found = exe
        if found is None:
            self.plog(C.MAIN_CONTAINER, f'sandbox: exec: "{exe}": executable file not found in $PATH')
            return None
        return [found, *argv[1:]]

    def _bin_dir(self) -> str:
        """python / python3 -> the sandbox's interpreter, first on PATH (small exec wrappers rather than symlinks:
        a symlinked venv interpreter would lose the venv's packages)."""
        d = os.path.join(self.base, "bin")
        os.makedirs(d, exist_ok=True)
        for name in ("python", "python3"):
            path = os.path.join(d, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
            os.chmod(path, 0o755)  # noqa: S103 - an executable wrapper
        return d

    # -- volumes and env --
    def _mount_dir(self, mount: dict) -> str:
        vol = next((v for v in self.spec.get("volumes") or [] if v.get("name") == mount.get("name")), None)
        if vol is None:
            raise StepError(f'volume "{mount.get("name")}" of mount {mount.get("mountPath")} is not in the pod')
        d = self._volume_dir(vol)
        if mount.get("subPath"):
            d = os.path.join(d, mount["subPath"])
            os.makedirs(d, exist_ok=True)
        return d

    def _volume_dir(self, vol: dict) -> str:
        name = vol["name"]
        local = os.path.join(self.base, "volumes", name)
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"].get("claimName", "")
            pvc = self.sb.store.get(PVCS, self.ns, claim)
            pv_name = ((pvc or {}).get("spec") or {}).get("volumeName")
            pv = self.sb.store.get(PVS, "", pv_name) if pv_name else None
            path = (((pv or {}).get("spec") or {}).get("hostPath") or (pv or {}).get("spec", {}).get("local")
                    or {}).get("path")
            if not path:
                raise NotReady("ContainerCreating", f'persistentvolumeclaim "{claim}" is not bound to a volume '
                                                    "with a local path")
            os.makedirs(path, exist_ok=True)
            return path
        if "hostPath" in vol:
            return vol["hostPath"].get("path") or local
        os.makedirs(local, exist_ok=True)
        for key, kind, what in (("configMap", CONFIGMAPS, "configmap"), ("secret", SECRETS, "secret")):
            if key in vol:
                src = vol[key]
                ref_name = src.get("name") or src.get("secretName") or ""
                data = self._data(kind, ref_name, bool(src.get("optional")))
                if data is None:
                    raise NotReady("ContainerCreating", f'MountVolume.SetUp failed for volume "{name}" : {what} '
                                                        f'"{ref_name}" not found')
                items = src.get("items") or [{"key": k, "path": k} for k in data]
                for it in items:
                    if it.get("key") in data:
                        dest = os.path.join(local, it.get("path") or it["key"])
                        os.makedirs(os.path.dirname(dest), exist_ok=True)
                        with open(dest, "wb") as f:
                            f.write(data[it["key"]])
        return local

    def _data(self, kind, name: str, optional: bool) -> dict[str, bytes] | None:
        obj = self.sb.store.get(kind, self.ns, name)
        if obj is None:
            return {} if optional else None
        if kind == SECRETS:
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
            return data
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    def _value_from(self, vf: dict) -> str | None:
        for key, kind, what in (("secretKeyRef", SECRETS, "secret"), ("configMapKeyRef", CONFIGMAPS, "configmap")):
            if key in vf:
                ref = vf[key]
                data = self._data(kind, ref.get("name", ""), bool(ref.get("optional")))
                if data is None:
                    raise NotReady("CreateContainerConfigError", f'{what} "{ref.get("name")}" not found')
                if ref.get("key") not in data:
                    if ref.get("optional"):
                        return None
                    raise NotReady("CreateContainerConfigError",
                                   f"couldn't find key {ref.get('key')} in {what.capitalize()} "
                                   f"{self.ns}/{ref.get('name')}")
                return data[ref["key"]].decode(errors="replace")
        if "fieldRef" in vf:
            return {"metadata.name": self.pod_name, "metadata.namespace": self.ns, "metadata.uid": self.uid,
                    "spec.serviceAccountName": self.sa, "spec.nodeName": "sandbox-node",
                    "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}.get(
                vf["fieldRef"].get("fieldPath", ""), "")
        return None

    def _env(self, image: images.Image, fs: PodFS) -> dict[str, str]:
        env = {"HOSTNAME": self.pod_name, "HOME": fs.local("/root"), "TMPDIR": fs.local("/tmp"),  # noqa: S108
               "LANG": "C.UTF-8"}
        env.update({k: fs.text(v) for k, v in image.env.items()})
        for ef in self.con.get("envFrom") or []:
            ref = ef.get("configMapRef") or ef.get("secretRef") or {}
            kind = CONFIGMAPS if "configMapRef" in ef else SECRETS
            data = self._data(kind, ref.get("name", ""), bool(ref.get("optional")))
            if data is None:
                raise NotReady("CreateContainerConfigError",
                               f'{"configmap" if kind == CONFIGMAPS else "secret"} "{ref.get("name")}" not found')
            env.update({ef.get("prefix", "") + k: v.decode(errors="replace") for k, v in data.items()})
        for e in self.con.get("env") or []:
            if "valueFrom" in e:
                v = self._value_from(e["valueFrom"])
                if v is not None:
                    env[e["name"]] = v
            elif e["name"] == C.ENV_TEMPLATE:
                env[e["name"]] = str(e.get("value", ""))
            else:
                env[e["name"]] = fs.text(expand_vars(str(e.get("value", "")), env))
        for d in (env["HOME"], env["TMPDIR"]):
            os.makedirs(d, exist_ok=True)
        host_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["PATH"] = os.pathsep.join([self._bin_dir(), host_path])
        return env

    # -- outputs --
    def _path_params(self, fs: PodFS, code: int) -> list[dict]:
        out = []
        for p in (self.tmpl.get("outputs") or {}).get("parameters") or []:
            vf = p.get("valueFrom") or {}
            if not vf.get("path"):
                continue
            local = fs.local(vf["path"])
            try:
                with open(local, encoding="utf-8", errors="replace") as f:
                    value = f.read()
                value = value[:-1] if value.endswith("\n") else value
            except OSError as e:
                if "default" in vf:
                    value = str(vf["default"])
                elif code != 0:
                    continue   # the step failed anyway
                else:
                    raise StepError(f"open {vf['path']}: {e.strerror.lower() if e.strerror else e}") from e
            out.append({"name": p["name"], "value": value})
        return out

    # -- resource templates --
    def run_resource(self, res: dict) -> tuple[int, str, list[dict]]:
        with self.lock:
            self.main.running()
        action = res.get("action") or ""
        try:
            api = ApiAs(self.sb, self.ns, self.sa, (self.pod_name, self.uid))
            obj = self._resource_action(api, action, res)
            params: list[dict] = []
            if action != "delete" and obj is not None:
                obj = self._resource_wait(api, obj, res)
                params = self._resource_params(obj)
        except StepError as e:
            self.plog(C.MAIN_CONTAINER, e.message)
            return e.code, e.message, []
        return 0, "", params


    def _kind_of(self, api_version: str, kind: str):
        found = admin_api(self.sb)[1].by_kind(api_version, kind)
        if found is None:
            raise StepError(f'error: resource mapping not found for kind "{kind}" in version "{api_version}": '
                            "ensure CRDs are installed first")
        return found

    def _manifest_target(self, manifest: dict):
        """(kind, namespace, name) a manifest (or ``flags: [type, name]``) names."""
        kind = self._kind_of(manifest.get("apiVersion") or "", manifest.get("kind") or "")
        meta = manifest.get("metadata") or {}
        ns = (meta.get("namespace") or self.ns) if kind.namespaced else ""
        return kind, ns, meta.get("name") or ""

    def _resource_action(self, api: ApiAs, action: str, res: dict) -> dict | None:
        try:
            manifest = yaml.safe_load(res.get("manifest") or "") or {}
        except yaml.YAMLError as e:
            raise StepError(f"error: error parsing the manifest: {e}") from e
        if action == "patch" and (res.get("mergeStrategy") or "strategic") == "json":
            return self._json_patch(api, manifest, res)
        if not isinstance(manifest, dict) or not manifest.get("kind"):
            raise StepError("Kind and name are both required but at least one of them is missing from the manifest")
        kind, ns, name = self._manifest_target(manifest)
        if kind.namespaced:
            manifest.setdefault("metadata", {})["namespace"] = ns
        if res.get("setOwnerReference"):
            self._set_owner(manifest)
        path = resource_path(kind, ns, name)
        coll = resource_path(kind, ns)
        label = f"{kind.kind.lower()}{'.' + kind.group if kind.group else ''}/{name}"
        if not name and action != "create":
            raise StepError("Kind and name are both required but at least one of them is missing from the manifest")
        if action == "create":
            code, out = api.call("POST", coll + "?fieldManager=kubectl-create", manifest)
            verb = "created"
        elif action == "get":
            code, out = api.call("GET", path)
            verb = "found"
        elif action == "delete":
            code, out = api.call("DELETE", path)
            if code == 404:
                self.plog(C.MAIN_CONTAINER, f"{label} not found (ignored)")
                return None
            verb = "deleted"
        elif action == "replace":
            code, out = api.call("PUT", path + "?fieldManager=kubectl-replace", manifest)
            verb = "replaced"
        elif action == "apply":
            ann = manifest.setdefault("metadata", {}).setdefault("annotations", {})
            ann[LAST_APPLIED] = json.dumps(manifest, sort_keys=True)
            code, out = api.call("GET", path)
            if code == 404:
                code, out = api.call("POST", coll + "?fieldManager=kubectl-client-side-apply", manifest)
                verb = "created"
            elif code == 200:
                ctype = "application/merge-patch+json" if _custom(kind) else "application/strategic-merge-patch+json"
                last = ((out.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
                body = apply_patch(json.loads(last) if last else {}, manifest)
                code, out = api.call("PATCH", path + "?fieldManager=kubectl-client-side-apply", body, ctype)
                verb = "configured"
        elif action == "patch":
            strategy = res.get("mergeStrategy") or "strategic"
            ctype = {"merge": "application/merge-patch+json",
                     "strategic": "application/strategic-merge-patch+json"}.get(strategy)
            if ctype is None:
                raise StepError(f"unknown mergeStrategy {strategy!r} (strategic, merge or json)")
            code, out = api.call("PATCH", path + "?fieldManager=kubectl-patch", manifest, ctype)
            verb = "patched"
        else:
            raise StepError(f"unknown resource action {action!r} (get, create, apply, delete, replace, patch)")
        if code >= 300:
            raise StepError(api_message(code, out))
        name = (out.get("metadata") or {}).get("name") or name
        self.plog(C.MAIN_CONTAINER, f"{kind.kind.lower()}{'.' + kind.group if kind.group else ''}/{name} {verb} "
                                    f"(as {api.user})")
        return out if action != "delete" else None

    def _json_patch(self, api: ApiAs, patch: object, res: dict) -> dict:
        flags = [f for f in res.get("flags") or [] if not f.startswith("-")]
        ref = "/".join(flags)
        type_name, _, name = ref.partition("/")
        kind = admin_api(self.sb)[1].by_name(type_name)
        if kind is None or not name or not isinstance(patch, list):
            raise StepError("a json patch needs the patch (a JSON list) as manifest and flags: [<type>, <name>]")
        code, out = api.call("PATCH", resource_path(kind, self.ns if kind.namespaced else "", name)
                             + "?fieldManager=kubectl-patch", patch, "application/json-patch+json")
        if code >= 300:
            raise StepError(api_message(code, out))
        self.plog(C.MAIN_CONTAINER, f"{kind.singular}/{name} patched (as {api.user})")
        return out

    def _set_owner(self, manifest: dict) -> None:
        wf_name = (self.pod["metadata"].get("labels") or {}).get(C.LABEL_WORKFLOW, "")
        wf = self.sb.store.get(C.WORKFLOWS, self.ns, wf_name)
        if wf is None:
            self.plog(C.MAIN_CONTAINER, f"setOwnerReference: workflow {self.ns}/{wf_name} not found; no owner set")
            return
        refs = manifest.setdefault("metadata", {}).setdefault("ownerReferences", [])
        refs.append({"apiVersion": C.API_VERSION, "kind": "Workflow", "name": wf_name,
                     "uid": wf["metadata"]["uid"], "blockOwnerDeletion": True})

    def _resource_wait(self, api: ApiAs, obj: dict, res: dict) -> dict:
        try:
            success = conditions.parse(res.get("successCondition") or "")
            failure = conditions.parse(res.get("failureCondition") or "")
        except conditions.ConditionError as e:
            raise StepError(f"condition failed to parse: {e}") from e
        m = obj.get("metadata") or {}
        kind = self._kind_of(obj.get("apiVersion") or "", obj.get("kind") or "")
        path = resource_path(kind, m.get("namespace") or "", m.get("name") or "")
        if success or failure:
            self.plog(C.MAIN_CONTAINER, f"Waiting for conditions: success {res.get('successCondition') or '-'}, "
                                        f"failure {res.get('failureCondition') or '-'}")
        last = ""
        while True:
            code, cur = api.call("GET", path)
            if code == 404:
                raise StepError("The resource has been deleted while its status was still being checked. "
                                f"Will not be retried: {api_message(code, cur)}")
            if code >= 300:
                raise StepError(api_message(code, cur))
            state, msg = conditions.evaluate(cur, success, failure)
            if state == "failed":
                raise StepError(msg)
            if state == "succeeded":
                if success:
                    self.plog(C.MAIN_CONTAINER, f"{len(success)}/{len(success)} success conditions matched")
                return cur
            if msg != last:
                self.plog(C.MAIN_CONTAINER, msg)
                last = msg
            self._sleep(POLL)

    def _resource_params(self, obj: dict) -> list[dict]:
        out = []
        for p in (self.tmpl.get("outputs") or {}).get("parameters") or []:
            vf = p.get("valueFrom") or {}
            expr = vf.get("jsonPath") or vf.get("jqFilter")
            if not expr:
                continue
            path = _jsonpath(expr)
            if vf.get("jqFilter") and not re.fullmatch(r"\.?[\w.\-\[\]]*", expr.strip()):
                raise StepError(f"jqFilter {expr!r}: only simple paths (.a.b[0].c) are supported by the sandbox")
            value = obj if path == "" else conditions.lookup(obj, path)
            if value is conditions.MISSING:
                if "default" not in vf:
                    raise StepError(f"error: {expr} is not found in {obj.get('kind')}/"
                                    f"{(obj.get('metadata') or {}).get('name')}")
                value = str(vf["default"])
            out.append({"name": p["name"], "value": _render(value)})
        return out

    # -- wait: outputs --
    def report(self, code: int, result: str | None, params: list[dict]) -> None:
        outputs: dict = {}
        if params:
            outputs["parameters"] = params
        if result is not None:
            outputs["result"] = result
        outputs["exitCode"] = str(code)
        node_id = self.env_spec.get(C.ENV_NODE_ID) or (self.pod["metadata"].get("annotations") or {}).get(
            C.ANN_NODE_ID) or self.pod_name
        wf_name = (self.pod["metadata"].get("labels") or {}).get(C.LABEL_WORKFLOW, "")
        labels = {C.LABEL_WORKFLOW: wf_name, C.LABEL_REPORT_OUTPUTS_COMPLETED: "true"}
        body = {"apiVersion": C.API_VERSION, "kind": "WorkflowTaskResult",
                "metadata": {"name": node_id, "namespace": self.ns, "labels": labels,
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": self.pod_name,
                                                  "uid": self.uid}]},
                "outputs": outputs}
        coll = f"/apis/{C.API_VERSION}/namespaces/{self.ns}/{C.TASK_RESULTS[1]}"
        try:
            api = ApiAs(self.sb, self.ns, self.sa, (self.pod_name, self.uid))
            rc, out = api.call("POST", coll, body)
            if rc == 409:
                rc, out = api.call("PATCH", f"{coll}/{node_id}", {"metadata": {"labels": labels}, "outputs": outputs},
                                   "application/merge-patch+json")
            if rc >= 300:
                raise StepError(api_message(rc, out))
        except StepError as e:
            msg = f"failed to report the outputs of node {node_id}: {e.message}"
            self.plog(C.WAIT_CONTAINER, f"sandbox argoexec wait: {msg}")
            with self.lock:
                self.wait.terminate(1, msg)
            return
        lines = [f"sandbox argoexec wait: main exited with code {code}; reported WorkflowTaskResult "
                 f"{self.ns}/{node_id} as {api.user}"]
        lines += [f"  parameter {p['name']} = {p['value']!r}" for p in params]
        if result is not None:
            lines.append(f"  result = {result!r}")
        self.plog(C.WAIT_CONTAINER, "\n".join(lines))
        with self.lock:
            self.wait.terminate(0)

    # -- reporting --
    def run_status(self) -> RunStatus:
        with self.lock:
            cons = [self.main.report(), self.wait.report()]
            if not self.done:
                phase = "Running" if self.main.state != "waiting" else "Pending"
                ready = self.main.state == self.wait.state == "running"
                return RunStatus(phase, ready, containers=cons,
                                 reason="" if phase == "Running" else self.main.reason)
            if self.pod_reason:
                return RunStatus("Failed", False, self.pod_message, self.pod_reason, cons)
            failed = next((c for c in (self.main, self.wait) if c.exit_code not in (0, None)), None)
            if failed is None:
                return RunStatus("Succeeded", False, containers=cons)
            return RunStatus("Failed", False, failed.message or f"exit code {failed.exit_code}", "Error", cons)

    def terminated_states(self) -> dict[str, dict]:
        with self.lock:
            out = {}
            for c in (self.main, self.wait):
                if c.state == "terminated":
                    t = {"exitCode": c.exit_code, "reason": c.reason, "startedAt": c.started_at,
                         "finishedAt": c.finished_at}
                    if c.message:
                        t["message"] = c.message[-4096:]
                    out[c.name] = t
            return out

    def _kill(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)

    def stop(self) -> None:
        self.stopping.set()
        self._kill()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)


# ---------------------------------------------------------------------------------------------------------------------
def apply_patch(last: object, new: object) -> object:
    """What `kubectl apply` sends for an object that exists: the new manifest, plus null for every map key the last
    applied configuration had and the new one has not (so fields removed from the manifest are removed). Lists are
    replaced whole."""
    if not isinstance(last, dict) or not isinstance(new, dict):
        return new
    out = {k: apply_patch(last.get(k), v) for k, v in new.items()}
    out.update({k: None for k in last if k not in new})
    return out


class ArgoPodRunner(ProcessRunner):
    """Registered in `sandbox.pod_runners` (priority 5): runs the step pods of Argo Workflows."""

    join_timeout = 10.0

    def __init__(self, sandbox):
        super().__init__(sandbox)
        self.log_lock = threading.Lock()
        self.client = client_for(sandbox, "system:node:sandbox-node", "kubelet")
        self._finished: dict[str, StepWorker] = {}   # ended pods whose files stay while the pod exists

    def matches(self, pod: dict) -> bool:
        labels = pod["metadata"].get("labels") or {}
        if C.LABEL_WORKFLOW not in labels:
            return False
        main = next((c for c in (pod.get("spec") or {}).get("containers") or []
                     if c.get("name") == C.MAIN_CONTAINER), None)
        return main is not None and any(e.get("name") == C.ENV_TEMPLATE for e in main.get("env") or [])

    def start(self, pod: dict, ctx) -> None:
        self._sweep()
        w = StepWorker(self, pod, ctx)
        with self.lock:
            old = self.workers.pop(w.uid, None)
            self.workers[w.uid] = w
        if old is not None:
            old.stop()
        w.start()

    def status(self, pod: dict) -> RunStatus | None:
        w = self.workers.get(pod["metadata"].get("uid", ""))
        if w is None:
            return None if self.closing else RunStatus("Failed", False, "the sandbox lost this step pod", "Error")
        st = w.run_status()
        if st.phase in ("Succeeded", "Failed") and not w.messages_written:
            w.messages_written = self._write_terminated(pod, w)
        return st

    def _write_terminated(self, pod: dict, w: StepWorker) -> bool:
        """Container termination states with messages (what the kubelet reads from terminationMessagePath): the
        kubelet keeps a terminated state that is already there."""
        states = w.terminated_states()

        def change(o):
            if o["metadata"].get("uid") != w.uid:
                return False
            for cs in (o.get("status") or {}).get("containerStatuses") or []:
                t = states.get(cs.get("name"))
                if t:
                    cid = cs.get("containerID")
                    cs["state"] = {"terminated": dict(t, **({"containerID": cid} if cid else {}))}
                    cs["ready"], cs["started"] = False, False
            return None
        try:
            self.client.mutate(PODS, w.ns, w.pod_name, change, "status")
        except Exception as e:   # a conflict: the kubelet writes its own terminated states
            log.debug("termination messages of %s/%s: %s", w.ns, w.pod_name, e)
        return True

    def event(self, pod: dict, etype: str, reason: str, message: str) -> None:
        from ..controllers.base import Recorder
        rec = getattr(self, "_recorder", None)
        if rec is None:
            rec = self._recorder = Recorder(self.client, "kubelet")
        rec.event(pod, etype, reason, message)

    def _gone(self, w: StepWorker) -> bool:
        cur = self.sb.store.get(PODS, w.ns, w.pod_name)
        return cur is None or cur["metadata"].get("uid") != w.uid or bool(cur["metadata"].get("deletionTimestamp"))

    def _sweep(self) -> None:
        """Remove the files (rootfs, volumes) of ended pods that were deleted since."""
        with self.lock:
            gone = [w for w in self._finished.values() if self._gone(w)]
            for w in gone:
                del self._finished[w.uid]
            in_use = {w.base for w in self.workers.values()}   # a new pod of the same name
        for w in gone:
            if w.base not in in_use:
                shutil.rmtree(w.base, ignore_errors=True)

    def stop(self, pod: dict) -> None:
        """The pod ended or is gone: its process ends in the background; a deleted pod's files go too (those of an
        ended pod when it is deleted later)."""
        self.stop_worker(pod["metadata"].get("uid", ""), then=self._clean)

    def _clean(self, w) -> None:
        if self._gone(w):
            shutil.rmtree(w.base, ignore_errors=True)
        else:
            with self.lock:
                self._finished[w.uid] = w

    def pids(self) -> list[int]:
        with self.lock:
            return [w.proc.pid for w in self.workers.values() if w.proc is not None and w.proc.poll() is None]
