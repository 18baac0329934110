"""Every HTTP call of the collection has a timeout: an AST walk over the call sites of ``plugins/**/*.py``.

A call site is one of:

* ``url``: ``open_url``, ``fetch_url``, ``urlopen`` or an injected ``opener`` (predictions) -> ``timeout=``;
* ``requests``: ``requests.get/post/...`` -> ``timeout=``;
* ``botocore-config``: ``Config(...)`` of a boto3 client -> ``connect_timeout=`` and ``read_timeout=``;
* ``boto3-client``: ``<session or boto3>.client("<service>", ...)`` -> ``config=`` (which carries the timeouts);
* ``k8s-api``: a method of a generated Kubernetes API object (``kubernetes.client.CoreV1Api(...)``) ->
  ``_request_timeout=``;
* ``dynamic``: a call of the dynamic client (one with ``serializer=``, a ``resource.get/create/...`` call, or a
  ``watch.stream``) -> ``_request_timeout=``, or ``**kwargs`` whose dict gets a ``_request_timeout`` key in the
  same function;
* ``api-client``: a ``kubernetes.client.ApiClient(...)`` -> built inside ``with_request_defaults(...)``, which gives
  the requests the dynamic client makes on its own (discovery) a timeout;
* ``urllib3``: ``<...>.pool.request(...)`` / ``pool.request(...)`` (the client's transport, predictions) ->
  ``timeout=``, or a ``PoolManager``/``ProxyManager`` built in the same function from a dict given a
  ``"timeout"`` key.

A new call site without its timeout makes ``test_every_http_call_in_plugins_has_a_timeout`` fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"

URL_OPENERS = {"open_url", "fetch_url", "urlopen", "opener"}
REQUESTS_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "request"}
DYNAMIC_VERBS = {"get", "create", "delete", "patch", "replace", "server_side_apply", "watch"}
K8S_TIMEOUT = "_request_timeout"


def _name(node):
    """``a.b.c`` of a Name/Attribute chain ('' for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _name(node.value)
        return "%s.%s" % (inner, node.attr) if inner else node.attr
    return ""


def _keywords(call):
    return {k.arg for k in call.keywords if k.arg}


def _star_kwargs(call):
    return [k.value.id for k in call.keywords if k.arg is None and isinstance(k.value, ast.Name)]


def _dict_gets_key(function, name, key):
    """Whether, in ``function``, the dict ``name`` is given ``key``: literal, subscript, setdefault or update."""
    for node in ast.walk(function):
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
                and isinstance(node.value, ast.Dict)
                and any(isinstance(k, ast.Constant) and k.value == key for k in node.value.keys)):
            return True
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (isinstance(target, ast.Subscript) and _name(target.value) == name
                        and isinstance(target.slice, ast.Constant) and target.slice.value == key):
                    return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _name(node.func.value) == name
                and node.func.attr in ("setdefault", "update") and node.args):
            first = node.args[0]
            if isinstance(first, ast.Constant) and first.value == key:
                return True
            if isinstance(first, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == key for k in first.keys):
                return True
    return False


def _has_k8s_timeout(call, function):
    if K8S_TIMEOUT in _keywords(call):
        return True
    return any(_dict_gets_key(function, name, K8S_TIMEOUT) for name in _star_kwargs(call))


def _is_watch_stream(call):
    """``watcher.stream(resource.get, ...)`` (a watch of the kubernetes package), not a response's ``stream(n)``."""
    return (isinstance(call.func, ast.Attribute) and call.func.attr == "stream" and bool(call.args)
            and isinstance(call.args[0], ast.Attribute))


def _pool_has_timeout(function):
    """Whether ``function`` builds a pool from keyword arguments that carry a timeout."""
    return any(isinstance(node, ast.Call) and _name(node.func).rpartition(".")[2] in ("PoolManager", "ProxyManager")
               and ("timeout" in _keywords(node) or any(_dict_gets_key(function, n, "timeout")
                                                        for n in _star_kwargs(node)))
               for node in ast.walk(function))


