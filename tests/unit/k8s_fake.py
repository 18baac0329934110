"""A recorded-response Kubernetes API for unit tests: it replaces the urllib3 pool manager of a real
``kubernetes.client.ApiClient``, so the dynamic client, the REST layer and our K8sClient run unchanged.

It serves discovery for a few groups, GET/LIST/POST/DELETE and server-side apply (a simplified merge: maps merge,
lists are replaced) with ``dryRun=All``, a few validation errors as real ``Status`` bodies, and watch streams the
test queues. Every request is recorded in ``requests`` (method, path, query, body, dry_run).
"""

from __future__ import annotations

import copy
import io
import json
import threading
import urllib.parse

import urllib3

KINDS = {
    # group/version: [(kind, plural, namespaced)]
    "v1": [("Namespace", "namespaces", False), ("ConfigMap", "configmaps", True), ("Secret", "secrets", True),
           ("Service", "services", True), ("Pod", "pods", True), ("ServiceAccount", "serviceaccounts", True)],
    "apps/v1": [("Deployment", "deployments", True), ("StatefulSet", "statefulsets", True),
                ("DaemonSet", "daemonsets", True)],
    "apiextensions.k8s.io/v1": [("CustomResourceDefinition", "customresourcedefinitions", False)],
    "rbac.authorization.k8s.io/v1": [("ClusterRole", "clusterroles", False), ("Role", "roles", True)],
}


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


def deep_merge(base, patch):
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Body(io.BytesIO):
    """A response body that reports itself closed once read to the end, like a finished HTTP response."""

    def isclosed(self):
        return self.closed or self.tell() >= len(self.getbuffer())


class Request:
    def __init__(self, method, path, query, body):
        self.method = method
        self.path = path
        self.query = query
        self.body = body

    @property
    def dry_run(self):
        return self.query.get("dryRun") == "All"

    @property
    def is_write(self):
        return self.method in ("POST", "PUT", "PATCH", "DELETE") and not self.dry_run

    def __repr__(self):
        q = "&".join("%s=%s" % kv for kv in sorted(self.query.items()))
        return "%s %s%s" % (self.method, self.path, "?" + q if q else "")


