"""Connection settings (args > env > kubeconfig > in-cluster), discovery cache, retries."""

from __future__ import annotations

import http.server
import json
import threading
import typing

import pytest
import yaml
from ansible_collections.mlops.k8s.plugins.module_utils import client as client_mod
from ansible_collections.mlops.k8s.plugins.module_utils import kubeconfig as kubeconfig_mod
from ansible_collections.mlops.k8s.plugins.module_utils import retries
from ansible_collections.mlops.k8s.plugins.module_utils.client import (
    build_client,
    build_settings,
    discovery_cache_file,
    resolve_auth,
)
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.kubeconfig import Settings
from k8s_fake import FakeCluster, make_client


def kubeconfig_dict(server_a="https://a.example:6443", server_b="https://b.example:6443"):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [
            {"name": "a", "cluster": {"server": server_a}},
            {"name": "b", "cluster": {"server": server_b, "insecure-skip-tls-verify": True}},
        ],
        "users": [{"name": "ua", "user": {"token": "token-a"}}, {"name": "ub", "user": {"token": "token-b"}}],
        "contexts": [
            {"name": "a", "context": {"cluster": "a", "user": "ua", "namespace": "models"}},
            {"name": "b", "context": {"cluster": "b", "user": "ub"}},
        ],
    }


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_dict()))
    return str(path)


# -- resolve_auth --------------------------------------------------------------------------------------------
def test_task_argument_wins_over_environment():
    env = {"K8S_AUTH_HOST": "https://env:6443", "K8S_AUTH_API_KEY": "env-token", "K8S_AUTH_CONTEXT": "b"}
    auth = resolve_auth({"host": "https://arg:6443", "api_key": None, "context": None}, env)
    assert auth == {"host": "https://arg:6443", "api_key": "env-token", "context": "b"}


def test_environment_names_and_types():
    env = {
        "K8S_AUTH_VERIFY_SSL": "no",
        "K8S_AUTH_SSL_CA_CERT": "/ca.pem",
        "K8S_AUTH_CERT_FILE": "/c.pem",
        "K8S_AUTH_CLIENT_KEY": "/k.pem",
        "K8S_AUTH_IMPERSONATE_GROUPS": "a, b,,c",
        "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "ua/1",
        "K8S_AUTH_PERSIST_CONFIG": "true",
        "K8S_AUTH_KUBECONFIG": "/kc",
    }
    auth = resolve_auth({}, env)
    assert auth == {
        "validate_certs": False, "ca_cert": "/ca.pem", "client_cert": "/c.pem", "client_key": "/k.pem",
        "impersonate_groups": ["a", "b", "c"], "proxy_headers": {"user_agent": "ua/1"}, "persist_config": True,
        "kubeconfig": "/kc",
    }
    # the option's own name is read before kubernetes.core's client-side name
    assert resolve_auth({}, {"K8S_AUTH_VALIDATE_CERTS": "1", "K8S_AUTH_VERIFY_SSL": "0"})["validate_certs"] is True
    # an explicit false argument is not overridden by the environment
    assert resolve_auth({"validate_certs": False}, {"K8S_AUTH_VERIFY_SSL": "yes"})["validate_certs"] is False


def test_bad_boolean_in_environment():
    with pytest.raises(K8sError, match="K8S_AUTH_VERIFY_SSL='maybe' is not a boolean"):
        resolve_auth({}, {"K8S_AUTH_VERIFY_SSL": "maybe"})


# -- build_configuration ---------------------------------------------------------------------------------------
def test_kubeconfig_file_current_context(kubeconfig):
    cfg = build_settings({"kubeconfig": kubeconfig}, environ={})
    assert cfg.host == "https://a.example:6443"
    assert cfg.authorization() == "Bearer token-a"
    assert cfg.verify_ssl is True
    assert kubeconfig in cfg.source


def test_kubeconfig_context_and_overrides(kubeconfig):
    cfg = build_settings({"kubeconfig": kubeconfig, "context": "b"}, environ={})
    assert cfg.host == "https://b.example:6443"
    assert cfg.verify_ssl is False  # insecure-skip-tls-verify of the kubeconfig is honoured when not set
    cfg = build_settings(
        {"kubeconfig": kubeconfig, "context": "b", "validate_certs": True, "host": "https://over:1/",
         "api_key": "arg-token"}, environ={})
    assert cfg.verify_ssl is True
    assert cfg.host == "https://over:1"
    assert cfg.authorization() == "Bearer arg-token"
    assert cfg.authorization() == "Bearer arg-token"


