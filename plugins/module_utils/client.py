# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One authenticated Kubernetes client per task.

* ``resolve_auth(params)``: task arguments > K8S_AUTH_* environment.
* ``build_settings(auth)``: explicit credentials > kubeconfig (path or dict, context) > default kubeconfig
  (KUBECONFIG / ~/.kube/config) > in-cluster service account (kubeconfig.py).
* ``K8sClient``: plain dicts in and out over transport.py (the standard library's http.client: importing the
  ``kubernetes`` package, or even urllib3, would cost much of a task's start-up), every error a ``K8sError``
  with one readable line, discovery cached in a file across tasks (discovery.py), transient failures retried
  (retries.py's K8S_API policy).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from urllib.parse import quote

from ansible_collections.mlops.k8s.plugins.module_utils import http_pool, retries
from ansible_collections.mlops.k8s.plugins.module_utils.args import (
    AUTH_ARG_SPEC,
    AUTH_ENV,
    PROXY_HEADERS_ENV_PREFIX,
    PROXY_HEADERS_SPEC,
)
from ansible_collections.mlops.k8s.plugins.module_utils.discovery import Discovery
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, ref, to_k8s_error
from ansible_collections.mlops.k8s.plugins.module_utils.kubeconfig import (
    Settings,
    read_kubeconfig_dict,
    read_kubeconfig_files,
    settings_from_kubeconfig,
    settings_from_library,
    settings_in_cluster,
)
from ansible_collections.mlops.k8s.plugins.module_utils.limits import MAX_SECONDS
from ansible_collections.mlops.k8s.plugins.module_utils.transport import Transport

FIELD_MANAGER = "mlops.k8s"
CACHE_DIR_ENV = "MLOPS_K8S_CACHE_DIR"

# Every request has a connect and a read timeout (seconds): ``request_timeout`` / K8S_AUTH_REQUEST_TIMEOUT for
# the read, at most CONNECT_TIMEOUT to connect. Watches have their own, longer read timeout.
DEFAULT_REQUEST_TIMEOUT = 30
CONNECT_TIMEOUT = 10

_TRUE = ("1", "true", "yes", "on", "y")
_FALSE = ("0", "false", "no", "off", "n")


def _env_bool(name, value):
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise K8sError("environment variable %s=%r is not a boolean" % (name, value))


def _env_int(name, value):
    try:
        return int(value.strip())
    except ValueError:
        raise K8sError("environment variable %s=%r is not an integer" % (name, value)) from None


def request_timeouts(auth):
    """``(connect, read)`` seconds for every request, from ``request_timeout`` (default DEFAULT_REQUEST_TIMEOUT)."""
    seconds = auth.get("request_timeout")
    if seconds is None:
        seconds = DEFAULT_REQUEST_TIMEOUT
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise K8sError("request_timeout must be a whole number of seconds, 1 or more (got %r)" % (seconds,))
    if seconds > MAX_SECONDS:
        raise K8sError("request_timeout must be at most %d seconds (a year)" % MAX_SECONDS)
    return (min(CONNECT_TIMEOUT, seconds), seconds)


def resolve_auth(params=None, environ=None):
    """Merge connection options: a task argument wins over its K8S_AUTH_* environment variable.

    Returns a dict with only the options that are set (after aliases are resolved by AnsibleModule).
    """
    params = params or {}
    environ = os.environ if environ is None else environ
    auth = {}
    for option, spec in AUTH_ARG_SPEC.items():
        value = params.get(option)
        if value is None and option == "proxy_headers":
            headers = {}
            for key in PROXY_HEADERS_SPEC:
                env_value = environ.get(PROXY_HEADERS_ENV_PREFIX + key.upper())
                if env_value is not None:
                    headers[key] = env_value
            value = headers or None
        elif value is None:
            for env_name in AUTH_ENV.get(option, ()):
                env_value = environ.get(env_name)
                if env_value is None or env_value == "":
                    continue
                if spec.get("type") == "bool":
                    value = _env_bool(env_name, env_value)
                elif spec.get("type") == "int":
                    value = _env_int(env_name, env_value)
                elif spec.get("type") == "list":
                    value = [item.strip() for item in env_value.split(",") if item.strip()]
                else:
                    value = env_value
                break
        if value is not None:
            auth[option] = value
    return auth


def _has_own_credentials(auth):
    return bool(
        auth.get("host")
        and (
            auth.get("api_key")
            or (auth.get("username") and auth.get("password"))
            or (auth.get("client_cert") and auth.get("client_key"))
        )
    )


def _default_kubeconfig_exists(environ):
    paths = environ.get("KUBECONFIG")
    if paths:
        return any(os.path.exists(os.path.expanduser(p)) for p in paths.split(os.pathsep) if p)
    return os.path.exists(os.path.expanduser("~/.kube/config"))


def _load_kubeconfig(auth, environ):
    kubeconfig = auth.get("kubeconfig")
    if kubeconfig is None:
        kubeconfig = environ.get("KUBECONFIG") or os.path.join("~", ".kube", "config")
    if isinstance(kubeconfig, dict):
        source = "kubeconfig (inline dict)"
        merged = read_kubeconfig_dict(kubeconfig)
    elif isinstance(kubeconfig, str):
        paths = [os.path.expanduser(p) for p in kubeconfig.split(os.pathsep) if p]
        missing = [p for p in paths if not os.path.exists(p)]
        if not paths or len(missing) == len(paths):
            raise K8sError("kubeconfig file %s does not exist" % ", ".join(missing or [kubeconfig]))
        kubeconfig = os.pathsep.join(paths)
        source = "kubeconfig %s" % kubeconfig
        merged = read_kubeconfig_files(paths)
    else:
        raise K8sError("kubeconfig must be a path or a dict, got %s" % type(kubeconfig).__name__)
    settings = settings_from_kubeconfig(merged, auth.get("context"), source, environ)
    if settings is None:  # a user with an auth-provider: the kubernetes package reads it
        settings = settings_from_library(auth, kubeconfig, auth.get("context"), source)
    return settings


def build_settings(auth, environ=None):
    """``kubeconfig.Settings`` from resolved options: where to connect, how to trust it, who we are
    (``settings.source`` says where they came from)."""
    environ = os.environ if environ is None else environ
    if _has_own_credentials(auth):
        settings = Settings(auth["host"].rstrip("/"))
    elif auth.get("kubeconfig") is not None or auth.get("context") or _default_kubeconfig_exists(environ):
        settings = _load_kubeconfig(auth, environ)
    elif environ.get("KUBERNETES_SERVICE_HOST"):
        settings = settings_in_cluster(environ)
    elif auth.get("host"):
        settings = Settings(auth["host"].rstrip("/"))
    else:
        raise K8sError(
            "no Kubernetes connection settings: set kubeconfig (or K8S_AUTH_KUBECONFIG / KUBECONFIG), "
            "or host with api_key, or run inside a cluster"
        )
    _apply_overrides(settings, auth)
    return settings


def _apply_overrides(settings, auth):
    """Explicit options win over what the kubeconfig said."""
    if auth.get("host"):
        settings.host = auth["host"].rstrip("/")
    if auth.get("api_key"):
        _set_authorization(settings, "Bearer %s" % auth["api_key"])
    elif auth.get("username") and auth.get("password"):
        _set_authorization(settings, http_pool.basic_auth("%s:%s" % (auth["username"], auth["password"])))
        settings.username = auth["username"]
    if auth.get("validate_certs") is not None:
        settings.verify_ssl = bool(auth["validate_certs"])
    if auth.get("ca_cert"):
        settings.ssl_ca_cert, settings.ca_data = auth["ca_cert"], None
    if auth.get("client_cert"):
        settings.cert_file, settings.cert_data = auth["client_cert"], None
    if auth.get("client_key"):
        settings.key_file, settings.key_data = auth["client_key"], None
    if auth.get("proxy"):
        settings.proxy = auth["proxy"]
    if auth.get("no_proxy"):
        settings.no_proxy = auth["no_proxy"]
    if auth.get("proxy_headers"):
        headers = {k: v for k, v in auth["proxy_headers"].items() if v is not None}
        settings.proxy_headers = proxy_headers(**headers)


def proxy_headers(proxy_basic_auth=None, basic_auth=None, user_agent=None):
    """The headers the ``proxy_headers`` option asks for (``user:password`` pairs sent as Basic credentials)."""
    headers = {}
    if proxy_basic_auth:
        headers["Proxy-Authorization"] = http_pool.basic_auth(proxy_basic_auth)
    if basic_auth:
        headers["Authorization"] = http_pool.basic_auth(basic_auth)
    if user_agent:
        headers["User-Agent"] = user_agent
    return headers


def _set_authorization(settings, value):
    settings.token = value
    settings.token_file = settings.exec_plugin = settings.token_source = None


def _digest(value):
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


def _identity(settings, auth):
    """Who we are to the server, for the discovery cache key (hashed, never stored in clear; no credential plugin
    is run for it)."""
    plugin = settings.exec_plugin.spec if settings.exec_plugin is not None else None
    parts = [
        settings.host or "", _digest(settings.token or ""), settings.token_file or "",
        _digest(json.dumps(plugin, sort_keys=True, default=str)) if plugin else "",
        settings.cert_file or _digest(settings.cert_data or ""), settings.username or "",
        "auth-provider" if settings.token_source is not None else "",
        auth.get("impersonate_user") or "", ",".join(auth.get("impersonate_groups") or []),
    ]
    return "\n".join(parts)


def discovery_cache_file(settings, auth=None, environ=None):
    """``$MLOPS_K8S_CACHE_DIR`` or ``$XDG_CACHE_HOME/mlops.k8s/discovery`` (default ~/.cache) / <sha>.json.

    None (no cache) when that directory cannot be made, or is not ours alone to write: another user could
    otherwise plant the discovery the client trusts. Never a name in the shared temporary directory.
    """
    environ = os.environ if environ is None else environ
    base = environ.get(CACHE_DIR_ENV)
    if not base:
        xdg = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "mlops.k8s", "discovery")
    digest = hashlib.sha256(_identity(settings, auth or {}).encode()).hexdigest()[:32]
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        info = os.stat(base)
    except OSError:
        return None
    getuid = getattr(os, "getuid", None)
    if (getuid is not None and info.st_uid != getuid()) or info.st_mode & 0o022:
        return None
    return os.path.join(base, "%s.json" % digest)


def _segment(value):
    return quote(str(value), safe="")


class K8sClient:
    """The collection's view of one cluster: plain dicts in and out, K8sError on any failure."""

    def __init__(self, transport, cache_file=None, field_manager=FIELD_MANAGER,
                 request_timeout=DEFAULT_REQUEST_TIMEOUT):
        self.transport = transport
        self.cache_file = cache_file
        self.field_manager = field_manager
        self.timeouts = request_timeouts({"request_timeout": request_timeout})
        self.discovery = Discovery(transport, cache_file)

    # discovery -------------------------------------------------------------------------------------------
    def invalidate_discovery(self):
        """Forget cached discovery."""
        self.discovery.invalidate()

    def find_resource(self, api_version, kind):
        """The discovered API resource for apiVersion/kind, or None if the cluster does not serve it.

        A kind missing from the cache is read from the server again (once per task and group version).
        """
        return self.discovery.find(api_version, kind)

    def resource(self, api_version, kind):
        """Like find_resource but fails with 'no kind X in apiVersion Y on this cluster'."""
        if not api_version or not kind:
            raise K8sError("both apiVersion and kind are required (got apiVersion=%r, kind=%r)" % (api_version, kind))
        found = self.find_resource(api_version, kind)
        if found is None:
            raise K8sError("no kind %s in apiVersion %s on this cluster" % (kind, api_version), status=404)
        return found

    # requests --------------------------------------------------------------------------------------------
    def _call(self, what, method, path, *, kind_of=None, **kwargs):
        try:
            return self.transport.request(method, path, **kwargs)
        except Exception as exc:
            err = to_k8s_error(exc, what)
        resource = kind_of
        if (err.status == 404 and resource is not None and not (err.details or {}).get("name")
                and "could not find the requested resource" in err.msg):
            # the path itself is unknown: the cached discovery named a kind the server no longer serves
            self.invalidate_discovery()
            raise K8sError("no kind %s in apiVersion %s on this cluster (discovery was refreshed)"
                           % (resource.kind, resource.group_version), status=404, reason="NoKind")
        raise err

    @staticmethod
    def _path(resource, namespace=None, name=None, subresource=None):
        return resource.path(_segment(namespace) if namespace else None, _segment(name) if name else None,
                             subresource)

    def get(self, resource, name, namespace=None):
        """The live object as a dict, or None when it does not exist."""
        namespace = namespace if resource.namespaced else None
        try:
            return self._call(ref(resource.kind, namespace, name), "GET", self._path(resource, namespace, name),
                              kind_of=resource)
        except K8sError as err:
            if err.status == 404:
                return None
            raise

    def list(self, resource, namespace=None, *, label_selector=None, field_selector=None):
        """The list response as a dict (``items`` and ``metadata.resourceVersion``)."""
        namespace = namespace if resource.namespaced else None
        query = {"labelSelector": label_selector or None, "fieldSelector": field_selector or None}
        result = self._call(ref(resource.kind, namespace), "GET", self._path(resource, namespace), kind_of=resource,
                            query=query)
        if not isinstance(result.get("items"), list):
            result["items"] = []
        for item in result["items"]:
            # list items omit apiVersion/kind
            item.setdefault("apiVersion", resource.group_version)
            item.setdefault("kind", resource.kind)
        return result

    def apply(self, resource, body, *, namespace=None, field_manager=None, force_conflicts=False, dry_run=False):
        """Server-side apply ``body``; with dry_run the server validates and returns the would-be object."""
        meta = body.get("metadata") or {}
        namespace = (namespace or meta.get("namespace")) if resource.namespaced else None
        query = {"fieldManager": field_manager or self.field_manager, "force": "true" if force_conflicts else None,
                 "dryRun": "All" if dry_run else None}
        try:
            return self._call(ref(resource.kind, namespace, meta.get("name")), "PATCH",
                              self._path(resource, namespace, meta.get("name")), kind_of=resource, query=query,
                              body=body, content_type="application/apply-patch+yaml")
        except K8sError as err:
            if err.status == 409 and not force_conflicts:
                err.msg += " (another field manager owns these fields; set force_conflicts=true to take them over)"
                err.args = (err.msg,)
            raise

    def create(self, resource, body, *, namespace=None, dry_run=False):
        """POST (used for generateName objects, which server-side apply cannot create)."""
        meta = body.get("metadata") or {}
        namespace = (namespace or meta.get("namespace")) if resource.namespaced else None
        query = {"fieldManager": self.field_manager, "dryRun": "All" if dry_run else None}
        return self._call(ref(resource.kind, namespace, meta.get("generateName")), "POST",
                          self._path(resource, namespace), kind_of=resource, query=query, body=body)

    def delete(self, resource, name, namespace=None, *, propagation_policy=None, dry_run=False, uid=None):
        """DELETE; returns the response (the object or a Status) or None when it was already gone.

        With ``uid`` the server deletes only that object (a precondition): an object re-created under the same
        name since it was read gives a 409 Conflict instead of being deleted.
        """
        namespace = namespace if resource.namespaced else None
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if uid:
            body["preconditions"] = {"uid": uid}
        query = {}
        if dry_run:
            # In the DeleteOptions body, not only the query: kube-apiserver reads a DELETE's options from its body
            # when it has one and then ignores ?dryRun=All, so a query-only dry run deletes for real.
            body["dryRun"] = ["All"]
            query["dryRun"] = "All"
        try:
            return self._call(ref(resource.kind, namespace, name), "DELETE", self._path(resource, namespace, name),
                              kind_of=resource, query=query, body=body)
        except K8sError as err:
            if err.status == 404:
                return None
            raise

    def read_text(self, path, query=None, what=None):
        """GET a text endpoint (a container's log): the body as text."""
        try:
            response = self.transport.send("GET", path, query=query, headers={"Accept": "*/*"})
        except Exception as exc:
            raise to_k8s_error(exc, what) from None
        if response.status >= 400:
            from ansible_collections.mlops.k8s.plugins.module_utils.errors import ApiStatusError

            raise to_k8s_error(ApiStatusError(response.status, response.reason, response.data), what)
        return (response.data or b"").decode("utf-8", "replace")

    def watch(self, resource, *, namespace=None, name=None, resource_version=None, timeout=60,
              label_selector=None, field_selector=None):
        """Yield ``(event_type, object_dict)`` from a watch on the list endpoint.

        Ends when the server closes the stream (after ``timeout`` seconds at most). Raises K8sError
        (status 410 when resourceVersion is too old: re-list and watch again).
        """
        namespace = namespace if resource.namespaced else None
        if name:
            field_selector = "metadata.name=%s" % name
        timeout = max(1, int(timeout))
        query = {"watch": "1", "timeoutSeconds": str(timeout), "allowWatchBookmarks": "true",
                 "fieldSelector": field_selector or None, "labelSelector": label_selector or None,
                 "resourceVersion": resource_version or None}
        what = "watch %s" % ref(resource.kind, namespace, name)
        response = self._call(what, "GET", self._path(resource, namespace), kind_of=resource, query=query,
                              read_timeout=timeout + 10, stream=True)
        try:
            for line in _lines(response):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event.get("type"), event.get("object")
        except K8sError:
            raise
        except Exception as exc:
            raise to_k8s_error(exc, what) from None
        finally:
            response.release_conn()


def _lines(response):
    """The lines of a streamed response, as they arrive."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    for chunk in response.stream(65536, decode_content=True):
        pending += decoder.decode(chunk)
        while "\n" in pending:
            line, pending = pending.split("\n", 1)
            if line.strip():
                yield line
    pending += decoder.decode(b"", final=True)
    if pending.strip():
        yield pending


def build_client(params=None, environ=None, discovery_cache=True, pool_maxsize=None):
    """Build the task's K8sClient from module params (auth options resolved against the environment).

    ``pool_maxsize``: keep-alive connections to the API server kept for concurrent requests.
    """
    auth = resolve_auth(params, environ)
    timeouts = request_timeouts(auth)  # checked before the kubeconfig is read
    settings = build_settings(auth, environ)
    headers = {"Impersonate-User": auth["impersonate_user"]} if auth.get("impersonate_user") else {}
    groups = [("Impersonate-Group", group) for group in auth.get("impersonate_groups") or []]
    transport = Transport(settings, timeouts, retries.k8s_api_retry(), pool_maxsize=pool_maxsize, headers=headers,
                          repeated_headers=groups)
    cache_file = discovery_cache_file(settings, auth, environ) if discovery_cache else None
    return K8sClient(transport, cache_file=cache_file, request_timeout=timeouts[1])
