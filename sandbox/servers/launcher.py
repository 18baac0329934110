"""Start and supervise one real model-server process per predictor.

    from sandbox.servers import launch
    proc = launch("SKLEARN_SERVER", "seldon", model_dir, workdir, env={}, parameters=[])
    proc.wait_ready(timeout=60)          # or poll proc.ready()
    requests.post(proc.predict_url, json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}})
    proc.stop()

A server runs in its own process group (``start_new_session``) from its own venv, with stdout and
stderr in ``<workdir>/server.log``; ``stop()`` ends the whole group (gunicorn workers, the gRPC and
metrics processes of seldon-core) with SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

from sandbox.servers import build, images
from sandbox.servers.images import LaunchPlan, Ports, ServerNotAvailable

LOG_NAME = "server.log"

# Variables of the parent (main venv, test runner) that must not leak into a server venv.
_SCRUB_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONNOUSERSITE",
              "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")


class ServerFailed(RuntimeError):
    """The model server exited or reported a load error; the message carries the log's error text."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# Ports handed out recently by this process: a server may take a few seconds to bind its ports,
# so two launches in a row must not be given the same free port.
_RECENT_PORTS: dict[int, float] = {}
_RECENT_LOCK = threading.Lock()
_RECENT_SECONDS = 120.0


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports, none handed out by this process in the last two minutes."""
    socks = []
    try:
        with _RECENT_LOCK:
            now = time.monotonic()
            for port, at in list(_RECENT_PORTS.items()):
                if now - at > _RECENT_SECONDS:
                    del _RECENT_PORTS[port]
            ports: list[int] = []
            while len(ports) < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("", 0))  # all interfaces, like seldon-core's own bind
                socks.append(s)  # held open until all are chosen, so they differ
                port = s.getsockname()[1]
                if port not in _RECENT_PORTS:
                    ports.append(port)
            for port in ports:
                _RECENT_PORTS[port] = now
            return ports
    finally:
        for s in socks:
            s.close()


_TRACEBACK_START = "Traceback (most recent call last):"
_CHAIN_LINES = ("The above exception was the direct cause", "During handling of the above exception")
# lines of other loggers that interleave with a traceback (several processes share the log)
_LOG_LINE = re.compile(r"^(\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d|INFO:|WARNING:|ERROR:|DEBUG:|Process \S+:$)")
# exceptions of a shutdown, not of the model
_NOISE = re.compile(r"^(BrokenPipeError|SystemExit|KeyboardInterrupt|AssertionError: can only join a child process|"
                    r"asyncio.exceptions.CancelledError|ConnectionResetError)")
_LOAD_HINT = re.compile(r"\bin load\b|load_model|\bload\(|Couldn't load|Worker failed to boot|in __init__")
_ERROR_LINE = re.compile(r"^.*\b(ERROR|CRITICAL)\b.*$|^.*Worker failed to boot.*$|^.*Couldn't load model.*$", re.M)
_CONTEXT_LINE = re.compile(r"^.*(Couldn't load model|Worker failed to boot).*$", re.M)
# definite signs, while the process still runs, that the model failed to load (it exits soon after)
_LOAD_FAILURE = re.compile(r"Worker failed to boot|Couldn't load model|Exception in worker process|"
                           r"Some of the models failed to load")


def _tracebacks(text: str) -> list[tuple[str, str]]:
    """(final exception line, traceback text) for each traceback in ``text`` (chained ones merged)."""
    lines = text.splitlines()
    groups: list[tuple[str, list[str]]] = []
    i, chained = 0, False
    while i < len(lines):
        if not lines[i].lstrip().startswith(_TRACEBACK_START):
            stripped = lines[i].strip()
            if stripped.startswith(_CHAIN_LINES):
                chained = True
            elif stripped:
                chained = False
            i += 1
            continue
        block = [lines[i].strip()]
        exc = ""
        i += 1
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.strip() or _LOG_LINE.match(line):
                continue
            block.append(line)
            if not line.startswith((" ", "\t")):
                exc = line.strip()
                break
        if chained and groups:
            groups[-1] = (exc, groups[-1][1] + ["", "(caused)", *block])
        else:
            groups.append((exc, block))
        chained = False
    return [(exc, "\n".join(block)) for exc, block in groups]


def extract_error(text: str, limit: int = 4000) -> str | None:
    """The most useful error text of a server log.

    The first traceback that failed loading the model (else the first that is not shutdown noise,
    else error lines), as ``<exception line>`` followed by the traceback.
    """
    if not text:
        return None
    groups = _tracebacks(text)
    real = [g for g in groups if g[0] and not _NOISE.match(g[0])]
    chosen = next((g for g in real if _LOAD_HINT.search(g[1])), None) or (real[0] if real else None)
    if chosen:
        exc, tb = chosen
        context = [m.group(0).strip() for m in _CONTEXT_LINE.finditer(text)][:2]
        return "\n".join([exc, *context, tb[-limit:]])
    errors = [m.group(0).strip() for m in _ERROR_LINE.finditer(text)]
    if errors:
        return "\n".join(errors[-10:])[-limit:]
    if groups:
        return f"{groups[0][0]}\n{groups[0][1][-limit:]}"
    return None


class ServerProcess:
    """A running (or finished) model server."""

    def __init__(self, *, server: str, protocol: str, model_name: str, plan: LaunchPlan, ports: Ports,
                 popen: subprocess.Popen, logs_path: Path, workdir: Path, host: str = "127.0.0.1",
                 log_offset: int = 0):
        self.server = server
        self.protocol = protocol
        self.model_name = model_name
        self.plan = plan
        self.kind = plan.kind
        self.command = plan.argv
        self.http_port = ports.http
        self.grpc_port = ports.grpc
        self.metrics_port = ports.metrics
        self.popen = popen
        self.pid = popen.pid
        self.logs_path = logs_path
        self.log_offset = log_offset  # where this run's output starts in logs_path (it is appended to)
        self.workdir = workdir
        self.host = host
        self.base_url = f"http://{host}:{self.http_port}"
        self.health_url = self.base_url + plan.health_path
        self.predict_url = self.base_url + plan.predict_path
        self.model_ready_url = self.base_url + plan.model_ready_path if plan.model_ready_path else None
        self.started_at = time.time()
        self._stopped = False
        self._load_error: str | None = None
        self._was_ready = False

    def __repr__(self) -> str:
        state = "running" if self.exit_code is None else f"exited {self.exit_code}"
        return f"<ServerProcess {self.server}/{self.protocol} pid={self.pid} port={self.http_port} {state}>"

    # -- state ---------------------------------------------------------------------------------
    @property
    def exit_code(self) -> int | None:
        """None while the server process runs, else its exit code (negative: killed by a signal)."""
        return self.popen.poll()

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def ready(self, timeout: float = 2.0) -> bool:
        """True when the server's own health endpoint answers 200 (V2: and the model's ready endpoint)."""
        if not self.alive:
            return False
        ok = all(_http_ok(url, timeout) for url in (self.health_url, self.model_ready_url) if url)
        self._was_ready = self._was_ready or ok
        return ok

    def logs(self, tail: int | None = None) -> str:
        """This run's output (stdout and stderr) of the server; ``tail``: only the last lines."""
        try:
            with open(self.logs_path, "rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        if tail is not None:
            text = "\n".join(text.splitlines()[-tail:])
        return text

    def error(self) -> str | None:
        """Why the server is not serving, from its log: None while nothing went wrong.

        Set when the process has exited by itself (with the traceback of the load failure, else the
        log's error lines) or, while it still runs and has never been ready, as soon as the log shows
        a load failure (gunicorn's "Worker failed to boot", MLServer's "Couldn't load model"; both
        servers then exit). Errors of single requests on a ready server are not reported here.
        """
        if self._load_error:
            return self._load_error
        code = self.exit_code
        text = self.logs()
        if code is None:
            if self._stopped or self._was_ready or not _LOAD_FAILURE.search(text) or self.ready():
                return None
            self._load_error = f"{self.server} model server failed to load the model: {extract_error(text)}"
            return self._load_error
        if self._stopped and code in (0, -signal.SIGTERM, -signal.SIGKILL):
            return None
        detail = extract_error(text) or "\n".join(text.splitlines()[-20:]) or "(empty log)"
        return f"{self.server} model server exited with code {code}: {detail}"

    def status(self) -> dict:
        """A JSON-able summary (for the controller's status and debugging)."""
        return {
            "server": self.server, "protocol": self.protocol, "model_name": self.model_name,
            "pid": self.pid, "http_port": self.http_port, "grpc_port": self.grpc_port,
            "metrics_port": self.metrics_port, "health_url": self.health_url,
            "predict_url": self.predict_url, "logs_path": str(self.logs_path),
            "exit_code": self.exit_code, "error": self.error(), "command": self.command,
        }

    def wait_ready(self, timeout: float = 120.0, interval: float = 0.25) -> None:
        """Block until ready; raise ServerFailed with the log's error, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            if self.ready():
                return
            if self.error():
                # let the dying server finish writing its traceback, then report it whole
                time.sleep(1.0)
                self._load_error = None
                raise ServerFailed(self.error() or "model server failed")
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.server} model server (pid {self.pid}) not ready at {self.health_url} after "
                    f"{timeout:.0f}s; last log lines:\n{self.logs(tail=15)}"
                )
            time.sleep(interval)

    # -- stop ----------------------------------------------------------------------------------
    def _signal_group(self, sig: int) -> bool:
        try:
            os.killpg(self.pid, sig)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return False

    def stop(self, grace: float = 10.0) -> int | None:
        """Terminate the whole process group, wait up to ``grace`` seconds, then kill. Returns the exit code."""
        # a server that had already exited on its own keeps reporting why
        self._stopped = self.popen.poll() is None
        self._signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.popen.wait(timeout=10)
        # children (gunicorn workers, seldon's gRPC/metrics processes) may outlive the leader
        deadline = time.monotonic() + grace
        while _group_alive(self.pid):
            if time.monotonic() >= deadline:
                self._signal_group(signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.1)
        return self.popen.returncode


def _http_ok(url: str, timeout: float) -> bool:
    """GET a local http:// URL; True on 200."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a process group whose members are all zombies still answers kill 0: look for live members
    return any(_proc_state(pid) not in ("Z", "X", None) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == pgid:
                    out.append(int(entry.name))
    return out


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def _child_env(extra: dict[str, str], plan_env: dict[str, str], venv: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB_ENV}
    env.update({k: str(v) for k, v in (extra or {}).items()})
    env.update(plan_env)
    venv_dir = build.venv_dir(venv)
    env["VIRTUAL_ENV"] = str(venv_dir)
    env["PATH"] = os.pathsep.join([str(venv_dir / "bin"), env.get("PATH", "/usr/bin:/bin")])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONHOME", None)
    return env


def launch(  # noqa: PLR0917 - the positional signature agreed with the Seldon controller
    server: str, protocol: str, model_dir: Path | str | None, workdir: Path | str,
    env: dict | None = None, parameters: list | None = None, *, model_name: str | None = None,
    images_dirs: list | None = None, build_missing: bool = True,
) -> ServerProcess:
    """Start a model server for one predictor and return at once (it loads in the background).

    server      a prepackaged implementation (``SKLEARN_SERVER``, ``XGBOOST_SERVER``, ``MLFLOW_SERVER``)
                or a container image reference for a custom model (see :mod:`sandbox.servers.images`).
    protocol    ``seldon`` (also ``v1``) or ``v2`` (``kfserving``): the SeldonDeployment's ``spec.protocol``.
    model_dir   local directory with the (already downloaded) model artifact; None for images without one.
    workdir     a directory for this server's generated settings and ``server.log`` (created).
    env         container env: the componentSpecs container's env plus what the operator injects
                (PREDICTIVE_UNIT_ID = graph node name, PREDICTOR_ID, SELDON_DEPLOYMENT_ID,
                PREDICTOR_LABELS = '{"version": ...}'); seldon-core reports them in ``meta``.
    parameters  the graph node's ``parameters`` (``[{"name", "value", "type"}]``).
    model_name  the V2 model name (the graph node's name; default ``PREDICTIVE_UNIT_ID`` or ``model``).

    Raises ServerNotAvailable (TENSORFLOW_SERVER, TRITON_SERVER, unknown image...) before starting
    anything; a model that fails to load is reported later by ``error()`` / ``wait_ready()``.
    """
    env = {k: str(v) for k, v in (env or {}).items()}
    proto = images.normalize_protocol(protocol)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    model_path = Path(model_dir).resolve() if model_dir is not None else None
    name = model_name or env.get("PREDICTIVE_UNIT_ID") or "model"
    if images.is_prepackaged(server):
        venv, builder = images.prepackaged(server, proto)
    else:
        venv, builder = images.custom_image(server, proto, images_dirs=images_dirs, env=env)
    if not build.is_built(venv):
        if not build_missing:
            raise ServerNotAvailable(f"server venv {venv!r} is not built: run python -m sandbox.servers.build")
        build.build(venv)
    http, grpc, metrics = free_ports(3)
    ports = Ports(http=http, grpc=grpc, metrics=metrics)
    plan = builder(model_dir=model_path, workdir=workdir, parameters=parameters or [], ports=ports,
                   model_name=name)
    env.setdefault("PREDICTIVE_UNIT_ID", name)
    if plan.image:
        env.setdefault("PREDICTIVE_UNIT_IMAGE", plan.image)
    child_env = _child_env(env, plan.env, venv)
    logs_path = workdir / LOG_NAME
    with open(logs_path, "ab") as log:
        offset = log.tell()
        log.write(f"# sandbox: {' '.join(plan.argv)}  (cwd {plan.cwd})\n".encode())
        log.flush()
        popen = subprocess.Popen(
            plan.argv, cwd=plan.cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return ServerProcess(server=server, protocol=proto, model_name=name, plan=plan, ports=ports,
                         popen=popen, logs_path=logs_path, workdir=workdir, log_offset=offset)


__all__ = ["ServerFailed", "ServerNotAvailable", "ServerProcess", "extract_error", "free_port", "launch"]
