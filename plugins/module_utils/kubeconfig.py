# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a task connects and as whom: ``Settings`` from kubeconfig files (or a dict), the in-cluster service
account, and the task's own options, read without the ``kubernetes`` package (importing it costs about half a
second, most of a task's start-up).

What it reads, as client-go does: a ``KUBECONFIG`` list of files merged (the first file that names a cluster,
user or context wins; the first ``current-context`` set wins), relative paths resolved against the file that
holds them; a cluster's ``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``,
``tls-server-name`` and ``proxy-url``; a user's ``client-certificate(-data)``/``client-key(-data)``, ``token``,
``tokenFile``, ``username``/``password`` and ``exec`` credential plugins (``client.authentication.k8s.io``
ExecCredential, as ``aws eks get-token`` or ``gke-gcloud-auth-plugin``). A user with a legacy ``auth-provider``
(OIDC refresh, old gcp/azure plugins) is read by the ``kubernetes`` package instead (``settings_from_library``),
which also writes refreshed tokens back when ``persist_config`` is set.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.http_pool import basic_auth
from ansible_collections.mlops.k8s.plugins.module_utils.text import one_line

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EXEC_TIMEOUT = 120  # seconds an exec credential plugin may take
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TOKEN_FILE_RELOAD = 60  # seconds: a token file (projected service account tokens rotate) is read again after this


class Settings:
    """One cluster and one identity. ``credentials`` gives the Authorization header value (or None) and, for
    exec plugins, client certificate data; ``refresh()`` forgets a cached credential after a 401."""

    def __init__(self, host=None, source="task arguments"):
        self.host = host
        self.source = source
        self.verify_ssl = True
        self.ssl_ca_cert = None    # path
        self.ca_data = None        # PEM text
        self.cert_file = None
        self.key_file = None
        self.cert_data = None      # PEM text
        self.key_data = None
        self.tls_server_name = None
        self.proxy = None
        self.no_proxy = None
        self.proxy_headers = None
        self.username = None       # basic authentication (also the identity of the discovery cache)
        self.token = None
        self.token_file = None
        self.exec_plugin = None    # ExecPlugin
        self.token_source = None   # callable -> Authorization value (the kubernetes package's refresh)
        self._file_token = (None, 0.0)
        self._lock = threading.Lock()

    def authorization(self):
        """The Authorization header value, or None (client certificates only, or anonymous)."""
        if self.token:
            return self.token if " " in self.token else "Bearer %s" % self.token
        if self.token_file:
            return "Bearer %s" % self._read_token_file()
        if self.exec_plugin is not None:
            token = self.exec_plugin.credential().get("token")
            return "Bearer %s" % token if token else None
        if self.token_source is not None:
            return self.token_source()
        return None

    def exec_client_certificate(self):
        """(certificate PEM, key PEM) an exec plugin returned, or None."""
        if self.exec_plugin is None:
            return None
        status = self.exec_plugin.credential()
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            return status["clientCertificateData"], status["clientKeyData"]
        return None

    def can_refresh(self):
        return bool(self.token_file or self.exec_plugin is not None or self.token_source is not None)

    def refresh(self):
        """After a 401: read the token file again, run the exec plugin again."""
        self._file_token = (None, 0.0)
        if self.exec_plugin is not None:
            self.exec_plugin.forget()

    def _read_token_file(self):
        with self._lock:
            token, read_at = self._file_token
            if token is None or time.monotonic() - read_at > TOKEN_FILE_RELOAD:
                try:
                    with open(self.token_file) as handle:
                        token = handle.read().strip()
                except OSError as exc:
                    raise K8sError("cannot read the token file %s: %s" % (self.token_file, exc.strerror)) from None
                self._file_token = (token, time.monotonic())
            return token


