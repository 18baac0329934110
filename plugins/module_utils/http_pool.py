# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP/1.1 to one API server on the standard library (``http.client`` and ``ssl``): kept-alive connections shared
by threads, TLS from one ``ssl.SSLContext`` (with a server name of its own if asked), an ``http://`` proxy (HTTPS
through a CONNECT tunnel), a connect and a read timeout on every request, and a ``Retry`` budget (retries.py's
K8S_API numbers). Not urllib3: importing it cost every task about 0.1 s of start-up (issue 16), for the few parts
of it a module needs.

Failures raise ``errors.TransportError`` (the URL and the last cause) once the budget is spent; an HTTP status is
never an exception here (transport.py decides what a status means).
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from ansible_collections.mlops.k8s.plugins.module_utils.errors import TransportError

_BODY_METHODS = ("POST", "PUT", "PATCH")
_RETRY_AFTER_STATUSES = (413, 429, 503)
_FAILURES = (OSError, http.client.HTTPException)


class Timeout:
    """Seconds to connect, and to wait for each read of the answer."""

    __slots__ = ("connect_timeout", "read_timeout")

    def __init__(self, connect, read):
        self.connect_timeout = connect
        self.read_timeout = read


class Retry:
    """How often one request may be tried again: ``connect`` failures (nothing was sent: any method), ``read``
    failures (sent, the answer lost: idempotent ``methods`` only), answers with a status in ``statuses``
    (idempotent methods only; the last such answer is returned when the budget is spent), ``total`` for all.
    The pause before a retry: none after the first failure, then ``backoff`` x 2^(n-1) up to ``backoff_max``
    seconds, or the answer's ``Retry-After`` (413, 429 and 503) up to ``retry_after_max``."""

    def __init__(self, total=0, connect=0, read=0, status=0, statuses=(), methods=(), backoff=0.0, backoff_max=0.0,
                 retry_after_max=0.0, sleep=time.sleep):
        self.total, self.connect, self.read, self.status = total, connect, read, status
        self.statuses, self.methods = frozenset(statuses), frozenset(m.upper() for m in methods)
        self.backoff, self.backoff_max, self.retry_after_max = backoff, backoff_max, retry_after_max
        self.sleep = sleep

    def backoff_after(self, failures):
        """Seconds to wait after ``failures`` consecutive failures."""
        return 0.0 if failures <= 1 else min(self.backoff_max, self.backoff * 2 ** (failures - 1))

    def retry_after(self, response):
        """The answer's Retry-After in seconds (capped), or None."""
        if response.status not in _RETRY_AFTER_STATUSES:
            return None
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
        return max(0.0, min(seconds, self.retry_after_max))


NO_RETRY = Retry()


class _Budget:
    """One request's use of a Retry."""

    def __init__(self, policy, method):
        self.policy = policy
        self.left = {"total": policy.total, "connect": policy.connect, "read": policy.read, "status": policy.status}
        self.idempotent = method.upper() in policy.methods
        self.failures = 0

    def spend(self, kind):
        if kind not in self.left or (kind != "connect" and not self.idempotent):
            return False
        if self.left["total"] <= 0 or self.left[kind] <= 0:
            return False
        self.left["total"] -= 1
        self.left[kind] -= 1
        self.failures += 1
        return True


class _Failed(Exception):
    def __init__(self, kind, cause):
        super().__init__(kind)
        self.kind, self.cause = kind, cause


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose certificate is checked against ``server_name`` when one is set (the kubeconfig's
    tls-server-name), through a tunnel or not."""

    server_name = None

    def connect(self):
        http.client.HTTPConnection.connect(self)  # TCP, and the proxy's CONNECT when tunnelled
        name = self.server_name or self._tunnel_host or self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=name)


def basic_auth(pair):
    """The value of an Authorization (or Proxy-Authorization) header for a ``user:password`` pair."""
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _host_port(url, default_port):
    parts = urlsplit(url)
    return (parts.hostname or ""), (parts.port or default_port)


class Response:
    """An answer: ``status``, ``reason``, ``headers`` and ``data`` (read on first use), or ``stream()`` for a body
    that arrives over time. Its connection goes back to the pool once the body is read (``release_conn``)."""

    def __init__(self, raw, pool, conn):
        self._raw, self._pool, self._conn = raw, pool, conn
        self.status, self.reason, self.headers = raw.status, raw.reason, raw.headers
        self._data = None

    @property
    def data(self):
        if self._data is None:
            try:
                self._data = self._raw.read()
            finally:
                self.release_conn()
        return self._data

    def read(self, amt=None):
        return self._raw.read(amt)

    def stream(self, amt=65536, decode_content=True):  # noqa: ARG002 - no content coding is asked for
        """The body in pieces as they arrive (at most ``amt`` bytes each)."""
        while True:
            chunk = self._raw.read1(amt)
            if not chunk:
                return
            yield chunk

    def release_conn(self):
        """Give the connection back when the answer was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._raw.isclosed() and not self._raw.will_close:
            self._pool.put(conn)
        else:
            self._raw.close()
            conn.close()


