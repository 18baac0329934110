"""The kubelet's HTTPS API, as kube-apiserver dials it at the node's address and `daemonEndpoints` port:
`GET /containerLogs/<namespace>/<pod>/<container>` (what `kubectl logs` and `pods/log` become, with follow,
tailLines, limitBytes, sinceSeconds/sinceTime, timestamps) and `/healthz`. Clients must present a certificate
signed by the cluster CA (kube-apiserver's --kubelet-client-certificate)."""

from __future__ import annotations

import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from ..machinery.errors import ApiError
from ..machinery.http import Response
from .logs import PodLogs

log = logging.getLogger("sandbox.controllers.kubelet_api")


class KubeletServer:
    def __init__(self, sandbox, cert_file: str, key_file: str, client_ca: str, host: str = "127.0.0.1"):
        self.logs = PodLogs(sandbox)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):   # the access log would only repeat the API server's audit log
                log.debug(fmt, *args)

            def do_GET(self):  # noqa: N802 - http.server's naming
                server.handle(self)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kubelet-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        try:
            if parts == ["healthz"]:
                return self._send(h, 200, b"ok")
            if len(parts) != 4 or parts[0] != "containerLogs":
                return self._send(h, 404, b"404 page not found\n")
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            query["container"] = parts[3]
            out = self.logs(parts[1], parts[2], query)
        except ApiError as e:
            return self._send(h, e.code, (e.body.get("message") or "").encode())
        if isinstance(out, Response):
            return self._stream(h, out.stream or ())
        return self._send(h, 200, out if isinstance(out, bytes) else str(out).encode())

    @staticmethod
    def _send(h, code: int, body: bytes) -> None:
        h.send_response(code)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _stream(h, chunks) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for chunk in chunks:
                if chunk:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass   # the client went away (kubectl logs -f interrupted)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        h.close_connection = True