class ExecPlugin:
    """A kubeconfig ``exec`` credential plugin: run it when a credential is needed, keep what it returned until
    its expirationTimestamp (or a 401)."""

    def __init__(self, spec, cluster=None, environ=None):
        self.spec = spec
        self.cluster = cluster
        self.environ = os.environ if environ is None else environ
        self._status = None
        self._expires = None
        self._lock = threading.Lock()
        api_version = spec.get("apiVersion")
        if api_version not in EXEC_API_VERSIONS:
            raise K8sError("exec credential plugin: apiVersion %r is not one of %s"
                           % (api_version, ", ".join(EXEC_API_VERSIONS)))
        if not spec.get("command"):
            raise K8sError("exec credential plugin: command is required")

    def forget(self):
        with self._lock:
            self._status = None

    def credential(self):
        with self._lock:
            if self._status is None or (self._expires is not None and time.time() >= self._expires):
                self._status = self._run()
            return self._status

    def _run(self):
        spec = self.spec
        info = {"apiVersion": spec["apiVersion"], "kind": "ExecCredential", "spec": {"interactive": False}}
        if spec.get("provideClusterInfo") and self.cluster:
            info["spec"]["cluster"] = self.cluster
        env = dict(self.environ)
        for item in spec.get("env") or []:
            if isinstance(item, dict) and item.get("name"):
                env[str(item["name"])] = str(item.get("value") or "")
        env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
        argv = [spec["command"], *[str(a) for a in spec.get("args") or []]]
        try:
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=EXEC_TIMEOUT, check=False)
        except FileNotFoundError:
            hint = spec.get("installHint")
            raise K8sError("exec credential plugin %s not found%s" % (
                spec["command"], ": %s" % one_line(hint) if hint else "")) from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise K8sError("exec credential plugin %s: %s" % (spec["command"], one_line(str(exc)))) from None
        if done.returncode != 0:
            err = one_line(done.stderr.decode("utf-8", "replace"))[-300:]
            raise K8sError("exec credential plugin %s exited with %d%s"
                           % (spec["command"], done.returncode, ": %s" % err if err else ""))
        try:
            credential = json.loads(done.stdout.decode("utf-8", "replace"))
            status = credential["status"]
            if not isinstance(status, dict):
                raise TypeError("status")
        except (ValueError, KeyError, TypeError):
            raise K8sError("exec credential plugin %s did not print an ExecCredential with a status"
                           % spec["command"]) from None
        if not status.get("token") and not (status.get("clientCertificateData") and status.get("clientKeyData")):
            raise K8sError("exec credential plugin %s returned neither a token nor a client certificate"
                           % spec["command"])
        self._expires = _parse_time(status.get("expirationTimestamp"))
        return status