def test_kubeconfig_as_dict():
    cfg = build_settings({"kubeconfig": kubeconfig_dict(), "context": "b"}, environ={})
    assert cfg.host == "https://b.example:6443"
    assert cfg.source == "kubeconfig (inline dict)"


def test_kubeconfig_from_environment(kubeconfig):
    params = resolve_auth({}, {"K8S_AUTH_KUBECONFIG": kubeconfig, "K8S_AUTH_CONTEXT": "b"})
    cfg = build_settings(params, environ={})
    assert cfg.host == "https://b.example:6443"


def test_default_kubeconfig_variable(kubeconfig):
    cfg = build_settings({}, environ={"KUBECONFIG": kubeconfig})
    assert cfg.host == "https://a.example:6443"


def test_own_credentials_skip_kubeconfig(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("not: [valid")
    cfg = build_settings({"host": "https://h:6443", "api_key": "t"}, environ={"KUBECONFIG": str(broken)})
    assert (cfg.host, cfg.authorization(), cfg.source) == ("https://h:6443", "Bearer t", "task arguments")


def test_basic_auth_and_tls_files():
    cfg = build_settings(
        {"host": "https://h", "username": "u", "password": "p", "ca_cert": "/ca", "client_cert": "/c",
         "client_key": "/k", "proxy": "http://proxy:3128", "no_proxy": "localhost"}, environ={})
    assert cfg.authorization() == "Basic dTpw"
    assert (cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file) == ("/ca", "/c", "/k")
    assert (cfg.proxy, cfg.no_proxy) == ("http://proxy:3128", "localhost")


def test_in_cluster_when_no_kubeconfig(monkeypatch, tmp_path):
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("PEM")
    monkeypatch.setattr(kubeconfig_mod, "SERVICE_ACCOUNT_DIR", str(tmp_path))
    cfg = build_settings({}, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"})
    assert (cfg.host, cfg.source) == ("https://10.0.0.1:6443", "in-cluster service account")
    assert cfg.authorization() == "Bearer sa-token" and cfg.ssl_ca_cert == str(tmp_path / "ca.crt")
    (tmp_path / "token").write_text("rotated-token")  # projected tokens rotate: read again after a 401
    cfg.refresh()
    assert cfg.authorization() == "Bearer rotated-token"
    ipv6 = build_settings({}, environ={"KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert ipv6.host == "https://[fd00::1]:443"


def test_in_cluster_without_a_token_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(kubeconfig_mod, "SERVICE_ACCOUNT_DIR", str(tmp_path))
    with pytest.raises(K8sError, match="no service account token mounted"):
        build_settings({}, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})


def test_kubeconfig_wins_over_in_cluster(monkeypatch, kubeconfig):
    monkeypatch.setattr(client_mod, "settings_in_cluster", pytest.fail)
    cfg = build_settings({}, environ={"KUBECONFIG": kubeconfig, "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert cfg.host == "https://a.example:6443"


def test_no_settings_at_all():
    with pytest.raises(K8sError, match="no Kubernetes connection settings"):
        build_settings({}, environ={})


def test_missing_and_broken_kubeconfig(tmp_path):
    with pytest.raises(K8sError, match=r"kubeconfig file .*nope does not exist"):
        build_settings({"kubeconfig": str(tmp_path / "nope")}, environ={})
    with pytest.raises(K8sError, match=r"cannot load Kubernetes configuration: .*context"):
        build_settings({"kubeconfig": kubeconfig_dict(), "context": "missing"}, environ={})
    with pytest.raises(K8sError, match="kubeconfig must be a path or a dict"):
        build_settings({"kubeconfig": ["x"]}, environ={})


def test_retry_policy_is_set_once():
    retry = build_client({"host": "https://h", "api_key": "t"}, discovery_cache=False).transport.retry
    assert retry.total == retries.K8S_API_RETRIES
    assert set(retry.statuses) == {429, 500, 502, 503, 504}
    assert "PATCH" in retry.methods and "POST" not in retry.methods
    assert (retry.connect, retry.read, retry.retry_after_max) == (5, 2, 30)


def test_build_client_headers_and_cache_file(tmp_path):
    client = build_client({"host": "https://h:1", "api_key": "t", "impersonate_user": "alice",
                           "impersonate_groups": ["g1", "g2"]},
                          environ={"MLOPS_K8S_CACHE_DIR": str(tmp_path / "c")})
    assert client.transport.headers["Impersonate-User"] == "alice"
    groups = [("Impersonate-Group", "g1"), ("Impersonate-Group", "g2")]
    assert client.transport.repeated_headers == groups
    assert client.cache_file.startswith(str(tmp_path / "c"))
    other = build_client({"host": "https://h:1", "api_key": "other"}, environ={"MLOPS_K8S_CACHE_DIR": str(tmp_path)})
    assert other.cache_file != client.cache_file  # one cache per server + identity


def test_discovery_cache_file_location(tmp_path):
    cfg = Settings("https://h")
    path = discovery_cache_file(cfg, {}, environ={"XDG_CACHE_HOME": str(tmp_path)})
    assert path.startswith(str(tmp_path / "mlops.k8s" / "discovery"))
    assert path.endswith(".json")


# -- discovery ---------------------------------------------------------------------------------------------------
def discovery_requests(cluster, mark=0):
    return [r for r in cluster.since(mark) if r.path in ("/version", "/api", "/apis") or r.path.count("/") <= 3]


def test_discovery_is_cached_across_tasks(tmp_path):
    cache = str(tmp_path / "disc.json")
    cluster = FakeCluster()
    first = make_client(cluster, cache_file=cache)
    assert first.resource("apps/v1", "Deployment").kind == "Deployment"
    assert first.resource("v1", "ConfigMap").namespaced is True
    assert cluster.requests  # discovery happened
    mark = cluster.mark()
    second = make_client(cluster, cache_file=cache)  # the next task
    assert second.resource("apps/v1", "Deployment").namespaced is True
    assert second.resource("v1", "Namespace").namespaced is False
    assert cluster.since(mark) == []  # no discovery request at all


def test_a_core_kind_is_looked_up_in_the_core_group_only(tmp_path):
    """apiVersion v1 means /api/v1: reading the v1 version of every other group would cost a request each."""
    cluster = FakeCluster()
    cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")
    client = make_client(cluster, cache_file=str(tmp_path / "disc.json"))
    assert client.resource("v1", "ConfigMap").group_version == "v1"
    paths = [r.path for r in cluster.since(0)]
    assert "/api/v1" in paths
    assert not [p for p in paths if p.startswith("/apis/") and p.endswith("/v1")], paths


def test_unknown_kind_refreshes_discovery_once_then_fails(tmp_path):
    cache = str(tmp_path / "disc.json")
    cluster = FakeCluster()
    make_client(cluster, cache_file=cache).resource("apps/v1", "Deployment")
    cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")
    client = make_client(cluster, cache_file=cache)
    found = client.resource("machinelearning.seldon.io/v1", "SeldonDeployment")  # stale cache -> refreshed
    assert found.group_version == "machinelearning.seldon.io/v1"
    before = cluster.discovery_hits
    with pytest.raises(K8sError, match=r"^no kind Widget in apiVersion apps/v1 on this cluster$"):
        client.resource("apps/v1", "Widget")
    assert cluster.discovery_hits == before + 1
    assert client.find_resource("example.com/v1", "Gadget") is None


def test_resource_needs_both_names():
    with pytest.raises(K8sError, match="both apiVersion and kind are required"):
        make_client(FakeCluster()).resource(None, "Pod")


# -- K8sClient requests ----------------------------------------------------------------------------------------
def test_get_list_delete_return_plain_dicts(tmp_path):
    cluster = FakeCluster()
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    cluster.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "models",
                                                                       "labels": {"app": "x"}}})
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    cm = client.resource("v1", "ConfigMap")
    assert client.get(cm, "a", "models")["metadata"]["name"] == "a"
    assert client.get(cm, "missing", "models") is None
    listing = client.list(cm, "models", label_selector="app=x")
    assert [i["kind"] for i in listing["items"]] == ["ConfigMap"]  # list items get their kind back
    assert listing["metadata"]["resourceVersion"]
    assert client.delete(cm, "a", "models", propagation_policy="Background")["metadata"]["name"] == "a"
    delete = cluster.requests[-1]
    assert delete.method == "DELETE" and delete.body["propagationPolicy"] == "Background"
    assert client.delete(cm, "a", "models") is None  # already gone


def test_dry_run_delete_says_so_in_the_body(tmp_path):
    """kube-apiserver takes a DELETE's options from the body when there is one and then ignores ?dryRun=All:
    found on the real control plane, where check mode deleted a Secret. The body must carry dryRun."""
    cluster = FakeCluster()
    cluster.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "models"}})
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    cm = client.resource("v1", "ConfigMap")
    client.delete(cm, "a", "models", propagation_policy="Background", dry_run=True)
    assert cluster.requests[-1].body["dryRun"] == ["All"]
    client.delete(cm, "a", "models")
    assert "dryRun" not in cluster.requests[-1].body