def _api_objects(function):
    """Names bound to a generated Kubernetes API object (``x = kubernetes.client.CoreV1Api(...)``) in ``function``."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            callee = _name(node.value.func).rpartition(".")[2]
            if callee.endswith("Api") and callee[:1].isupper() and callee != "ApiClient":
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


class _Walker(ast.NodeVisitor):
    def __init__(self, path):
        self.path = path
        self.functions = []
        self.parents = []
        self.sites = []  # (kind, line, problem or None)

    def generic_visit(self, node):
        self.parents.append(node)
        super().generic_visit(node)
        self.parents.pop()

    def visit_FunctionDef(self, node):
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _site(self, kind, call, problem):
        self.sites.append((kind, "%s:%d" % (self.path, call.lineno), problem))

    def visit_Call(self, node):  # noqa: PLR0912 - one branch per kind of call site
        function = self.functions[-1] if self.functions else None
        full = _name(node.func)
        last = full.rpartition(".")[2]
        kwargs = _keywords(node)
        if last in URL_OPENERS:
            self._site("url", node, None if "timeout" in kwargs else "%s() without timeout=" % full)
        elif full.partition(".")[0] == "requests" and last in REQUESTS_VERBS:
            self._site("requests", node, None if "timeout" in kwargs else "%s() without timeout=" % full)
        elif last == "Config":
            missing = {"connect_timeout", "read_timeout"} - kwargs
            self._site("botocore-config", node, "Config() without %s" % ", ".join(sorted(missing)) if missing else None)
        elif (last == "client" and isinstance(node.func, ast.Attribute) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            self._site("boto3-client", node, None if "config" in kwargs else "%s(%r) without config=" % (
                full, node.args[0].value))
        elif last == "ApiClient":
            parent = self.parents[-1] if self.parents else None
            wrapped = isinstance(parent, ast.Call) and _name(parent.func).rpartition(".")[2] == "with_request_defaults"
            self._site("api-client", node, None if wrapped else "ApiClient() not wrapped in with_request_defaults()")
        elif function is not None and isinstance(node.func, ast.Attribute) and \
                _name(node.func.value) in _api_objects(function):
            self._site("k8s-api", node, None if _has_k8s_timeout(node, function) else
                       "%s() without %s=" % (full, K8S_TIMEOUT))
        elif last == "request" and isinstance(node.func, ast.Attribute) and \
                _name(node.func.value).rpartition(".")[2] in ("pool", "_pool"):
            ok = "timeout" in kwargs or any(_pool_has_timeout(f) for f in self.functions)  # the enclosing ones
            self._site("urllib3", node, None if ok else "%s() without timeout=" % full)
        elif function is not None and ("serializer" in kwargs or _is_watch_stream(node) or (
                isinstance(node.func, ast.Attribute) and _name(node.func.value).rpartition(".")[2] == "resource"
                and last in DYNAMIC_VERBS)):
            self._site("dynamic", node, None if _has_k8s_timeout(node, function) else
                       "%s() without %s=" % (full, K8S_TIMEOUT))
        self.generic_visit(node)


def http_call_sites(source, path="<sample>"):
    """[(kind, where, problem or None)] for every HTTP call site of a Python source."""
    walker = _Walker(path)
    walker.visit(ast.parse(source))
    return walker.sites


def problems(source, path="<sample>"):
    return ["%s: %s" % (where, problem) for _kind, where, problem in http_call_sites(source, path) if problem]


def test_every_http_call_in_plugins_has_a_timeout():
    sites, found = [], []
    for path in sorted(PLUGINS.rglob("*.py")):
        rel = str(path.relative_to(PLUGINS.parent))
        for kind, where, problem in http_call_sites(path.read_text(encoding="utf-8"), rel):
            sites.append((kind, where))
            if problem:
                found.append("%s: %s" % (where, problem))
    assert found == [], "HTTP calls without a timeout:\n" + "\n".join(found)
    # the walk really sees the collection's call sites (it cannot pass by finding nothing)
    kinds = {kind for kind, _where in sites}
    assert {"url", "botocore-config", "boto3-client", "urllib3"} <= kinds, sites
    wheres = {where.rpartition(":")[0] for kind, where in sites}
    assert {"plugins/module_utils/transport.py", "plugins/module_utils/predict.py", "plugins/module_utils/s3.py",
            "plugins/module_utils/predict_http.py"} <= wheres


@pytest.mark.parametrize(("source", "expected"), [
    ("def f(url):\n    return open_url(url, data=b'x')\n", "open_url() without timeout="),
    ("def f(opener, url):\n    return opener(url, method='POST')\n", "opener() without timeout="),
    ("import urllib.request\ndef f(u):\n    return urllib.request.urlopen(u)\n", "urlopen() without timeout="),
    ("import requests\ndef f(u):\n    return requests.post(u, json={})\n", "requests.post() without timeout="),
    ("from botocore.config import Config\ndef f():\n    return Config(retries={'max_attempts': 3})\n",
     "Config() without connect_timeout, read_timeout"),
    ("def f(session):\n    return session.client('s3', endpoint_url='http://x')\n", "without config="),
    ("import kubernetes\ndef f(client):\n    api = kubernetes.client.CoreV1Api(client.api_client)\n"
     "    return api.read_namespaced_pod_log('p', 'ns')\n", "api.read_namespaced_pod_log() without _request_timeout="),
    ("def f(func, **kwargs):\n    return func(serializer=None, **kwargs)\n", "func() without _request_timeout="),
    ("def f(resource):\n    return resource.get(name='a', namespace='b')\n",
     "resource.get() without _request_timeout="),
    ("def f(watcher, resource):\n    kwargs = {'timeout_seconds': 5}\n"
     "    return watcher.stream(resource.get, **kwargs)\n",
     "watcher.stream() without _request_timeout="),
    ("import kubernetes\ndef f(c):\n    return kubernetes.client.ApiClient(c)\n",
     "not wrapped in with_request_defaults"),
    ("def f(self, url):\n    return self.pool.request('GET', url, retries=False)\n",
     "self.pool.request() without timeout="),
    ("import urllib3\ndef f(url):\n    pool = urllib3.PoolManager(maxsize=2)\n    return pool.request('GET', url)\n",
     "pool.request() without timeout="),
])
def test_the_walk_finds_a_call_without_a_timeout(source, expected):
    found = problems(source)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("source", [
    "def f(url):\n    return open_url(url, data=b'x', timeout=5)\n",
    "import requests\ndef f(u):\n    return requests.post(u, json={}, timeout=(3, 10))\n",
    "from botocore.config import Config\ndef f():\n    return Config(connect_timeout=5, read_timeout=60)\n",
    "def f(session, config):\n    return session.client('s3', config=config)\n",
    "import kubernetes\ndef f(client):\n    api = kubernetes.client.CoreV1Api(client.api_client)\n"
    "    return api.read_namespaced_pod_log('p', 'ns', _request_timeout=(1, 2))\n",
    "def f(func, **kwargs):\n    kwargs.setdefault('_request_timeout', (1, 2))\n"
    "    return func(serializer=None, **kwargs)\n",
    "def f(watcher, resource):\n    kwargs = {'_request_timeout': (1, 2)}\n"
    "    return watcher.stream(resource.get, **kwargs)\n",
    "import kubernetes\ndef f(c, t):\n    return with_request_defaults(kubernetes.client.ApiClient(c), t)\n",
    "def f(d):\n    return d.get('a'), {}.get('b')\n",  # not HTTP calls
    "def f(self, url, t):\n    return self.pool.request('GET', url, timeout=t)\n",
    "import urllib3\ndef f(url, t):\n    kwargs = {'maxsize': 2, 'timeout': t}\n"
    "    pool = urllib3.PoolManager(**kwargs)\n    return pool.request('GET', url)\n",
])
def test_the_walk_accepts_calls_with_a_timeout(source):
    assert problems(source) == []