def _parse_time(text):
    if not text:
        return None
    import datetime

    try:
        stamp = datetime.datetime.strptime(str(text).replace("Z", "+0000")[:19] + "+0000", "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    return stamp.timestamp() - 10  # ask again a little before it expires


# -- kubeconfig files ----------------------------------------------------------------------------------------------
PATH_KEYS = {"cluster": ("certificate-authority",), "user": ("client-certificate", "client-key", "tokenFile")}


def _named(config, section, item, base):
    """{name: entry} of one section; relative file paths of an entry made absolute against ``base``."""
    out = {}
    for entry in config.get(section) or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        body = entry.get(item)
        if not isinstance(body, dict):
            body = {}
        body = dict(body)
        if base is not None:
            for key in PATH_KEYS.get(item, ()):
                if isinstance(body.get(key), str) and body[key] and not os.path.isabs(body[key]):
                    body[key] = os.path.join(base, body[key])
            exec_spec = body.get("exec")
            if isinstance(exec_spec, dict) and isinstance(exec_spec.get("command"), str):
                command = exec_spec["command"]
                if os.sep in command and not os.path.isabs(command):
                    body["exec"] = dict(exec_spec, command=os.path.join(base, command))
        out[entry["name"]] = body
    return out


def _merge(configs):
    """Merge (config, base directory) pairs as client-go does: the first one that names something wins."""
    merged = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    for config, base in configs:
        if not isinstance(config, dict):
            continue
        for section, item in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for name, body in _named(config, section, item, base).items():
                merged[section].setdefault(name, body)
        if not merged["current-context"] and config.get("current-context"):
            merged["current-context"] = config["current-context"]
    return merged


def read_kubeconfig_files(paths):
    from ansible_collections.mlops.k8s.plugins.module_utils.safe_yaml import load_all

    configs = []
    for path in paths:
        if not os.path.exists(path):
            continue
        try:
            with open(path) as handle:
                docs = load_all(handle.read())
        except OSError as exc:
            raise K8sError("cannot read kubeconfig %s: %s" % (path, exc.strerror)) from None
        except Exception as exc:  # a YAML error: one line, the file named
            raise K8sError("cannot load Kubernetes configuration: kubeconfig %s is not valid YAML: %s"
                           % (path, one_line(str(exc)))) from None
        configs.append((docs[0] if docs else {}, os.path.dirname(os.path.abspath(path))))
    return _merge(configs)


def read_kubeconfig_dict(config):
    """An inline kubeconfig (a dict) merged as one file without a directory of its own."""
    return _merge([(config, None)])


def _data(value, what):
    try:
        return base64.b64decode(value).decode("utf-8")
    except (ValueError, TypeError, UnicodeDecodeError):
        raise K8sError("cannot load Kubernetes configuration: %s is not base64 PEM data" % what) from None


def settings_from_kubeconfig(merged, context=None, source="kubeconfig", environ=None):
    """Settings of ``context`` (default: the current context); None when its user needs the kubernetes package
    (an ``auth-provider``)."""
    name = context or merged.get("current-context")
    if not name:
        raise K8sError("cannot load Kubernetes configuration: the kubeconfig sets no current-context and no context "
                       "was given")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise K8sError("cannot load Kubernetes configuration: context %r is not in the kubeconfig" % name)
    cluster = merged["clusters"].get(ctx.get("cluster"))
    if cluster is None:
        raise K8sError("cannot load Kubernetes configuration: cluster %r of context %r is not in the kubeconfig"
                       % (ctx.get("cluster"), name))
    user = merged["users"].get(ctx.get("user")) or {}
    if user.get("auth-provider"):
        return None
    if not cluster.get("server"):
        raise K8sError("cannot load Kubernetes configuration: cluster %r has no server" % ctx.get("cluster"))
    settings = Settings(str(cluster["server"]).rstrip("/"), source)
    settings.verify_ssl = not cluster.get("insecure-skip-tls-verify")
    if cluster.get("certificate-authority-data"):
        settings.ca_data = _data(cluster["certificate-authority-data"], "certificate-authority-data")
    elif cluster.get("certificate-authority"):
        settings.ssl_ca_cert = cluster["certificate-authority"]
    settings.tls_server_name = cluster.get("tls-server-name") or None
    settings.proxy = cluster.get("proxy-url") or None
    if user.get("client-certificate-data"):
        settings.cert_data = _data(user["client-certificate-data"], "client-certificate-data")
    elif user.get("client-certificate"):
        settings.cert_file = user["client-certificate"]
    if user.get("client-key-data"):
        settings.key_data = _data(user["client-key-data"], "client-key-data")
    elif user.get("client-key"):
        settings.key_file = user["client-key"]
    if user.get("token"):
        settings.token = str(user["token"])
    elif user.get("tokenFile"):
        settings.token_file = user["tokenFile"]
    elif user.get("username") and user.get("password"):
        settings.username = str(user["username"])
        settings.token = basic_auth("%s:%s" % (user["username"], user["password"]))
    elif isinstance(user.get("exec"), dict):
        info = {"server": settings.host, "insecure-skip-tls-verify": not settings.verify_ssl}
        if cluster.get("certificate-authority-data"):
            info["certificate-authority-data"] = cluster["certificate-authority-data"]
        settings.exec_plugin = ExecPlugin(user["exec"], info, environ)
    return settings


def settings_in_cluster(environ):
    """The pod's service account: the API server of KUBERNETES_SERVICE_HOST/PORT, its token file (read again as
    it rotates) and CA."""
    host = environ["KUBERNETES_SERVICE_HOST"]
    port = environ.get("KUBERNETES_SERVICE_PORT") or "443"
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    token = os.path.join(SERVICE_ACCOUNT_DIR, "token")
    if not os.path.exists(token):
        raise K8sError("cannot load Kubernetes configuration: KUBERNETES_SERVICE_HOST is set but %s does not exist "
                       "(no service account token mounted)" % token)
    settings = Settings("https://%s:%s" % (host, port), "in-cluster service account")
    settings.token_file = token
    ca = os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt")
    if os.path.exists(ca):
        settings.ssl_ca_cert = ca
    return settings


def settings_from_library(auth, kubeconfig, context, source):
    """Read a kubeconfig with the kubernetes package (users with an ``auth-provider``): its Configuration, then
    the token through its refresh hook at each request."""
    try:
        import kubernetes
    except ImportError as exc:
        raise K8sError("this kubeconfig user has an auth-provider, which needs the kubernetes Python library: %s"
                       % exc) from None
    configuration = kubernetes.client.Configuration()
    kwargs = {"context": context, "client_configuration": configuration,
              "persist_config": bool(auth.get("persist_config"))}
    try:
        if isinstance(kubeconfig, dict):
            kubernetes.config.load_kube_config_from_dict(config_dict=kubeconfig, **kwargs)
        else:
            kubernetes.config.load_kube_config(config_file=kubeconfig, **kwargs)
    except Exception as exc:
        raise K8sError("cannot load Kubernetes configuration: %s" % one_line(str(exc))) from None
    settings = Settings(configuration.host, source)
    settings.verify_ssl = bool(configuration.verify_ssl)
    settings.ssl_ca_cert = configuration.ssl_ca_cert
    settings.cert_file = configuration.cert_file
    settings.key_file = configuration.key_file
    settings.proxy = configuration.proxy

    def token():
        hook = getattr(configuration, "refresh_api_key_hook", None)
        if hook is not None:
            hook(configuration)
        for name in ("BearerToken", "authorization"):
            value = (configuration.api_key or {}).get(name)
            if value:
                prefix = (configuration.api_key_prefix or {}).get(name)
                return "%s %s" % (prefix, value) if prefix else value
        return None

    settings.token_source = token
    return settings
