# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One authenticated Kubernetes client per task.

* ``resolve_auth(params)``: task arguments > K8S_AUTH_* environment.
* ``build_configuration(auth)``: explicit credentials > kubeconfig (path or dict, context) > default kubeconfig
  (KUBECONFIG / ~/.kube/config) > in-cluster service account.
* ``K8sClient``: thin layer over the dynamic client that returns plain dicts, translates every error into a
  ``K8sError`` with one readable line, caches discovery in a file across tasks and retries transient failures
  (retries.py's K8S_API policy, on the urllib3 connection pool).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os

from ansible_collections.mlops.k8s.plugins.module_utils import retries
from ansible_collections.mlops.k8s.plugins.module_utils.args import (
    AUTH_ARG_SPEC,
    AUTH_ENV,
    PROXY_HEADERS_ENV_PREFIX,
    PROXY_HEADERS_SPEC,
)
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, ref, to_k8s_error
from ansible_collections.mlops.k8s.plugins.module_utils.limits import MAX_SECONDS

try:
    import kubernetes
    import urllib3
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by K8sAnsibleModule
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = _exc

FIELD_MANAGER = "mlops.k8s"
USER_AGENT = "mlops.k8s"
CACHE_DIR_ENV = "MLOPS_K8S_CACHE_DIR"
# The cache file of a client without a discovery cache: a path that never exists and cannot be written (the dynamic
# client would otherwise read and write a predictable name in the shared temporary directory).
NO_CACHE = os.path.join(os.devnull, "mlops.k8s-no-discovery-cache.json")

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


class _RequestDefaults:
    """The urllib3 pool manager of an ApiClient, with a timeout on every request that has none, and headers that
    are sent once per value (``Impersonate-Group``, one line per group).

    The dynamic client's discovery requests and any call without ``_request_timeout`` go through it, so no request
    of the collection can wait forever on a server that accepts the connection and never answers. The ApiClient
    keeps its default headers in a plain dict (one value a name): the repeated ones are added here, to urllib3's
    ``HTTPHeaderDict``, which sends every value of a name as a header line of its own.
    """

    def __init__(self, pool, timeouts, repeated_headers=()):
        self._pool = pool
        self._timeout = urllib3.Timeout(connect=timeouts[0], read=timeouts[1])
        self.repeated_headers = list(repeated_headers)

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        if self.repeated_headers:
            headers = urllib3.HTTPHeaderDict(kwargs.get("headers") or {})
            for name, value in self.repeated_headers:
                headers.add(name, value)
            kwargs["headers"] = headers
        return self._pool.request(method, url, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._pool, name)


def with_request_defaults(api_client, timeouts, repeated_headers=()):
    """Give every request of ``api_client`` (an ApiClient) the ``(connect, read)`` timeouts unless it has its own,
    and the ``repeated_headers`` (``(name, value)`` pairs, a name given several times sent several times)."""
    rest = api_client.rest_client
    if not isinstance(rest.pool_manager, _RequestDefaults):
        rest.pool_manager = _RequestDefaults(rest.pool_manager, timeouts, repeated_headers)
    return api_client


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


def _load_kubeconfig(auth, configuration, environ):
    kubeconfig = auth.get("kubeconfig")
    if kubeconfig is None:
        kubeconfig = environ.get("KUBECONFIG") or os.path.join("~", ".kube", "config")
    kwargs = {
        "context": auth.get("context"),
        "client_configuration": configuration,
        "persist_config": bool(auth.get("persist_config")),
    }
    if isinstance(kubeconfig, dict):
        kubernetes.config.load_kube_config_from_dict(config_dict=kubeconfig, **kwargs)
        return "kubeconfig (inline dict)"
    if kubeconfig is not None and not isinstance(kubeconfig, str):
        raise K8sError("kubeconfig must be a path or a dict, got %s" % type(kubeconfig).__name__)
    if kubeconfig:
        paths = [os.path.expanduser(p) for p in kubeconfig.split(os.pathsep) if p]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing and len(missing) == len(paths):
            raise K8sError("kubeconfig file %s does not exist" % ", ".join(missing))
        kubeconfig = os.pathsep.join(paths)
    kubernetes.config.load_kube_config(config_file=kubeconfig, **kwargs)
    return "kubeconfig %s" % kubeconfig


def build_configuration(auth, environ=None):
    """Build a ``kubernetes.client.Configuration`` (never the process-wide default) from resolved options.

    Returns ``(configuration, source)`` where source says where the connection settings came from.
    """
    environ = os.environ if environ is None else environ
    configuration = kubernetes.client.Configuration()
    source = "task arguments"
    try:
        if _has_own_credentials(auth):
            pass
        elif auth.get("kubeconfig") is not None or auth.get("context") or _default_kubeconfig_exists(environ):
            source = _load_kubeconfig(auth, configuration, environ)
        elif environ.get("KUBERNETES_SERVICE_HOST"):
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            source = "in-cluster service account"
        elif not auth.get("host"):
            raise K8sError(
                "no Kubernetes connection settings: set kubeconfig (or K8S_AUTH_KUBECONFIG / KUBECONFIG), "
                "or host with api_key, or run inside a cluster"
            )
    except K8sError:
        raise
    except Exception as exc:
        raise to_k8s_error(exc, "cannot load Kubernetes configuration") from None
    _apply_overrides(configuration, auth)
    configuration.retries = retries.k8s_api_retry()  # the K8S_API policy (retries.py)
    return configuration, source


def _apply_overrides(configuration, auth):
    """Explicit options win over what the kubeconfig said."""
    if auth.get("host"):
        configuration.host = auth["host"].rstrip("/")
    if auth.get("api_key"):
        _set_authorization(configuration, "Bearer %s" % auth["api_key"])
    elif auth.get("username") and auth.get("password"):
        token = base64.b64encode(("%s:%s" % (auth["username"], auth["password"])).encode()).decode()
        _set_authorization(configuration, "Basic %s" % token)
    if auth.get("validate_certs") is not None:
        configuration.verify_ssl = bool(auth["validate_certs"])
    if auth.get("ca_cert"):
        configuration.ssl_ca_cert = auth["ca_cert"]
    if auth.get("client_cert"):
        configuration.cert_file = auth["client_cert"]
    if auth.get("client_key"):
        configuration.key_file = auth["client_key"]
    if auth.get("proxy"):
        configuration.proxy = auth["proxy"]
    if auth.get("no_proxy"):
        configuration.no_proxy = auth["no_proxy"]
    if auth.get("proxy_headers"):
        headers = {k: v for k, v in auth["proxy_headers"].items() if v is not None}
        configuration.proxy_headers = urllib3.util.make_headers(**headers)


def _set_authorization(configuration, value):
    # kubernetes >= 35 reads "BearerToken" (then "authorization"); older clients read "authorization"
    configuration.api_key = {"BearerToken": value, "authorization": value}
    configuration.api_key_prefix = {}
    configuration.refresh_api_key_hook = None


def authorization_of(configuration):
    """The Authorization header value the client will send (None without a token)."""
    key = configuration.api_key or {}
    prefixes = configuration.api_key_prefix or {}
    for name in ("BearerToken", "authorization"):
        if key.get(name):
            prefix = prefixes.get(name)
            return "%s %s" % (prefix, key[name]) if prefix else key[name]
    return None


def _identity(configuration, auth):
    """Who we are to the server, for the discovery cache key (hashed, never stored in clear)."""
    parts = [configuration.host or ""]
    key = authorization_of(configuration) or ""
    parts.append(hashlib.sha256(key.encode()).hexdigest() if key else "")
    for attr in ("cert_file", "username"):
        parts.append(str(getattr(configuration, attr, "") or ""))
    parts.append(auth.get("impersonate_user") or "")
    parts.append(",".join(auth.get("impersonate_groups") or []))
    return "\n".join(parts)


def discovery_cache_file(configuration, auth=None, environ=None):
    """``$MLOPS_K8S_CACHE_DIR`` or ``$XDG_CACHE_HOME/mlops.k8s/discovery`` (default ~/.cache) / <sha>.json.

    None (no cache) when that directory cannot be made, or is not ours alone to write: another user could
    otherwise plant the discovery the client trusts. Never a name in the shared temporary directory.
    """
    environ = os.environ if environ is None else environ
    base = environ.get(CACHE_DIR_ENV)
    if not base:
        xdg = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "mlops.k8s", "discovery")
    digest = hashlib.sha256(_identity(configuration, auth or {}).encode()).hexdigest()[:32]
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        info = os.stat(base)
    except OSError:
        return None
    getuid = getattr(os, "getuid", None)
    if (getuid is not None and info.st_uid != getuid()) or info.st_mode & 0o022:
        return None
    return os.path.join(base, "%s.json" % digest)