def test_api_errors_are_k8s_errors(tmp_path):
    cluster = FakeCluster()
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    cm = client.resource("v1", "ConfigMap")
    cluster.fail("GET", "/configmaps/a", 403, body={"kind": "Status", "code": 403, "reason": "Forbidden",
                                                    "message": 'configmaps "a" is forbidden: User "bob" cannot get'})
    with pytest.raises(K8sError) as info:
        client.get(cm, "a", "models")
    assert str(info.value) == 'ConfigMap models/a: 403 Forbidden: configmaps "a" is forbidden: User "bob" cannot get'


# -- retries, through a real local HTTP server -----------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    plan: typing.ClassVar[list] = []
    seen: typing.ClassVar[list] = []

    def do_GET(self):
        self.seen.append(self.path)
        _Handler.headers = self.headers
        status, headers = self.plan.pop(0) if self.plan else (200, {})
        body = json.dumps({"major": "1", "minor": "31"} if status == 200 else
                          {"kind": "Status", "code": status, "reason": "Busy", "message": "try later"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(monkeypatch):
    monkeypatch.setattr(retries, "K8S_API_BACKOFF", 0)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    _Handler.plan = []
    yield server
    server.shutdown()
    server.server_close()


def test_transient_errors_are_retried(local_server):
    _Handler.plan = [(503, {}), (429, {"Retry-After": "0"}), (502, {})]
    client = build_client({"host": "http://127.0.0.1:%d" % local_server.server_port, "api_key": "t"},
                          discovery_cache=False)
    assert client.transport.request("GET", "/version") == {"major": "1", "minor": "31"}
    assert len(_Handler.seen) == 4


def test_each_impersonated_group_is_a_header_line_of_its_own(local_server):
    client = build_client({"host": "http://127.0.0.1:%d" % local_server.server_port, "api_key": "t",
                           "impersonate_user": "alice", "impersonate_groups": ["g1", "g2"]}, discovery_cache=False)
    client.transport.request("GET", "/version")
    assert _Handler.headers.get_all("Impersonate-Group") == ["g1", "g2"]
    assert _Handler.headers.get_all("Impersonate-User") == ["alice"]
    assert _Handler.headers.get_all("Authorization") == ["Bearer t"]


def test_retries_are_bounded(local_server):
    _Handler.plan = [(503, {})] * 20
    client = build_client({"host": "http://127.0.0.1:%d" % local_server.server_port, "api_key": "t"},
                          discovery_cache=False)
    with pytest.raises(K8sError, match=r"^version: 503 Busy: try later$"):
        client._call("version", "GET", "/version")
    assert len(_Handler.seen) == retries.K8S_API_RETRIES + 1


def test_a_proxy_carries_the_requests(local_server):
    """The local server plays the proxy: it is asked for the absolute URL (the target is never contacted)."""
    proxy = "http://127.0.0.1:%d" % local_server.server_port
    client = build_client({"host": "http://api.cluster.invalid:6443", "api_key": "t", "proxy": proxy},
                          discovery_cache=False)
    client.transport.request("GET", "/version")
    assert _Handler.seen == ["http://api.cluster.invalid:6443/version"]
    bypass = build_client({"host": "http://127.0.0.1:%d" % local_server.server_port, "api_key": "t",
                           "proxy": "http://127.0.0.1:9", "no_proxy": "localhost,127.0.0.1"}, discovery_cache=False)
    bypass.transport.request("GET", "/version")  # straight to the server: the proxy's port 9 is closed
    assert _Handler.seen[-1] == "/version"


@pytest.mark.parametrize(("host", "no_proxy", "bypass"), [
    ("https://api.example.com:6443", "example.com", True),
    ("https://api.example.com:6443", ".example.com", True),
    ("https://api.example.com:6443", "other.com, api.example.com:6443", True),
    ("https://api.example.com:6443", "api.example.com:443", False),
    ("https://notexample.com", "example.com", False),
    ("https://10.0.0.1", "*", True),
    ("https://10.0.0.1", "", False),
])
def test_no_proxy_matching(host, no_proxy, bypass):
    from ansible_collections.mlops.k8s.plugins.module_utils.transport import _bypass_proxy

    assert _bypass_proxy(host, no_proxy) is bypass


def test_stale_discovery_cache_is_refreshed_on_unknown_path(tmp_path):
    cache = str(tmp_path / "disc.json")
    cluster = FakeCluster()
    cluster.add_kind("machinelearning.seldon.io/v1", "SeldonDeployment", "seldondeployments")
    make_client(cluster, cache_file=cache).resource("machinelearning.seldon.io/v1", "SeldonDeployment")
    cluster.kinds.pop("machinelearning.seldon.io/v1")  # the CRD was removed; the cache still lists the kind
    client = make_client(cluster, cache_file=cache)
    sdep = client.resource("machinelearning.seldon.io/v1", "SeldonDeployment")
    assert client.get(sdep, "iris", "models") is None  # the object cannot exist
    hits = cluster.discovery_hits
    with pytest.raises(K8sError, match=r"^no kind SeldonDeployment in apiVersion machinelearning.seldon.io/v1 on "
                                       r"this cluster \(discovery was refreshed\)$"):
        client.apply(sdep, {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
                            "metadata": {"name": "iris", "namespace": "models"}})
    assert cluster.discovery_hits == hits  # refreshed once already, by the get
    assert make_client(cluster, cache_file=cache).find_resource("machinelearning.seldon.io/v1",
                                                                "SeldonDeployment") is None


def test_discovery_cache_is_written_atomically(tmp_path):
    cache = tmp_path / "disc.json"
    make_client(FakeCluster(), cache_file=str(cache)).resource("apps/v1", "Deployment")
    assert json.loads(cache.read_text())["groups"]["apps/v1"]
    assert [p.name for p in tmp_path.iterdir()] == ["disc.json"]


# -- timeouts (issue 15) ----------------------------------------------------------------------------------------
class _Pool:
    """A pool that records each request's timeout and answers from a FakeCluster."""

    def __init__(self):
        self.cluster = FakeCluster()
        self.timeouts = []

    def request(self, method, url, **kwargs):
        self.timeouts.append((kwargs["timeout"].connect_timeout, kwargs["timeout"].read_timeout))
        return self.cluster.request(method, url, **kwargs)


def test_every_request_carries_the_request_timeout():
    client = build_client({"host": "http://127.0.0.1:9", "api_key": "t", "request_timeout": 7}, discovery_cache=False)
    assert client.timeouts == (7, 7)
    client.transport.pool = pool = _Pool()
    cm = client.resource("v1", "ConfigMap")  # discovery too
    client.get(cm, "a", "models")
    assert pool.timeouts == [(7, 7), (7, 7)]
    list(client.watch(cm, namespace="models", timeout=20))  # a watch reads for as long as it lasts, and then some
    assert pool.timeouts[-1] == (7, 30)
    client = build_client({"host": "http://127.0.0.1:9", "api_key": "t"}, discovery_cache=False)
    client.transport.pool = pool = _Pool()
    client.transport.request("GET", "/version")
    assert pool.timeouts == [(client_mod.CONNECT_TIMEOUT, client_mod.DEFAULT_REQUEST_TIMEOUT)]


# -- the discovery cache is never a shared, predictable file (issue 15) ----------------------------------------
def test_no_cache_rather_than_the_shared_temporary_directory(tmp_path, monkeypatch):
    import os
    import tempfile

    cfg = Settings("https://h")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert discovery_cache_file(cfg, {}, environ={"MLOPS_K8S_CACHE_DIR": str(blocker / "sub")}) is None
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 - the unsafe directory under test
    assert discovery_cache_file(cfg, {}, environ={"MLOPS_K8S_CACHE_DIR": str(shared)}) is None
    private = discovery_cache_file(cfg, {}, environ={"MLOPS_K8S_CACHE_DIR": str(tmp_path / "private")})
    assert private.startswith(str(tmp_path / "private")) and (os.stat(tmp_path / "private").st_mode & 0o777) == 0o700

    # a client without a cache file reads and writes nothing in the temporary directory
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    client = make_client(FakeCluster(), cache_file=None)
    assert client.resource("apps/v1", "Deployment").kind == "Deployment"
    client.invalidate_discovery()
    assert list(temp.iterdir()) == []


# -- exec credential plugins (as aws eks get-token) -----------------------------------------------------------
def _plugin(tmp_path, body):
    script = tmp_path / "plugin"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_an_exec_plugin_runs_once_and_again_after_a_401(local_server, tmp_path):
    counter = tmp_path / "runs"
    command = _plugin(tmp_path, 'echo "$KUBERNETES_EXEC_INFO" > %s/info\n'
                                'n=$(( $(cat %s 2>/dev/null || echo 0) + 1 )); echo $n > %s\n'
                                'printf \'{"apiVersion": "client.authentication.k8s.io/v1beta1", '
                                '"kind": "ExecCredential", "status": {"token": "exec-token-%%s"}}\' $n\n'
                                % (tmp_path, counter, counter))
    config = kubeconfig_dict(server_a="http://127.0.0.1:%d" % local_server.server_port)
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command,
                                           "provideClusterInfo": True}}
    client = build_client({"kubeconfig": config}, environ={}, discovery_cache=False)
    client.transport.request("GET", "/version")
    client.transport.request("GET", "/version")
    assert _Handler.headers.get_all("Authorization") == ["Bearer exec-token-1"] and counter.read_text().strip() == "1"
    info = json.loads((tmp_path / "info").read_text())
    assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == config["clusters"][0]["cluster"]["server"]
    _Handler.plan = [(401, {})]  # the token expired on the server's side
    client.transport.request("GET", "/version")
    assert _Handler.headers.get_all("Authorization") == ["Bearer exec-token-2"]