class Pool:
    """Connections to the server of ``base`` (scheme://host:port), at most ``maxsize`` kept idle; more are opened
    when more threads ask at once."""

    def __init__(self, base, *, context=None, server_name=None, proxy=None, proxy_headers=None, maxsize=4):
        self.https = base.startswith("https:")
        self.host, self.port = _host_port(base, 443 if self.https else 80)
        self.context, self.server_name, self.maxsize = context, server_name, maxsize
        self.proxy_headers = dict(proxy_headers or {})
        self.proxy = _host_port(proxy, 80) if proxy else None
        self._idle = []
        self._lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------------------------
    def _new(self):
        if self.https:
            host, port = self.proxy or (self.host, self.port)
            conn = _HTTPSConnection(host, port, context=self.context)
            conn.server_name = self.server_name
            if self.proxy:
                conn.set_tunnel(self.host, self.port, headers=self.proxy_headers)
            return conn
        if self.proxy:
            return http.client.HTTPConnection(*self.proxy)
        return http.client.HTTPConnection(self.host, self.port)

    def _take(self):
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn):
                    return conn
                conn.close()
        return self._new()

    def put(self, conn):
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def clear(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- requests ----------------------------------------------------------------------------------------------
    def request(self, method, url, body=None, headers=None, timeout=None, retries=None, preload_content=True,
                redirect=False):  # noqa: ARG002 - redirects are never followed
        """One request, tried again as ``retries`` allows. ``headers``: a dict or (name, value) pairs (a name may
        repeat)."""
        budget = _Budget(retries or NO_RETRY, method)
        pairs = list(headers.items() if isinstance(headers, dict) else headers or ())
        if self.proxy and not self.https:  # the proxy reads the request itself: its headers go along (ours win)
            mine = {name.lower() for name, _v in pairs}
            pairs += [(name, value) for name, value in self.proxy_headers.items() if name.lower() not in mine]
        while True:
            try:
                response = self._once(method, url, body, pairs, timeout, preload_content)
            except _Failed as failed:
                if not budget.spend(failed.kind):
                    raise TransportError(url, failed.cause) from None
                budget.policy.sleep(budget.policy.backoff_after(budget.failures))
                continue
            if response.status in budget.policy.statuses and budget.spend("status"):
                pause = budget.policy.retry_after(response)
                response.data  # noqa: B018 - read to the end: the connection can be used again
                budget.policy.sleep(budget.policy.backoff_after(budget.failures) if pause is None else pause)
                continue
            return response

    def _once(self, method, url, body, headers, timeout, preload):
        parts = urlsplit(url)
        target = url if (self.proxy and not self.https) else (parts.path or "/") + (
            "?" + parts.query if parts.query else "")
        conn = self._take()
        if conn.sock is None:
            conn.timeout = timeout.connect_timeout if timeout else None
            try:
                conn.connect()
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                raise _Failed("certificate", exc) from None  # not who it should be: no retry makes it so
            except _FAILURES as exc:
                conn.close()
                raise _Failed("connect", exc) from None
        try:
            conn.sock.settimeout(timeout.read_timeout if timeout else None)
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None or method.upper() in _BODY_METHODS:
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body)
            response = Response(conn.getresponse(), self, conn)
            if preload:
                response.data  # noqa: B018 - read now, inside the retries
        except _FAILURES as exc:
            conn.close()
            raise _Failed("read", exc) from None
        return response


def _dropped(conn):
    """True when an idle connection was closed by the server (or has unexpected bytes waiting)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _w, _x = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def tls_context(*, verify=True, ca_file=None, ca_data=None, cert_file=None, key_file=None):
    """The client side of TLS: the server's certificate checked against ``ca_file``/``ca_data`` (else the
    system's CAs) unless ``verify`` is false, and a client certificate when one is given."""
    if verify:
        if isinstance(ca_data, bytes):
            ca_data = ca_data.decode("ascii")
        context = ssl.create_default_context(cafile=ca_file or None, cadata=ca_data or None)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context
