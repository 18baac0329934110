"""Request dispatch: authentication, routing to discovery / openapi / resources, and the audit record."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from ..machinery.http import Response
from . import discovery, openapi, proxy, subresources, tables, watch
from .audit import Audit
from .auth import ADMIN, Authenticator
from .errors import ApiError, bad_request, method_not_allowed, status
from .kinds import Kind, Registry
from .objects import Ctx, Objects, parse_body
from .rbac import RequestAttributes
from .request import Request
from .reviews import review
from .routing import Target, parse_resource_path
from .store import Store

log = logging.getLogger("sandbox.apiserver")
MAX_BODY = 3 * 1024 * 1024
NOT_FOUND = "the server could not find the requested resource"
PROXY_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class App:
    def __init__(self, registry: Registry, store: Store, objects: Objects, auth: Authenticator, audit: Audit, *,
                 server_address: str = "127.0.0.1:0"):
        self.registry, self.store, self.objects, self.auth, self.audit = registry, store, objects, auth, audit
        self.server_address = server_address
        self.stopping = threading.Event()
        # (namespace, pod, query) -> log text; replaced by the controllers that run pods
        self.pod_logs: Callable[[str, str, dict], str] = lambda ns, name, query: ""
        # sandbox components (sandbox/faults.py, controllers): hook(req) -> Response to answer early (or raise
        # ConnectionAbortedError to drop the connection); admin_routes "/sandbox/v1/x" -> fn(req) -> Response
        self.request_hooks: list[Callable[[Request], Response | None]] = []
        self.admin_routes: dict[str, Callable[[Request], Response]] = {}
        self.admin_routes["/sandbox/v1/stats"] = self._stats_route
        # where a pod's address really listens: (namespace, pod, ip, port) -> (host, port); the controllers point
        # it at their endpoints registry (the proxy subresources dial through it)
        self.dial: Callable[[str, str, str, int], tuple[str, int]] = lambda ns, pod, ip, port: (ip, port)

    def _stats_route(self, req: Request) -> Response:
        return Response(200, {"resourceVersion": self.store.rv, "watchers": self.store.watcher_count,
                              "watchersByNamespace": self.store.watchers_by_namespace(),
                              "threads": threading.active_count()})

    # ------------------------------------------------------------------ entry
    def handle(self, method: str, raw_path: str, headers: dict, body: bytes, *,
               client_cert: tuple[str, tuple[str, ...]] | None = None) -> Response:
        url = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        req = Request(method, url.path or "/", query, headers, body, verb=method.lower(), raw_query=url.query,
                      client_cert=client_cert)
        try:
            resp = next((r for r in (h(req) for h in self.request_hooks) if r is not None), None) or self._route(req)
        except ConnectionError:
            raise
        except ApiError as e:
            resp = Response(e.code, e.body)
        except Exception:
            log.exception("internal error on %s %s", method, raw_path)
            resp = Response(500, status(500, "Internal error occurred: unexpected server error", "InternalError"))
        self.audit.record(user=req.user.name if req.user else None, verb=req.verb, method=method, path=req.path,
                          query=url.query, dry_run=query.get("dryRun") == "All", status=resp.code)
        return resp

    def _route(self, req: Request) -> Response:
        path = req.path
        if path.rstrip("/") in ("/healthz", "/readyz", "/livez") or path.startswith(("/healthz/", "/readyz/",
                                                                                       "/livez/")):
            req.verb = "get"
            return Response(200, "ok", "text/plain; charset=utf-8")
        if path.rstrip("/") == "/version":
            req.verb = "get"
            return Response(200, discovery.version_info())
        req.user = self.auth.authenticate(req.headers.get("authorization"), req.client_cert)
        req.user = self.auth.impersonate(req.user, req.headers)
        if path.startswith("/sandbox/v1/"):
            req.verb = req.method.lower()
            return self._admin(req)
        target = parse_resource_path(path)
        if target is None or target.plural is None:
            if req.method not in ("GET", "HEAD"):
                raise method_not_allowed()
            req.verb = "get"
            if path.rstrip("/") in ("/api", "/apis") and discovery.wants_aggregated(req.headers.get("accept", "")):
                return Response(200, discovery.aggregated(self.registry, path.rstrip("/") == "/api"),
                                content_type=discovery.AGGREGATED)
            return self._nonresource(path, target)
        return self._resource(req, target)

    # --------------------------------------------------------------- non-resource
    def _admin(self, req: Request) -> Response:
        if req.user is not ADMIN:
            raise ApiError(403, f'forbidden: User "{req.user.name}" cannot get path "{req.path}"', "Forbidden")
        if req.path.rstrip("/") == "/sandbox/v1/audit":
            try:
                since = int(req.query.get("since") or 0)
            except ValueError as e:
                raise bad_request("since must be an integer") from e
            items, last = self.audit.since(since)
            return Response(200, {"items": items, "last": last})
        for prefix, route in self.admin_routes.items():
            if req.path.rstrip("/") == prefix or req.path.startswith(prefix + "/"):
                return route(req)
        raise ApiError(404, NOT_FOUND, "NotFound")

    def _nonresource(self, path: str, target: Target | None) -> Response:
        p = path.rstrip("/") or "/"
        doc = None
        if p == "/api":
            doc = discovery.api_versions(self.server_address)
        elif p == "/apis":
            doc = discovery.api_groups(self.registry)
        elif p.startswith("/openapi/"):
            doc = openapi.document(self.registry, p)
        elif target is not None:
            doc = discovery.resource_list(self.registry, target.group, target.version)
        elif p.startswith("/apis/") and p.count("/") == 2:
            doc = discovery.api_group(self.registry, p.split("/")[2])
        elif p == "/":
            doc = {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"]}
        if doc is None:
            raise ApiError(404, NOT_FOUND, "NotFound")
        return Response(200, doc)

    # --------------------------------------------------------------- resources
    def _resource(self, req: Request, t: Target) -> Response:
        kind = self.registry.get(t.group, t.version, t.plural)
        if kind is None and t.group and t.group not in self.registry.groups():
            # a group/version nobody serves: kube-apiserver's mux answers in plain text
            return Response(404, "404 page not found\n", content_type="text/plain; charset=utf-8")
        if kind is None or (t.namespace is not None and not kind.namespaced) or \
                (t.sub and t.sub not in kind.subresources):
            raise ApiError(404, NOT_FOUND, "NotFound", {})
        if t.sub == "proxy":
            return self._proxy(req, kind, t)
        req.verb = verb = self._verb(req.method, t, t.legacy_watch or req.query.get("watch") in ("true", "1"))
        if verb not in kind.verbs and not t.sub:
            raise method_not_allowed()
        ns = t.namespace or ""
        if kind.namespaced and not ns and (t.name or verb in ("create", "deletecollection")):
            raise ApiError(404, NOT_FOUND, "NotFound")
        self.auth.authorize(req.user, RequestAttributes(verb=verb, group=kind.group, resource=kind.plural,
                                                        subresource=t.sub, namespace=ns, name=t.name or ""))
        dry = req.query.get("dryRun")
        if dry not in (None, "", "All"):
            opts = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions",
                    "DELETE": "DeleteOptions"}.get(req.method, "CreateOptions")
            why = f'Unsupported value: ["{dry}"]: supported values: "All"'
            raise ApiError(422, f'{opts}.meta.k8s.io "" is invalid: dryRun: {why}', "Invalid", {
                "group": "meta.k8s.io", "kind": opts, "causes": [
                    {"reason": "FieldValueNotSupported", "message": why, "field": "dryRun"}]})
        validation = req.query.get("fieldValidation")
        if validation not in (None, "", "Strict", "Warn", "Ignore"):
            raise bad_request(f'Invalid value: "{validation}": fieldValidation must be one of "Ignore", "Warn", '
                              'or "Strict"')
        ctx = Ctx(req.user, req.query, req.headers.get("user-agent", ""))
        if t.sub:
            resp = subresources.handle(self, req, kind, t, ctx)
        else:
            resp = getattr(self, "_" + verb)(req, kind, ns, t.name, ctx)
        if ctx.warnings:
            resp.headers["Warning"] = ", ".join('299 - "%s"' % w.replace("\\", "\\\\").replace('"', '\\"')
                                                for w in ctx.warnings)
        return resp

    def _proxy(self, req: Request, kind: Kind, t: Target) -> Response:
        """services/proxy, pods/proxy: authorized as <verb of the method> on <plural>/proxy, the name as sent
        (``[scheme:]name[:port]``), like kube-apiserver's RequestInfo."""
        verb = PROXY_VERBS.get(req.method)
        if verb is None:
            raise method_not_allowed()
        req.verb = verb
        self.auth.authorize(req.user, RequestAttributes(verb=verb, group=kind.group, resource=kind.plural,
                                                        subresource="proxy", namespace=t.namespace or "",
                                                        name=t.name or ""))
        return proxy.handle(self, req, kind.plural, t.namespace or "", t.name or "", t.proxy_path)

    @staticmethod
    def _verb(method: str, t: Target, is_watch: bool) -> str:
        if method in ("GET", "HEAD"):
            return "watch" if is_watch else ("get" if t.name else "list")
        verbs = {"POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete" if t.name else "deletecollection"}
        if method not in verbs or (method == "POST" and t.name and not t.sub) or \
                (method in ("PUT", "PATCH") and not t.name):
            raise method_not_allowed()
        return verbs[method]

    # --------------------------------------------------------------- verbs
    def _get(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        obj = self.objects.get(kind, ns, name)
        if req.wants_table:  # a Table of one object carries the object's resourceVersion
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return Response(200, tables.table(kind, [obj], req.query, meta))
        return Response(200, obj)

    def _list(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        check_list_resource_version(req.query)
        items, rv, token, remaining = self.objects.list(kind, ns or None, req.query)
        meta: dict = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            if not req.query.get("labelSelector") and not req.query.get("fieldSelector"):
                meta["remainingItemCount"] = remaining  # unknown to the server when it filters
        if req.wants_table:
            return Response(200, tables.table(kind, items, req.query, meta))
        return Response(200, {"kind": kind.kind + "List", "apiVersion": kind.api_version, "metadata": meta,
                              "items": list_items(kind, items)})

    def _watch(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        q = dict(req.query)
        if name:
            q["fieldSelector"] = ",".join(filter(None, [q.get("fieldSelector", ""), f"metadata.name={name}"]))
        present = self.objects.present
        render = (lambda o: tables.table(kind, [present(kind, o)], req.query)) if req.wants_table else \
            (lambda o: present(kind, o))
        return Response(200, stream=watch.prepare(self.store, kind, ns or None, q, render=render,
                                                          stopping=self.stopping))

    def _create(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        data = _decode(req, kind)
        if kind.key == ("", "bindings"):  # the legacy form of pods/<name>/binding
            name = ((data.get("metadata") or {}).get("name") if isinstance(data, dict) else None) or ""
            pods = self.registry.get("", "v1", "pods")
            return subresources.HANDLERS[("binding", "create")](
                self, req, pods, Target("", "v1", ns, "pods", name, "binding"), ctx)
        if kind.verbs == ("create",):
            return Response(201, review(self.auth, kind, ctx.user, data, ns, ctx.manager))
        self._check_escalation(kind, ns, data, ctx)
        return Response(201, self.objects.create(kind, ns, data, ctx))

    def _update(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        data = _decode(req, kind)
        self._check_escalation(kind, ns, data, ctx)
        return Response(200, self.objects.update(kind, ns, name, data, ctx))

    def _check_escalation(self, kind: Kind, ns: str, data: object, ctx: Ctx) -> None:
        """RBAC's escalation check: a Role / ClusterRole may only grant what its author holds (or may escalate)."""
        if kind.group != "rbac.authorization.k8s.io" or kind.plural not in ("roles", "clusterroles") or \
                not isinstance(data, dict) or "system:masters" in ctx.user.groups:
            return
        scope = ns if kind.plural == "roles" else ""
        if self.auth.allowed(ctx.user, RequestAttributes(verb="escalate", group=kind.group, resource=kind.plural,
                                                         namespace=scope))[0]:
            return
        missing = []
        for rule in data.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            names = rule.get("resourceNames") or [""]
            lacking = [v for v in rule.get("verbs") or [] if not all(
                self.auth.allowed(ctx.user, RequestAttributes(verb=v, group=g, resource=r, namespace=scope,
                                                              name=n))[0]
                for g in rule.get("apiGroups") or [""] for r in rule.get("resources") or [] for n in names)]
            if lacking:
                def q(xs):
                    return ", ".join(json.dumps(x) for x in xs)
                text = f"{{APIGroups:[{q(rule.get('apiGroups') or [])}], Resources:[{q(rule.get('resources') or [])}]"
                if rule.get("resourceNames"):
                    text += f", ResourceNames:[{q(rule['resourceNames'])}]"
                missing.append(text + f", Verbs:[{q(lacking)}]}}")
        if missing:
            name = str((data.get("metadata") or {}).get("name", ""))
            groups = " ".join(json.dumps(g) for g in ctx.user.groups)
            raise ApiError(403, f'{kind.plural}.{kind.group} "{name}" is forbidden: user "{ctx.user.name}" '
                           f"(groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n"
                           + "\n".join(missing), "Forbidden",
                           {"name": name, "group": kind.group, "kind": kind.plural})

    def _patch(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        obj, created = self.objects.patch(kind, ns, name, req.body, ctx, ctype=req.patch_type())
        return Response(201 if created else 200, obj)

    def _delete(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        opts = self._delete_options(req)
        obj, removed = self.objects.delete(kind, ns, name, opts, ctx)
        # like kube-apiserver: 202 only for a pending deletion that asked for orphanDependents=false
        code = 202 if not removed and not ctx.dry_run and opts.get("orphanDependents") is False else 200
        return Response(code, self.objects.delete_result(kind, obj, removed))

    def _deletecollection(self, req: Request, kind: Kind, ns: str, name: str, ctx: Ctx) -> Response:
        items = self.objects.delete_collection(kind, ns or None, self._delete_options(req), ctx)
        return Response(200, {"kind": kind.kind + "List", "apiVersion": kind.api_version,
                              "metadata": {"resourceVersion": str(self.store.rv)}, "items": list_items(kind, items)})

    @staticmethod
    def _delete_options(req: Request) -> dict:
        """DeleteOptions as kube-apiserver reads them: from the body when there is one (the query's options,
        ?dryRun=All included, are then ignored), otherwise from the query."""
        opts: dict = {}
        if req.body and req.body.strip():
            data = parse_body(req.body)
            if not isinstance(data, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            opts = data
            if opts.get("dryRun") == ["All"]:
                req.query["dryRun"] = "All"
            else:
                req.query.pop("dryRun", None)
        else:
            if req.query.get("propagationPolicy"):
                opts["propagationPolicy"] = req.query["propagationPolicy"]
            if req.query.get("gracePeriodSeconds"):
                opts["gracePeriodSeconds"] = req.query["gracePeriodSeconds"]
            if req.query.get("orphanDependents"):
                opts["orphanDependents"] = req.query["orphanDependents"] == "true"
        if not isinstance(opts.get("preconditions") or {}, dict):
            raise bad_request("preconditions must be an object")
        return opts


def list_items(kind: Kind, items: list[dict]) -> list[dict]:
    """The items of a built-in kind's list carry no apiVersion / kind (the list has them); a custom resource's do."""
    if kind.crd:
        return items
    return [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]


def check_list_resource_version(query: dict) -> None:
    """kube-apiserver's validation of resourceVersion / resourceVersionMatch on a list."""
    rv, match = query.get("resourceVersion", ""), query.get("resourceVersionMatch", "")
    if rv and not rv.isdigit():
        raise bad_request(f'invalid resource version: resourceVersion: Invalid value: "{rv}": strconv.ParseUint: '
                          f'parsing "{rv}": invalid syntax')
    if match and not rv:
        raise ApiError(422, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                       "resourceVersionMatch is forbidden unless resourceVersion is provided", "Invalid",
                       {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
                           {"reason": "FieldValueForbidden", "field": "resourceVersionMatch",
                            "message": "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                                       "provided"}]})


def _decode(req: Request, kind: Kind) -> object:
    try:
        return req.object()
    except ApiError as e:
        msg = e.body.get("message", "")
        if e.code == 400 and msg.startswith("couldn't get version/kind"):
            raise bad_request(f"the object provided is unrecognized (must be of type {kind.kind}): {msg}") from e
        raise
