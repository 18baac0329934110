# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP transports of model_predict beyond ``open_url``: keep-alive connection pools for batches, and the
Kubernetes API server's service proxy (``/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/<path>``) with the
task's Kubernetes credentials.

Both give a ``send(body_bytes) -> (status, body_bytes)`` for ``predict_batch.run`` and an opener with the
signature of ``open_url`` (raising ``HTTPError`` for statuses of 300 and more) for ``predict.send``.
"""

from __future__ import annotations

import io
from urllib.parse import quote, urlsplit

from ansible_collections.mlops.k8s.plugins.module_utils import names
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, TransportError
from ansible_collections.mlops.k8s.plugins.module_utils.predict import PredictError

CONNECT_TIMEOUT = 10
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _urllib3():
    try:
        import urllib3
    except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes client and with requests
        raise PredictError("batch mode (count) needs the urllib3 Python library (it comes with the kubernetes "
                           "client): pip install urllib3") from None
    return urllib3


def _timeout(timeout_class, request_timeout):
    """A request's timeouts (urllib3's or http_pool's Timeout): connecting takes at most CONNECT_TIMEOUT."""
    return timeout_class(connect=min(CONNECT_TIMEOUT, request_timeout), read=request_timeout)


def pool_sender(url, headers, *, validate_certs=True, request_timeout=30, concurrency=1):
    """``send(body) -> (status, data)`` POSTing to ``url`` over at most ``concurrency`` keep-alive connections.

    The proxy of the environment (``http_proxy``/``https_proxy``, ``no_proxy``) is used as ``open_url`` would;
    redirects are not followed (a 3xx answer is an error of the batch).
    """
    from urllib.request import getproxies, proxy_bypass

    urllib3 = _urllib3()
    parts = urlsplit(url)
    kwargs = {"num_pools": 2, "maxsize": concurrency, "block": True, "retries": False,
              "timeout": _timeout(urllib3.Timeout, request_timeout)}
    if parts.scheme == "https":
        kwargs["cert_reqs"] = "CERT_REQUIRED" if validate_certs else "CERT_NONE"
        if not validate_certs:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(parts.hostname or ""):
        pool = urllib3.ProxyManager(proxy, **kwargs)
    else:
        pool = urllib3.PoolManager(**kwargs)
    hdrs = dict(JSON_HEADERS, **(headers or {}))

    def send(data):
        try:
            response = pool.request("POST", url, body=data, headers=hdrs, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionError(_reason_of(exc)) from None
        return response.status, response.data

    return send


def service_proxy_path(namespace, service, port, path):
    """``/api/v1/namespaces/<ns>/services/<service>:<port>/proxy<path>`` (names checked: they are segments)."""
    try:
        names.check_label(namespace, "namespace")
        names.check_label(service, "service")
        if port is not None and str(port) != "":
            port = str(port)
            if port.isdigit() and not 1 <= int(port) <= 65535:
                raise K8sError("service_port must be a port number from 1 to 65535 or a port name, got %s" % port)
            if not port.isdigit():
                names.check_label(port, "service_port", 15)
    except K8sError as err:
        raise PredictError(err.msg) from None
    target = service if port in (None, "") else "%s:%s" % (service, port)
    if not path.startswith("/"):
        path = "/" + path
    return "/api/v1/namespaces/%s/services/%s/proxy%s" % (quote(namespace), quote(target, safe=":"), path)


class ServiceProxy:
    """Requests through the API server of the task's K8sClient (its host, TLS settings, credentials, pool)."""

    def __init__(self, client, pool_size=None):
        self.client = client
        transport = client.transport
        self.host = transport.base
        self.pool = transport.pool
        self.transport = transport
        self.pool_size = pool_size

    def _headers(self, extra):
        """(name, value) pairs: the API server's credentials (refreshed as needed), never the model's."""
        extra = {k: v for k, v in (extra or {}).items() if k.lower() != "authorization"}
        replaced = {k.lower() for k in extra}
        pairs = [(k, v) for k, v in self.transport.headers_for(JSON_HEADERS) if k.lower() not in replaced]
        return pairs + list(extra.items())

    def url(self, path):
        return self.host + path

    def request(self, path, data, headers=None, timeout=30, method="POST"):
        from ansible_collections.mlops.k8s.plugins.module_utils.http_pool import Timeout

        hdrs = self._headers(headers)
        try:
            response = self.pool.request(method, self.url(path), body=data, headers=hdrs, redirect=False,
                                         retries=False, preload_content=True,
                                         timeout=_timeout(Timeout, timeout))
        except TransportError as exc:  # refused, reset, timed out, TLS: as open_url's URLError
            raise ConnectionError("%s: %s" % (self.host, _reason_of(exc))) from None
        return response.status, response.data, response.headers

    def sender(self, path, headers=None, request_timeout=30):
        def send(data):
            status, body, _headers = self.request(path, data, headers, request_timeout)
            return status, body

        return send

    def opener_for(self, path):
        """An ``open_url``-like opener for ``predict.send`` that goes through the service proxy."""
        from urllib.error import HTTPError

        def open_proxy(url, data=None, headers=None, method="POST", timeout=30, **_ignored):
            status, body, rheaders = self.request(path, data, headers, timeout, method)
            if status >= 300:
                raise HTTPError(url, status, _reason(status), rheaders, io.BytesIO(body or b""))
            return _Answer(status, body)

        return open_proxy


class _Answer:
    def __init__(self, status, body):
        self.status = status
        self._body = body

    def read(self):
        return self._body

    def getcode(self):
        return self.status


def _reason_of(exc):
    return " ".join(str(getattr(exc, "reason", None) or exc).split()) or type(exc).__name__


def _reason(status):
    from http.client import responses

    return responses.get(status, "")
