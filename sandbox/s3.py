"""Local S3 (component "sandbox.s3:component"): a moto server on 127.0.0.1 in a child process of the sandbox.

Adds AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION (and SANDBOX_S3_URL) to the
sandbox env. Data lives in the child's memory for the life of the sandbox.

Importing moto takes ~1.5-3 s, so the listening socket is opened here first (its port goes to the env at once)
and handed to the child (`python -m sandbox.s3 --fd N`), which imports moto and serves it; early connections wait
in the listen backlog. A child process, unlike a thread, costs the API server no GIL time while moto imports and
can be stopped at any moment, even in the middle of that import: `stop()` terminates it (kill after 1 s) and
reaps it. The child also exits when its stdin (a pipe from the sandbox) closes, so a SIGKILLed sandbox leaves no
moto behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading

log = logging.getLogger("sandbox.s3")
ACCESS_KEY = "sandbox"
SECRET_KEY = "sandbox-secret-key"  # noqa: S105 - a fixed dummy credential for the local moto server
REGION = "us-east-1"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class S3:
    def __init__(self, sandbox):
        self.sb = sandbox
        self.url = ""
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", int(os.environ.get("SANDBOX_S3_PORT", "0"))))
            sock.listen(128)
            port = sock.getsockname()[1]
            env = dict(os.environ, MOTO_ALLOW_NONEXISTENT_REGION=os.environ.get("MOTO_ALLOW_NONEXISTENT_REGION",
                                                                                  "true"),
                       PYTHONPATH=os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])))
            logdir = os.path.join(getattr(self.sb, "dir", "") or ".", "logs")
            out = open(os.path.join(logdir, "s3.log"), "ab") if os.path.isdir(logdir) else subprocess.DEVNULL  # noqa: SIM115
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "sandbox.s3", "--fd", str(sock.fileno())], pass_fds=(sock.fileno(),),
                    stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=_ROOT)
            finally:
                if out is not subprocess.DEVNULL:
                    out.close()
        finally:
            sock.close()  # the child has its own copy of the listening socket
        self.url = f"http://127.0.0.1:{port}"
        self.sb.env.update({"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                            "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
                            "SANDBOX_S3_URL": self.url})
        log.info("S3 (moto) at %s, pid %d", self.url, self.proc.pid)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)


def component(sandbox) -> S3:
    s3 = S3(sandbox)
    sandbox.s3 = s3
    return s3


def _minio_health(app):
    """MinIO's health endpoints (``/minio/health/live``, ``/ready``, ``/cluster``) in front of moto, which would
    read them as bucket ``minio``: 200 with an empty body, as MinIO answers them."""
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") in ("/minio/health/live", "/minio/health/ready",
                                                        "/minio/health/cluster") and \
                environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Length", "0"), ("Server", "MinIO")])
            return [b""]
        return app(environ, start_response)
    return wrapped


def _serve(fd: int, minio: bool = False) -> None:
    """The child: serve moto on the inherited listening socket `fd` until SIGTERM or stdin EOF (with `minio`,
    MinIO's health endpoints too: the sandbox's quay.io/minio/minio pods, sandbox/objectstore.py)."""
    import signal

    def _watch_stdin() -> None:
        with contextlib.suppress(OSError):
            while sys.stdin.buffer.read(4096):
                pass
        os._exit(0)

    threading.Thread(target=_watch_stdin, name="stdin-eof", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # in-memory data only: nothing to flush
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = DomainDispatcherApplication(create_backend_app)
    if minio:
        app = _minio_health(app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler, fd=fd)
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(prog="python -m sandbox.s3")
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--minio", action="store_true", help="also answer MinIO's /minio/health/* endpoints")
    a = p.parse_args()
    _serve(a.fd, a.minio)