def test_an_exec_plugin_that_is_missing_or_fails_says_why(tmp_path):
    config = kubeconfig_dict()
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                           "command": str(tmp_path / "absent"), "installHint": "install it: brew"}}
    with pytest.raises(K8sError, match=r"exec credential plugin .*absent not found: install it: brew"):
        build_settings({"kubeconfig": config}, environ={}).authorization()
    config["users"][0]["user"]["exec"]["command"] = _plugin(tmp_path, "echo nope >&2\nexit 2\n")
    with pytest.raises(K8sError, match=r"exited with 2: nope"):
        build_settings({"kubeconfig": config}, environ={}).authorization()
    config["users"][0]["user"]["exec"]["command"] = _plugin(tmp_path, "echo '{}'\n")
    with pytest.raises(K8sError, match="did not print an ExecCredential"):
        build_settings({"kubeconfig": config}, environ={}).authorization()
    config["users"][0]["user"]["exec"]["apiVersion"] = "client.authentication.k8s.io/v1alpha1"
    with pytest.raises(K8sError, match=r"apiVersion 'client\.authentication\.k8s\.io/v1alpha1' is not one of"):
        build_settings({"kubeconfig": config}, environ={})


def test_merged_kubeconfig_files_and_relative_paths(tmp_path):
    first = tmp_path / "a" / "config"
    first.parent.mkdir()
    first.write_text(yaml.safe_dump({"current-context": "one", "clusters": [
        {"name": "c1", "cluster": {"server": "https://one:6443", "certificate-authority": "ca.crt"}}],
        "contexts": [{"name": "one", "context": {"cluster": "c1", "user": "u1"}}],
        "users": [{"name": "u1", "user": {"client-certificate": "u.crt", "client-key": "/abs/u.key"}}]}))
    second = tmp_path / "b"
    second.write_text(yaml.safe_dump({"current-context": "two", "clusters": [
        {"name": "c1", "cluster": {"server": "https://ignored:6443"}},
        {"name": "c2", "cluster": {"server": "https://two:6443"}}],
        "contexts": [{"name": "two", "context": {"cluster": "c2", "user": "u2"}}],
        "users": [{"name": "u2", "user": {"token": "t2"}}]}))
    both = "%s:%s" % (first, second)
    one = build_settings({"kubeconfig": both}, environ={})
    assert one.host == "https://one:6443"  # the first file's current-context and cluster win
    assert one.ssl_ca_cert == str(tmp_path / "a" / "ca.crt") and one.cert_file == str(tmp_path / "a" / "u.crt")
    assert one.key_file == "/abs/u.key"
    two = build_settings({"kubeconfig": both, "context": "two"}, environ={})
    assert (two.host, two.authorization()) == ("https://two:6443", "Bearer t2")


def test_an_auth_provider_user_is_read_by_the_kubernetes_package(monkeypatch):
    config = kubeconfig_dict()
    config["users"][0]["user"] = {"auth-provider": {"name": "oidc", "config": {"id-token": "oidc-token"}}}
    seen = []
    monkeypatch.setattr(kubeconfig_mod, "settings_from_library",
                        lambda auth, kubeconfig, context, source: seen.append((kubeconfig, context)) or Settings("h"))
    monkeypatch.setattr(client_mod, "settings_from_library", kubeconfig_mod.settings_from_library)
    assert build_settings({"kubeconfig": config}, environ={}).host == "h"
    assert seen == [(config, None)]