class FakeCluster:
    def __init__(self):
        self.kinds = copy.deepcopy(KINDS)
        self.objects = {}  # (gv, plural, namespace, name) -> obj
        self.requests = []
        self.rv = 1000
        self.uid = 0
        self.watch_queue = []  # list of lists of events (dicts) or ("status", code, body)
        self.failures = []  # [method, path_fragment, status, body, headers, times]
        self.discovery_hits = 0  # discovery requests: /apis and the resource list of a group version
        self.lock = threading.RLock()  # one request at a time, as one object's writes are on a real server

    # -- test helpers ------------------------------------------------------------------------------------
    def add_kind(self, group_version, kind, plural, namespaced=True):
        self.kinds.setdefault(group_version, []).append((kind, plural, namespaced))

    def fail(self, method, fragment, status, *, body=None, headers=None, times=1):
        self.failures.append([method, fragment, status, body, headers or {}, times])

    def queue_watch(self, *events):
        """Queue one watch response: events are dicts {type, object} or a (status, body) tuple."""
        self.watch_queue.append(list(events))

    def writes(self):
        return [r for r in self.requests if r.is_write]

    def mark(self):
        return len(self.requests)

    def since(self, mark):
        return self.requests[mark:]

    def put(self, obj):
        """Store an object directly (as if created earlier by someone else)."""
        gv, plural, namespaced = self._locate(obj["apiVersion"], obj["kind"])
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        self._stamp(meta, fresh=True)
        ns = meta.get("namespace") if namespaced else None
        self.objects[(gv, plural, ns, meta["name"])] = obj
        return obj

    def get_obj(self, api_version, kind, name, namespace=None):
        gv, plural, namespaced = self._locate(api_version, kind)
        return self.objects.get((gv, plural, namespace if namespaced else None, name))

    def _locate(self, api_version, kind):
        for k, plural, namespaced in self.kinds[api_version]:
            if k == kind:
                return api_version, plural, namespaced
        raise KeyError(kind)

    def _stamp(self, meta, fresh=False):
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        if fresh:
            self.uid += 1
            meta.setdefault("uid", "uid-%04d" % self.uid)
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            meta.setdefault("generation", 1)

    # -- urllib3 PoolManager interface ---------------------------------------------------------------------
    def request(self, method, url, body=None, **kwargs):
        with self.lock:
            return self._request(method, url, body, **kwargs)

    def _request(self, method, url, body=None, **_kwargs):
        parsed = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        data = json.loads(body) if body else None
        req = Request(method, parsed.path, query, data)
        self.requests.append(req)
        for failure in self.failures:
            if failure[5] > 0 and failure[0] == method and failure[1] in parsed.path:
                failure[5] -= 1
                return self._response(failure[2], failure[3] or status_body(failure[2], "Injected", "injected"),
                                      failure[4])
        status, payload = self.handle(req)
        if isinstance(payload, (bytes, str)):
            return self._raw(status, payload)
        return self._response(status, payload)

    def clear(self):
        pass

    @staticmethod
    def _response(status, payload, headers=None):
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        return urllib3.HTTPResponse(body=_Body(json.dumps(payload).encode()), headers=hdrs, status=status,
                                    reason="OK" if status < 400 else "Error", preload_content=False)

    @staticmethod
    def _raw(status, payload):
        data = payload.encode() if isinstance(payload, str) else payload
        return urllib3.HTTPResponse(body=_Body(data), headers={"Content-Type": "application/json"},
                                    status=status, reason="OK", preload_content=False)

    # -- routing -------------------------------------------------------------------------------------------
    def handle(self, req):  # noqa: PLR0911 - a router
        path = req.path.rstrip("/")
        if path == "/version":
            return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            self.discovery_hits += 1
            groups = {}
            for gv in self.kinds:
                if "/" in gv:
                    group, version = gv.split("/")
                    groups.setdefault(group, []).append(version)
            return 200, {"kind": "APIGroupList", "groups": [
                {"name": g, "versions": [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": "%s/%s" % (g, vs[0]), "version": vs[0]}}
                for g, vs in groups.items()]}
        gv, rest = self._split(path)
        if gv is None:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            self.discovery_hits += 1
            if gv not in self.kinds:
                return 404, status_body(404, "NotFound", "the server could not find the requested resource")
            return 200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                for kind, plural, namespaced in self.kinds[gv]]}
        return self._objects(req, gv, rest)

    @staticmethod
    def _split(path):
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            return parts[1], parts[2:]
        if parts[0] == "apis" and len(parts) >= 3:
            return "%s/%s" % (parts[1], parts[2]), parts[3:]
        return None, None

    def _objects(self, req, gv, rest):  # noqa: PLR0911 - a router
        kinds = {plural: (kind, namespaced) for kind, plural, namespaced in self.kinds.get(gv, [])}
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, plural, name = rest[1], rest[2], (rest[3] if len(rest) > 3 else None)
        else:
            namespace, plural, name = None, rest[0], (rest[1] if len(rest) > 1 else None)
        if plural not in kinds:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource")
        kind, namespaced = kinds[plural]
        ctx = (gv, plural, kind, namespaced, namespace, name)
        if req.method == "GET" and req.query.get("watch") in ("True", "true", "1"):
            return self._watch()
        if req.method == "GET" and name:
            obj = self.objects.get((gv, plural, namespace, name))
            if obj is None:
                return 404, self._not_found(kind, plural, name)
            return 200, obj
        if req.method == "GET":
            return 200, self._list(req, ctx)
        if req.method == "PATCH":
            return self._apply(req, ctx)
        if req.method == "POST":
            return self._create(req, ctx)
        if req.method == "DELETE":
            return self._delete(req, ctx)
        return 405, status_body(405, "MethodNotAllowed", "method not allowed")

    @staticmethod
    def _not_found(kind, plural, name):
        return status_body(404, "NotFound", '%s "%s" not found' % (plural, name),
                           {"name": name, "kind": plural})

    def _list(self, req, ctx):
        gv, plural, kind, _namespaced, namespace, _name = ctx
        items = []
        wanted_name = None
        for term in filter(None, (req.query.get("fieldSelector") or "").split(",")):
            key, _sep, value = term.partition("=")
            if key == "metadata.name":
                wanted_name = value
        labels = [t.partition("=") for t in filter(None, (req.query.get("labelSelector") or "").split(","))]
        for (g, p, ns, name), obj in sorted(self.objects.items(), key=lambda kv: str(kv[0])):
            if g != gv or p != plural or (namespace and ns != namespace):
                continue
            if wanted_name and name != wanted_name:
                continue
            obj_labels = obj["metadata"].get("labels") or {}
            if any(obj_labels.get(k) != v for k, _op, v in labels):
                continue
            item = copy.deepcopy(obj)
            item.pop("apiVersion", None)
            item.pop("kind", None)
            items.append(item)
        return {"kind": kind + "List", "apiVersion": gv, "metadata": {"resourceVersion": str(self.rv)},
                "items": items}

    def _validate(self, kind, obj):
        if kind == "Deployment":
            replicas = (obj.get("spec") or {}).get("replicas")
            if isinstance(replicas, int) and replicas < 0:
                name = obj["metadata"]["name"]
                return 422, status_body(
                    422, "Invalid",
                    'Deployment.apps "%s" is invalid: spec.replicas: Invalid value: %d: must be greater than or '
                    "equal to 0" % (name, replicas),
                    {"name": name, "group": "apps", "kind": "Deployment", "causes": [
                        {"reason": "FieldValueInvalid", "message": "Invalid value: %d: must be greater than or "
                         "equal to 0" % replicas, "field": "spec.replicas"}]})
        return None

    def _apply(self, req, ctx):
        gv, plural, kind, namespaced, namespace, name = ctx
        body = req.body or {}
        if namespaced and ("v1", "namespaces", None, namespace) not in self.objects:
            return 404, status_body(404, "NotFound", 'namespaces "%s" not found' % namespace,
                                    {"name": namespace, "kind": "namespaces"})
        key = (gv, plural, namespace, name)
        live = self.objects.get(key)
        if live is None:
            new = copy.deepcopy(body)
            meta = new.setdefault("metadata", {})
            if namespaced:
                meta["namespace"] = namespace
            self._stamp(meta, fresh=True)
            self.rv -= 0
        else:
            new = deep_merge(live, body)
            if normalized(new) != normalized(live):
                self._stamp(new["metadata"])
                if new.get("spec") != live.get("spec"):
                    new["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
        if kind == "Secret" and "stringData" in new:
            import base64

            data = new.setdefault("data", {})
            for k, v in new.pop("stringData").items():
                data[k] = base64.b64encode(v.encode()).decode()
        new["metadata"]["managedFields"] = [{"manager": req.query.get("fieldManager"), "operation": "Apply",
                                             "time": "2026-01-01T00:00:%02dZ" % (len(self.requests) % 60)}]
        invalid = self._validate(kind, new)
        if invalid:
            return invalid
        if req.query.get("dryRun") == "All":
            if live is None:
                self.rv -= 1  # a dry run does not consume a version
            return 200 if live else 201, new
        self.objects[key] = new
        return (200 if live else 201), new

    def _create(self, req, ctx):
        gv, plural, _kind, namespaced, namespace, _name = ctx
        new = copy.deepcopy(req.body)
        meta = new.setdefault("metadata", {})
        if not meta.get("name"):
            self.uid += 0
            meta["name"] = "%sx%d" % (meta.get("generateName", "obj-"), len(self.objects) + 1)
        if namespaced:
            meta["namespace"] = namespace
        self._stamp(meta, fresh=True)
        if req.query.get("dryRun") != "All":
            self.objects[(gv, plural, namespace, meta["name"])] = new
        return 201, new

    def _delete(self, req, ctx):
        gv, plural, kind, _namespaced, namespace, name = ctx
        key = (gv, plural, namespace, name)
        obj = self.objects.get(key)
        if obj is None:
            return 404, self._not_found(kind, plural, name)
        uid = ((req.body or {}).get("preconditions") or {}).get("uid")
        if uid and uid != obj["metadata"].get("uid"):
            return 409, status_body(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object "
                                    "meta: %s" % (uid, obj["metadata"].get("uid")), {"name": name, "kind": plural})
        if req.query.get("dryRun") != "All":
            del self.objects[key]
        return 200, obj

    def _watch(self):
        if not self.watch_queue:
            return 200, b""
        events = self.watch_queue.pop(0)
        if events and isinstance(events[0], tuple):
            return events[0][0], events[0][1]
        return 200, "".join(json.dumps(e) + "\n" for e in events)


def normalized(obj):
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in ("resourceVersion", "managedFields", "generation"):
        meta.pop(key, None)
    out.pop("status", None)
    return out


def make_client(cluster, cache_file=None):
    """The collection's K8sClient and Transport, with ``cluster`` as its connection pool."""
    from ansible_collections.mlops.k8s.plugins.module_utils.client import K8sClient
    from ansible_collections.mlops.k8s.plugins.module_utils.kubeconfig import Settings
    from ansible_collections.mlops.k8s.plugins.module_utils.transport import Transport

    settings = Settings("https://fake.cluster.test:6443")
    settings.token = "unit-test-token"
    transport = Transport(settings, (10, 30), pool=cluster)
    return K8sClient(transport, cache_file=cache_file)
