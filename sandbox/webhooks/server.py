"""A plain HTTPS webhook server on 127.0.0.1 (any free port): POSTed JSON reviews (AdmissionReview,
ConversionReview) go to the handler of the request's path; the handler returns the review to send back.

Nothing here knows an API server: the same server is dialled by the emulator (through the endpoints registry) and by
a real kube-apiserver (through an EndpointSlice that points at 127.0.0.1 and this port)."""

from __future__ import annotations

import json
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .tls import ServingCert

log = logging.getLogger("sandbox.webhooks")
MAX_BODY = 3 * 1024 * 1024
Handler = Callable[[dict], dict]


class WebhookServer:
    def __init__(self, cert: ServingCert, handlers: dict[str, Handler], *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "webhook"):
        self.handlers = dict(handlers)
        self.name = name
        self.hold = threading.Event()     # tests: set to make the server accept requests and never answer
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as d:
            crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
            with open(crt, "w", encoding="ascii") as f:
                f.write(cert.cert_pem)
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="ascii") as f:
                f.write(cert.key_pem)
            ctx.load_cert_chain(crt, key)
        server = self

        class Req(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # the status line and the body go out at once, not 40 ms apart

            def log_message(self, fmt, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
                log.debug("%s: " + fmt, server.name, *args)

            def do_POST(self):  # noqa: N802 - BaseHTTPRequestHandler's naming
                handler = server.handlers.get(urlsplit(self.path).path)
                length = int(self.headers.get("Content-Length") or 0)
                if handler is None or length > MAX_BODY:
                    self._send(404 if handler is None else 413, {"error": "not found" if handler is None else
                                                                 "request too large"})
                    return
                try:
                    review = json.loads(self.rfile.read(length))
                except ValueError as e:
                    self._send(400, {"error": f"could not decode the review: {e}"})
                    return
                while server.hold.is_set() and not server.stopping.is_set():
                    server.stopping.wait(0.1)
                try:
                    answer = handler(review)
                except Exception as e:   # a handler bug answers 500, as a crashed webhook's HTTP server would
                    log.exception("%s: handler for %s", server.name, self.path)
                    self._send(500, {"error": str(e)})
                    return
                self._send(200, answer)

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body, separators=(",", ":")).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), Req)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"webhook-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
