# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTPS to the Kubernetes API on one urllib3 pool: TLS and credentials from ``kubeconfig.Settings``, a timeout
on every request, the K8S_API retry policy (retries.py), a credential refreshed once after a 401, and every
error status raised as ``ApiStatusError`` (errors.py turns it into one readable line)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from urllib.parse import urlencode

from ansible_collections.mlops.k8s.plugins.module_utils.errors import ApiStatusError, K8sError

try:
    import urllib3
except ImportError:  # pragma: no cover - K8sAnsibleModule reports the missing library before any request
    urllib3 = None

USER_AGENT = "mlops.k8s"


def _bypass_proxy(host, no_proxy):
    """True when ``host`` (a URL) matches NO_PROXY-style ``no_proxy`` (names, .suffixes, *, host:port)."""
    if not no_proxy:
        return False
    netloc = urllib3.util.parse_url(host)
    name = (netloc.host or "").strip("[]").lower()
    for item in str(no_proxy).split(","):
        entry = item.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_host, _sep, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if port and str(netloc.port or "") != port:
            continue
        entry_host = entry_host.lstrip(".")
        if name == entry_host or name.endswith("." + entry_host):
            return True
    return False


class Transport:
    """Requests to one API server. ``pool`` (tests) replaces the urllib3 pool the settings would build."""

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
        kwargs = {"num_pools": 4, "maxsize": max(4, pool_maxsize or 0)}
        if self.base.startswith("https:"):
            kwargs["cert_reqs"] = "CERT_REQUIRED" if s.verify_ssl else "CERT_NONE"
            if s.verify_ssl:
                if s.ca_data:
                    kwargs["ca_cert_data"] = s.ca_data
                elif s.ssl_ca_cert:
                    kwargs["ca_certs"] = s.ssl_ca_cert
                if s.tls_server_name:
                    kwargs["server_hostname"] = s.tls_server_name
                    kwargs["assert_hostname"] = s.tls_server_name
            else:
                kwargs["assert_hostname"] = False
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            pair = s.exec_client_certificate()
            if pair:
                kwargs["cert_file"], kwargs["key_file"] = self._pem_file("exec.crt", pair[0]), self._pem_file(
                    "exec.key", pair[1])
            else:
                cert = s.cert_file or (self._pem_file("client.crt", s.cert_data) if s.cert_data else None)
                key = s.key_file or (self._pem_file("client.key", s.key_data) if s.key_data else None)
                if cert:
                    kwargs["cert_file"], kwargs["key_file"] = cert, key
        if s.proxy and not _bypass_proxy(self.base, s.no_proxy):
            return urllib3.ProxyManager(s.proxy, proxy_headers=s.proxy_headers, **kwargs)
        return urllib3.PoolManager(**kwargs)

    # -- requests ----------------------------------------------------------------------------------------------
    def url(self, path, query=None):
        query = {k: v for k, v in (query or {}).items() if v is not None}
        return self.base + path + ("?" + urlencode(query, doseq=True) if query else "")

    def headers_for(self, extra=None):
        headers = urllib3.HTTPHeaderDict(self.headers)
        auth = self.settings.authorization()
        if auth:
            headers["Authorization"] = auth
        for name, value in self.repeated_headers:
            headers.add(name, value)
        for name, value in (extra or {}).items():
            headers[name] = value
        return headers

    def send(self, method, path, *, query=None, body=None, headers=None, read_timeout=None, stream=False,
             retries=None):
        """The raw urllib3 response, whatever its status (after one credential refresh on a 401)."""
        timeout = urllib3.Timeout(connect=self.timeouts[0], read=read_timeout or self.timeouts[1])
        url = self.url(path, query)
        retry = self.retry if retries is None else retries
        for attempt in (1, 2):
            response = self.pool.request(method, url, body=body, headers=self.headers_for(headers), timeout=timeout,
                                         retries=retry, preload_content=not stream, redirect=False)
            if response.status == 401 and attempt == 1 and self.settings.can_refresh():
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
