"""The MinIO image as the sandbox runs it (component "sandbox.objectstore:component"): a pod runner for containers
of ``quay.io/minio/minio`` (or ``minio/minio``, any registry and tag) started with ``server``, as the
mlops.k8s.minio role's Deployment runs it.

Each such container becomes a real local S3 server process: moto (``python -m sandbox.s3 --fd N --minio``, the
same child as the sandbox's own S3) on a free 127.0.0.1 port, registered in the endpoints registry under the
container's S3 port (the port of ``--address``, else the containerPort named ``api``/``s3``/``http``, else
9000), so the Service, the gateway, the API server's service proxy and the NodePorts reach it. It also answers
MinIO's ``/minio/health/live`` and ``/minio/health/ready``; the container is Ready once that answers.

What differs from MinIO (documented, not hidden):

* moto does not enforce credentials: any access key and signature are accepted (``MINIO_ROOT_USER`` /
  ``MINIO_ROOT_PASSWORD`` of the pod are not read, and never logged);
* data lives in the process's memory: a pod restart starts empty (the PVC's directory is not used);
* the console port (``--console-address``) is not served.

The child exits when its stdin (a pipe from the sandbox) closes, so a killed sandbox leaves no server behind.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time

from .controllers.runtime import ContainerStatus, RunStatus, pod_runners

log = logging.getLogger("sandbox.objectstore")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_IMAGE = re.compile(r"^(?:[^/]+/)?minio/minio(?::[^/@]+)?(?:@.+)?$")
STOP_GRACE = 2.0


def is_minio_container(container: dict) -> bool:
    image = str(container.get("image") or "").strip()
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    return bool(_IMAGE.match(image)) and "server" in argv


def s3_port(container: dict) -> int:
    """The container port MinIO's S3 API listens on: ``--address [host]:PORT``, else a port named api/s3/http,
    else 9000 (MinIO's default)."""
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    for i, a in enumerate(argv):
        value = argv[i + 1] if a == "--address" and i + 1 < len(argv) else \
            a.split("=", 1)[1] if a.startswith("--address=") else None
        if value and value.rpartition(":")[2].isdigit():
            return int(value.rpartition(":")[2])
    for p in container.get("ports") or []:
        if p.get("name") in ("api", "s3", "http") and p.get("containerPort"):
            return int(p["containerPort"])
    return 9000


class _Server:
    def __init__(self, name: str, proc: subprocess.Popen, port: int):
        self.name, self.proc, self.port = name, proc, port
        self.ready = False
        self.started = time.monotonic()


class MinioRunner:
    """Pod runner: one moto process per MinIO container (see the module docstring)."""

    def __init__(self, sandbox):
        self.sb = sandbox
        self.lock = threading.Lock()
        self.pods: dict[str, list[_Server]] = {}
        self.ending: dict[str, list[_Server]] = {}

    def matches(self, pod: dict) -> bool:
        containers = (pod.get("spec") or {}).get("containers") or []
        return bool(containers) and all(is_minio_container(c) for c in containers)

    def start(self, pod: dict, ctx) -> None:
        servers = []
        for c in pod["spec"]["containers"]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", 0))
                sock.listen(128)
                port = sock.getsockname()[1]
                env = dict(os.environ, MOTO_ALLOW_NONEXISTENT_REGION="true",
                           PYTHONPATH=os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])))
                with open(ctx.log_path(c["name"]), "ab") as out:
                    out.write(b"sandbox: MinIO as a local S3 server (moto); credentials are not enforced\n")
                    out.flush()
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "sandbox.s3", "--fd", str(sock.fileno()), "--minio"],
                        pass_fds=(sock.fileno(),), stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                        env=env, cwd=_ROOT, start_new_session=True)
            finally:
                sock.close()
            ctx.register(s3_port(c), "127.0.0.1", port)
            servers.append(_Server(c["name"], proc, port))
            log.info("MinIO pod %s/%s: S3 on 127.0.0.1:%d (pid %d)", ctx.namespace, ctx.pod, port, proc.pid)
        with self.lock:
            self.pods[pod["metadata"]["uid"]] = servers

    @staticmethod
    def _probe(server: _Server) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.5)
        try:
            conn.request("GET", "/minio/health/ready")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def status(self, pod: dict) -> RunStatus | None:
        with self.lock:
            servers = self.pods.get(pod["metadata"]["uid"])
        if servers is None:
            return None
        containers = []
        for s in servers:
            code = s.proc.poll()
            if code is not None:
                containers.append(ContainerStatus(s.name, "terminated", False, exit_code=code, reason="Error",
                                                  message=f"the local S3 server exited with code {code}"))
                continue
            if not s.ready:
                s.ready = self._probe(s)
            containers.append(ContainerStatus(s.name, "running", s.ready))
        if any(c.state == "terminated" for c in containers):
            return RunStatus("Failed", False, "a MinIO container exited", "Error", containers)
        return RunStatus("Running", all(c.ready for c in containers), containers=containers)

    def stop(self, pod: dict) -> None:
        uid = pod["metadata"].get("uid", "")
        with self.lock:
            servers = self.pods.pop(uid, None)
            if servers:
                self.ending[uid] = servers
        for s in servers or []:
            with contextlib.suppress(OSError):
                s.proc.stdin.close()
            if s.proc.poll() is None:
                s.proc.terminate()
        if servers:
            threading.Thread(target=self._reap, args=(uid, servers), daemon=True).start()

    def _reap(self, uid: str, servers: list[_Server]) -> None:
        for s in servers:
            try:
                s.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    s.proc.wait(5.0)
        with self.lock:
            self.ending.pop(uid, None)

    def stopped(self, pod: dict) -> bool:
        uid = pod["metadata"].get("uid", "")
        with self.lock:
            return uid not in self.pods and uid not in self.ending

    def stop_all(self) -> None:
        with self.lock:
            uids = list(self.pods)
        for uid in uids:
            self.stop({"metadata": {"uid": uid}})
        with self.lock:
            ending = [s for servers in self.ending.values() for s in servers]
        for s in ending:
            with contextlib.suppress(subprocess.TimeoutExpired):
                s.proc.wait(STOP_GRACE + 1)


class ObjectStoreComponent:
    def __init__(self, sandbox):
        self.sb = sandbox
        self.runner = MinioRunner(sandbox)
        pod_runners(sandbox).register(self.runner, priority=10)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.runner.stop_all()
        pr = getattr(self.sb, "pod_runners", None)
        if pr is not None:
            pr.unregister(self.runner)


def component(sandbox) -> ObjectStoreComponent:
    return ObjectStoreComponent(sandbox)
