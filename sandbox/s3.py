"""Local S3 (component "sandbox.s3:component"): a moto server on 127.0.0.1 in the sandbox process.

Adds AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION (and SANDBOX_S3_URL) to the
sandbox env. Data lives in memory for the life of the sandbox.

Importing moto takes ~2 s, so the listening socket is opened first (its port goes to the env at once) and moto
is imported and starts serving that socket in the background; early connections wait in the listen backlog.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger("sandbox.s3")
ACCESS_KEY = "sandbox"
SECRET_KEY = "sandbox-secret-key"  # noqa: S105 - a fixed dummy credential for the local moto server
REGION = "us-east-1"


class S3:
    def __init__(self, sandbox):
        self.sb = sandbox
        self.url = ""
        self._sock: socket.socket | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()

    def start(self) -> None:
        os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(os.environ.get("SANDBOX_S3_PORT", "0"))))
        sock.listen(128)
        self._sock = sock
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.sb.env.update({"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                            "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
                            "SANDBOX_S3_URL": self.url})
        self._thread = threading.Thread(target=self._serve, name="s3", daemon=True)
        self._thread.start()
        log.info("S3 (moto) at %s", self.url)

    def _serve(self) -> None:
        try:
            from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
            from werkzeug.serving import make_server
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler,
                                       fd=self._sock.fileno())
        except Exception:
            log.exception("S3 (moto) failed to start")
            return
        finally:
            self._ready.set()
        if not self._stopping.is_set():
            self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._stopping.set()
        self._ready.wait(30)
        if self._server is not None:
            try:
                self._server.shutdown()
                self._server.server_close()
            except Exception:
                log.exception("stopping moto")
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)


def component(sandbox) -> S3:
    s3 = S3(sandbox)
    sandbox.s3 = s3
    return s3
