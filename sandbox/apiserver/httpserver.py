"""HTTP(S)/1.1 front end: ThreadingHTTPServer, TLS handshake in the worker thread, chunked watch streams."""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..machinery.http import Response
from .app import MAX_BODY, App
from .errors import status

log = logging.getLogger("sandbox.http")
IDLE_TIMEOUT = 300.0  # a keep-alive connection with no request for this long is closed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-apiserver"
    sys_version = ""
    app: App  # set on the subclass made by make_server

    def parse_request(self):
        ok = super().parse_request()
        if ok and self.request_version == "HTTP/0.9":  # like Go's net/http: no HTTP/0.9
            self.send_error(400, "Bad Request: unsupported protocol version")
            return False
        return ok

    def send_error(self, code, message=None, explain=None):
        """Protocol-level errors (bad request line, headers) also answer with a Status body."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # always answer with a status line and headers
            self.request_version = "HTTP/1.0"
        body = json.dumps(status(code, message or self.responses.get(code, ("error",))[0])).encode()
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, fmt, *args):  # route to logging instead of stderr
        log.debug("%s - " + fmt, self.address_string(), *args)

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(30)
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                raise ConnectionAbortedError from None
            self.connection.settimeout(IDLE_TIMEOUT)
            self.client_cert = cert_identity(self.connection.getpeercert())

    client_cert: tuple[str, tuple[str, ...]] | None = None   # (CN, O...) of a verified client certificate

    def handle(self):
        with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
            super().handle()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self):
        try:
            body = self._read_body()
        except ValueError:
            self._send(Response(400, status(400, "malformed request body", "BadRequest")))
            self.close_connection = True
            return
        if body is None:
            self._send(Response(413, status(413, "Request entity too large: limit is 3145728",
                                            "RequestEntityTooLarge")))
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        groups = self.headers.get_all("Impersonate-Group")
        if groups:   # a repeated header: every value counts
            headers["impersonate-group"] = ",".join(groups)
        resp = self.app.handle(self.command, self.path, headers, body, client_cert=self.client_cert)
        self._send(resp)

    def _send(self, resp: Response):
        if resp.stream is not None:
            self._send_stream(resp)
            return
        payload = resp.payload()
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_stream(self, resp: Response):
        try:
            self.send_response(resp.code)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.flush()
            for chunk in resp.stream:
                if not chunk:
                    if self._client_gone():
                        break
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            close = getattr(resp.stream, "close", None)
            if close:
                close()

    def _client_gone(self) -> bool:
        """During a watch the client sends nothing: a readable socket means it closed (or reset) the connection."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, ssl_context: ssl.SSLContext | None):
        self.ssl_context = ssl_context
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        log.debug("connection error from %s", client_address, exc_info=True)


def cert_identity(peer: dict | None) -> tuple[str, tuple[str, ...]] | None:
    """(CN, (O, ...)) of the client certificate the handshake verified against the client CA; None without one."""
    if not peer:
        return None
    rdns = [attr for rdn in peer.get("subject") or () for attr in rdn]
    return (next((v for k, v in rdns if k == "commonName"), ""),
            tuple(v for k, v in rdns if k == "organizationName"))


def make_server(app: App, host: str, port: int, cert_file: str | None = None, key_file: str | None = None,
                client_ca_file: str | None = None) -> Server:
    """With `client_ca_file` the TLS server asks for (does not require) a client certificate that CA signed, as
    kube-apiserver's --client-ca-file; unlike Go's server, OpenSSL ends the handshake on a certificate it cannot
    verify instead of leaving the request to the other authenticators."""
    ctx = None
    if cert_file:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        if client_ca_file:
            ctx.load_verify_locations(client_ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
    handler = type("BoundHandler", (Handler,), {"app": app})
    return Server((host, port), handler, ctx)