def _atomic_discoverer():
    """The dynamic client's lazy discoverer, writing its cache file atomically (tasks run in parallel forks)."""
    from kubernetes.dynamic.discovery import CacheEncoder, LazyDiscoverer

    class AtomicLazyDiscoverer(LazyDiscoverer):
        def __init__(self, client, cache_file):
            self.cache_path = cache_file  # the base class keeps it private; it reads the cache in its __init__
            super().__init__(client, cache_file)

        def _write_cache(self):
            path = getattr(self, "cache_path", None)
            if not path or path == NO_CACHE:
                return None
            tmp = "%s.%d.tmp" % (path, os.getpid())
            try:
                with open(tmp, "w") as handle:
                    json.dump(self._cache, handle, cls=CacheEncoder)
                os.replace(tmp, path)
            except (OSError, TypeError, ValueError):  # a cache that cannot be written is not an error
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return None

    return AtomicLazyDiscoverer


def _raw(_client, data):
    return data


class K8sClient:
    """The collection's view of one cluster: plain dicts in and out, K8sError on any failure."""

    def __init__(self, api_client, cache_file=None, dynamic=None, field_manager=FIELD_MANAGER,
                 request_timeout=DEFAULT_REQUEST_TIMEOUT):
        self.api_client = api_client
        self.cache_file = cache_file
        self.field_manager = field_manager
        self.timeouts = request_timeouts({"request_timeout": request_timeout})
        self._dynamic = dynamic
        self._refreshed = False

    # discovery -------------------------------------------------------------------------------------------
    @property
    def dynamic(self):
        if self._dynamic is None:
            try:
                self._dynamic = DynamicClient(self.api_client, cache_file=self.cache_file or NO_CACHE,
                                              discoverer=_atomic_discoverer())
            except Exception as exc:
                raise to_k8s_error(exc, "API discovery") from None
        return self._dynamic

    def invalidate_discovery(self):
        """Forget cached discovery (done at most once per task automatically)."""
        self._refreshed = True
        try:
            self.dynamic.resources.invalidate_cache()
        except Exception as exc:
            raise to_k8s_error(exc, "API discovery") from None

    def find_resource(self, api_version, kind):
        """The discovered API resource for apiVersion/kind, or None if the cluster does not serve it.

        The lazy discoverer re-reads discovery from the server once when a kind is missing from the cache.
        """
        search = {"api_version": api_version, "kind": kind}
        if api_version and "/" not in api_version:
            # the core group (/api/v1): without the prefix the discoverer would read /apis/<group>/<version> of every
            # group that has a version of that name
            search["prefix"] = "api"
        try:
            return self.dynamic.resources.get(**search)
        except ResourceNotFoundError:
            return None
        except ResourceNotUniqueError as exc:
            raise K8sError("kind %s in apiVersion %s is ambiguous: %s" % (kind, api_version, exc)) from None
        except K8sError:
            raise
        except Exception as exc:
            raise to_k8s_error(exc, "API discovery for %s %s" % (api_version, kind)) from None

    def resource(self, api_version, kind):
        """Like find_resource but fails with 'no kind X in apiVersion Y on this cluster'."""
        if not api_version or not kind:
            raise K8sError("both apiVersion and kind are required (got apiVersion=%r, kind=%r)" % (api_version, kind))
        found = self.find_resource(api_version, kind)
        if found is None:
            raise K8sError("no kind %s in apiVersion %s on this cluster" % (kind, api_version), status=404)
        return found

    # requests --------------------------------------------------------------------------------------------
    def _call(self, what, func, *args, kind_of=None, **kwargs):
        kwargs.setdefault("_request_timeout", self.timeouts)
        try:
            return func(*args, serializer=_raw, **kwargs)
        except Exception as exc:
            err = to_k8s_error(exc, what)
        resource = kind_of
        if (err.status == 404 and resource is not None and not (err.details or {}).get("name")
                and "could not find the requested resource" in err.msg):
            # the path itself is unknown: the cached discovery named a kind the server no longer serves
            if not self._refreshed:
                self.invalidate_discovery()
            raise K8sError("no kind %s in apiVersion %s on this cluster (discovery was refreshed)"
                           % (resource.kind, resource.group_version), status=404, reason="NoKind")
        raise err

    def get(self, resource, name, namespace=None):
        """The live object as a dict, or None when it does not exist."""
        namespace = namespace if resource.namespaced else None
        try:
            return self._call(ref(resource.kind, namespace, name), resource.get, name=name, namespace=namespace,
                              kind_of=resource)
        except K8sError as err:
            if err.status == 404:
                return None
            raise

    def list(self, resource, namespace=None, *, label_selector=None, field_selector=None):
        """The list response as a dict (``items`` and ``metadata.resourceVersion``)."""
        namespace = namespace if resource.namespaced else None
        kwargs = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        result = self._call(ref(resource.kind, namespace), resource.get, namespace=namespace, kind_of=resource,
                            **kwargs)
        result.setdefault("items", [])
        for item in result["items"]:
            # list items omit apiVersion/kind
            item.setdefault("apiVersion", resource.group_version)
            item.setdefault("kind", resource.kind)
        return result

    def apply(self, resource, body, *, namespace=None, field_manager=None, force_conflicts=False, dry_run=False):
        """Server-side apply ``body``; with dry_run the server validates and returns the would-be object."""
        meta = body.get("metadata") or {}
        namespace = (namespace or meta.get("namespace")) if resource.namespaced else None
        kwargs = {"field_manager": field_manager or self.field_manager, "force_conflicts": bool(force_conflicts)}
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return self._call(
                ref(resource.kind, namespace, meta.get("name")),
                resource.server_side_apply,
                kind_of=resource,
                body=body,
                name=meta.get("name"),
                namespace=namespace,
                **kwargs,
            )
        except K8sError as err:
            if err.status == 409 and not force_conflicts:
                err.msg += " (another field manager owns these fields; set force_conflicts=true to take them over)"
                err.args = (err.msg,)
            raise

    def create(self, resource, body, *, namespace=None, dry_run=False):
        """POST (used for generateName objects, which server-side apply cannot create)."""
        meta = body.get("metadata") or {}
        namespace = (namespace or meta.get("namespace")) if resource.namespaced else None
        kwargs = {"field_manager": self.field_manager}
        if dry_run:
            kwargs["dry_run"] = "All"
        return self._call(
            ref(resource.kind, namespace, meta.get("generateName")),
            resource.create,
            kind_of=resource,
            body=body,
            namespace=namespace,
            **kwargs,
        )

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
        kwargs = {}
        if dry_run:
            # In the DeleteOptions body, not only the query: kube-apiserver reads a DELETE's options from its body
            # when it has one and then ignores ?dryRun=All, so a query-only dry run deletes for real.
            body["dryRun"] = ["All"]
            kwargs["dry_run"] = "All"
        try:
            return self._call(
                ref(resource.kind, namespace, name), resource.delete, kind_of=resource,
                name=name, namespace=namespace, body=body, **kwargs,
            )
        except K8sError as err:
            if err.status == 404:
                return None
            raise

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
        kwargs = {
            "namespace": namespace,
            "serialize": False,
            "timeout_seconds": timeout,
            "allow_watch_bookmarks": True,
            "_request_timeout": (self.timeouts[0], timeout + 10),
        }
        if field_selector:
            kwargs["field_selector"] = field_selector
        if label_selector:
            kwargs["label_selector"] = label_selector
        if resource_version:
            kwargs["resource_version"] = resource_version
        watcher = kubernetes.watch.Watch()
        what = ref(resource.kind, namespace, name)
        try:
            for event in watcher.stream(resource.get, **kwargs):
                if not isinstance(event, dict):
                    continue
                obj = event.get("raw_object") or event.get("object")
                yield event.get("type"), obj
        except K8sError:
            raise
        except Exception as exc:
            raise to_k8s_error(exc, "watch %s" % what) from None
        finally:
            watcher.stop()


def build_client(params=None, environ=None, discovery_cache=True, pool_maxsize=None):
    """Build the task's K8sClient from module params (auth options resolved against the environment).

    ``pool_maxsize``: keep-alive connections to the API server kept for concurrent requests (the client's
    default when None).
    """
    if not HAS_KUBERNETES:
        raise K8sError("the kubernetes Python library is required: %s" % KUBERNETES_IMPORT_ERROR)
    auth = resolve_auth(params, environ)
    timeouts = request_timeouts(auth)  # checked before the kubeconfig is read
    configuration, _source = build_configuration(auth, environ)
    if pool_maxsize:
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 1, pool_maxsize)
    groups = [("Impersonate-Group", group) for group in auth.get("impersonate_groups") or []]
    api_client = with_request_defaults(kubernetes.client.ApiClient(configuration), timeouts, groups)
    api_client.user_agent = USER_AGENT
    if auth.get("impersonate_user"):
        api_client.set_default_header("Impersonate-User", auth["impersonate_user"])
    cache_file = discovery_cache_file(configuration, auth, environ) if discovery_cache else None
    return K8sClient(api_client, cache_file=cache_file, request_timeout=timeouts[1])
