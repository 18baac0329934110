# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTPS to the Kubernetes API on one connection pool (http_pool.py): TLS and credentials from
``kubeconfig.Settings``, a timeout on every request, the K8S_API retry policy (retries.py), a credential
refreshed once after a 401, and every error status raised as ``ApiStatusError`` (errors.py turns it into one
readable line)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from urllib.parse import unquote, urlencode, urlsplit

from ansible_collections.mlops.k8s.plugins.module_utils import http_pool
from ansible_collections.mlops.k8s.plugins.module_utils.errors import ApiStatusError, K8sError

USER_AGENT = "mlops.k8s"


def _bypass_proxy(host, no_proxy):
    """True when ``host`` (a URL) matches NO_PROXY-style ``no_proxy`` (names, .suffixes, *, host:port, CIDRs)."""
    if not no_proxy:
        return False
    netloc = urlsplit(host)
    name = (netloc.hostname or "").lower()
    for item in str(no_proxy).split(","):
        entry = item.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            if _in_network(name, entry):
                return True
            continue
        entry_host, _sep, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if port and str(netloc.port or "") != port:
            continue
        entry_host = entry_host.lstrip(".")
        if name == entry_host or name.endswith("." + entry_host):
            return True
    return False


def _in_network(name, cidr):
    import ipaddress

    try:
        return ipaddress.ip_address(name) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:  # a name, or not a network
        return False


def _proxy(settings):
    """(proxy URL without credentials, headers for the proxy): credentials in the URL become Proxy-Authorization
    unless proxy_headers gave one."""
    parts = urlsplit(settings.proxy)
    if parts.scheme != "http" or not parts.hostname:
        raise K8sError("proxy %s: give an http:// proxy URL (HTTPS to the API server goes through it in a CONNECT "
                       "tunnel)" % parts._replace(netloc=parts.hostname or "").geturl())
    headers = dict(settings.proxy_headers or {})
    if parts.username is not None and "Proxy-Authorization" not in headers:
        pair = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
        headers["Proxy-Authorization"] = http_pool.basic_auth(pair)
    netloc = parts.hostname + (":%d" % parts.port if parts.port else "")
    return "http://" + netloc, headers


class Transport:
    """Requests to one API server. ``pool`` (tests) replaces the connection pool the settings would build."""

    def __init__(self, settings, timeouts, retry=None, *, pool_maxsize=None, headers=None, repeated_headers=(),
                 pool=None):
        if not settings.host:
            raise K8sError("no Kubernetes API server: set host, or a kubeconfig whose cluster has a server")
        self.settings = settings
        self.base = settings.host.rstrip("/")
        self.timeouts = timeouts
        self.retry = retry
        self.headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        self.headers.update(headers or {})
        self.repeated_headers = list(repeated_headers)
        self._tmp = None
        self.pool = pool if pool is not None else self._pool(pool_maxsize)

    # -- the connection pool -----------------------------------------------------------------------------------
    def _pem_file(self, name, text):
        """Client certificate data as a private file (ssl loads a certificate chain from files only)."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="mlops-k8s-tls-")
            atexit.register(shutil.rmtree, self._tmp, True)
        path = os.path.join(self._tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return path

    def _pool(self, pool_maxsize):
        s = self.settings
        tls = {}
        if self.base.startswith("https:"):
            cert = key = None
            pair = s.exec_client_certificate()
            if pair:
                cert, key = self._pem_file("exec.crt", pair[0]), self._pem_file("exec.key", pair[1])
            else:
                cert = s.cert_file or (self._pem_file("client.crt", s.cert_data) if s.cert_data else None)
                key = s.key_file or (self._pem_file("client.key", s.key_data) if s.key_data else None)
            try:
                context = http_pool.tls_context(
                    verify=s.verify_ssl, ca_file=s.ssl_ca_cert if s.verify_ssl and not s.ca_data else None,
                    ca_data=s.ca_data if s.verify_ssl else None, cert_file=cert, key_file=key)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise K8sError("TLS settings: cannot load the CA or the client certificate: %s" % exc) from None
            tls = {"context": context, "server_name": s.tls_server_name if s.verify_ssl else None}
        proxy = headers = None
        if s.proxy and not _bypass_proxy(self.base, s.no_proxy):
            proxy, headers = _proxy(s)
        return http_pool.Pool(self.base, proxy=proxy, proxy_headers=headers, maxsize=max(4, pool_maxsize or 0), **tls)

    # -- requests ----------------------------------------------------------------------------------------------
    def url(self, path, query=None):
        query = {k: v for k, v in (query or {}).items() if v is not None}
        return self.base + path + ("?" + urlencode(query, doseq=True) if query else "")

    def headers_for(self, extra=None):
        """The request's headers as (name, value) pairs: a repeated header (Impersonate-Group) once per value."""
        headers = dict(self.headers)
        auth = self.settings.authorization()
        if auth:
            headers["Authorization"] = auth
        headers.update(extra or {})
        return list(headers.items()) + list(self.repeated_headers)

    def send(self, method, path, *, query=None, body=None, headers=None, read_timeout=None, stream=False,
             retries=None):
        """The raw response (http_pool.Response), whatever its status (after one credential refresh on a 401)."""
        timeout = http_pool.Timeout(self.timeouts[0], read_timeout or self.timeouts[1])
        url = self.url(path, query)
        retry = self.retry if retries is None else retries
        for attempt in (1, 2):
            response = self.pool.request(method, url, body=body, headers=self.headers_for(headers), timeout=timeout,
                                         retries=retry, preload_content=not stream, redirect=False)
            if response.status == 401 and attempt == 1 and self.settings.can_refresh():
                response.release_conn()  # a stream's unread answer: its connection is not used again
                self.settings.refresh()
                continue
            return response
        return response

    def request(self, method, path, *, query=None, body=None, content_type="application/json", read_timeout=None,
                stream=False):
        """JSON in (``body`` a dict), the response out: a dict, or the streaming response with ``stream``.
        A status of 400 or more raises ApiStatusError."""
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        response = self.send(method, path, query=query, body=data, headers=headers, read_timeout=read_timeout,
                             stream=stream)
        if response.status >= 400:
            payload = response.data if stream is False else response.read()
            raise ApiStatusError(response.status, response.reason, payload)
        if stream:
            return response
        if not response.data:
            return {}
        try:
            return json.loads(response.data)
        except ValueError:
            raise K8sError("the API server answered %s %s with a body that is not JSON" % (method, path)) from None
