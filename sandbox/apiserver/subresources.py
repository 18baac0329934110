"""Subresources: status, scale, pods/log, serviceaccounts/token, namespaces/finalize, certificatesigningrequests/
approval."""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING

from ..machinery.http import Response
from . import crds, ssa
from . import patch as patchlib
from .errors import ApiError, bad_request, invalid, method_not_allowed, not_found
from .kinds import Kind
from .meta import now
from .objects import APPLY_TYPES, Ctx, parse_body
from .routing import Target

if TYPE_CHECKING:
    from .app import App
    from .request import Request


def handle(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    handler = HANDLERS.get((t.sub, req.verb))
    if handler is None:
        raise method_not_allowed()
    return handler(app, req, kind, t, ctx)


def _status_get(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    return _response(200, app.objects.get(kind, t.namespace or "", t.name))


def _status_update(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    return _response(200, app.objects.update(kind, t.namespace or "", t.name, req.object(), ctx, sub="status"))


def _status_patch(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    obj, _ = app.objects.patch(kind, t.namespace or "", t.name, req.body, ctx, ctype=req.patch_type(), sub="status")
    return _response(200, obj)


def _scale_any(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    return _response(200, _scale(app, req, kind, t, ctx))


def _log(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    app.objects.get(kind, t.namespace or "", t.name)
    out = app.pod_logs(t.namespace or "", t.name, req.query)   # text, or a Response (follow streams)
    return out if hasattr(out, "stream") else _response(200, out, "text/plain")


def _token(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    return _response(201, _token_request(app, t.namespace or "", t.name, req.object(), ctx.manager))


def _finalize(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    data = req.object()
    fin = (data.get("spec") or {}).get("finalizers") if isinstance(data, dict) else None
    with app.store.lock:
        cur = app.objects.current(kind, "", t.name)
        new = copy.deepcopy(cur)
        new.setdefault("spec", {})["finalizers"] = list(fin or [])
        if not new["spec"]["finalizers"]:
            del new["spec"]["finalizers"]
        new = ssa.record_update(cur, new, ctx.manager, kind.gvk, kind.schema, "finalize")
        return _response(200, app.objects.commit(kind, cur, new, ctx))


def _eviction(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    """policy/v1 Eviction: no PodDisruptionBudgets here, so an eviction is a delete."""
    data = req.object()
    opts = (data.get("deleteOptions") or {}) if isinstance(data, dict) else {}
    app.objects.delete(kind, t.namespace or "", t.name, opts if isinstance(opts, dict) else {}, ctx)
    return _response(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})


def _binding(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    data = req.object()
    node = ((data.get("target") or {}).get("name") if isinstance(data, dict) else None) or ""
    if not node:
        raise bad_request("target.name (the node) is required")
    with app.store.lock:
        cur = app.objects.current(kind, t.namespace or "", t.name)
        if (cur.get("spec") or {}).get("nodeName"):
            raise ApiError(409, f'Operation cannot be fulfilled on pods/binding "{t.name}": pod {t.name} is '
                           f"already assigned to node \"{cur['spec']['nodeName']}\"", "Conflict")
        new = copy.deepcopy(cur)
        new.setdefault("spec", {})["nodeName"] = node
        app.objects.commit(kind, cur, new, ctx)
    return _response(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})


def _approval(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> Response:
    """certificatesigningrequests/<name>/approval (`kubectl certificate approve|deny`): only status.conditions change;
    a condition gets status True and its times when it has none (the approval strategy)."""
    data = req.object()
    conditions = ((data.get("status") or {}).get("conditions") if isinstance(data, dict) else None) or []
    stamp = now()
    for c in conditions:
        if isinstance(c, dict):
            c.setdefault("status", "True")
            c.setdefault("lastUpdateTime", stamp)
            c.setdefault("lastTransitionTime", stamp)
    with app.store.lock:
        cur = app.objects.current(kind, "", t.name)
        new = copy.deepcopy(cur)
        status = new.setdefault("status", {})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        new = ssa.record_update(cur, new, ctx.manager, kind.gvk, kind.schema, "approval")
        return _response(200, app.objects.commit(kind, cur, new, ctx))


def _response(code: int, body: object, content_type: str = "application/json") -> Response:
    return Response(code, body, content_type)


HANDLERS = {("status", "get"): _status_get, ("status", "update"): _status_update, ("status", "patch"): _status_patch,
            ("scale", "get"): _scale_any, ("scale", "update"): _scale_any, ("scale", "patch"): _scale_any,
            ("log", "get"): _log, ("token", "create"): _token, ("finalize", "update"): _finalize,
            ("eviction", "create"): _eviction, ("binding", "create"): _binding, ("approval", "get"): _status_get,
            ("approval", "update"): _approval}


def _scale(app: App, req: Request, kind: Kind, t: Target, ctx: Ctx) -> dict:
    ns, name = t.namespace or "", t.name
    if req.verb == "get":
        return crds.scale_of(kind, app.objects.get(kind, ns, name))
    with app.store.lock:
        cur = app.objects.get(kind, ns, name)
        if req.verb == "update":
            new_scale = req.object()
        else:
            ctype = req.patch_type()
            p = parse_body(req.body, yaml_ok=ctype in APPLY_TYPES)
            scale = crds.scale_of(kind, cur)
            try:
                if ctype == "application/json-patch+json" and isinstance(p, list):
                    new_scale = patchlib.json_patch(scale, p)
                elif isinstance(p, dict):
                    new_scale = patchlib.merge_patch(scale, p)
                else:
                    raise bad_request("invalid patch for a Scale")
            except patchlib.PatchError as e:
                raise ApiError(422, e.message, "Invalid") from e
        try:
            replicas = int((new_scale.get("spec") or {}).get("replicas", 0))
        except (AttributeError, TypeError, ValueError) as e:
            raise bad_request("spec.replicas must be an integer") from e
        if replicas < 0:
            raise ApiError(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                           "must be greater than or equal to 0", "Invalid")
        new = copy.deepcopy(cur)
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv:
            new["metadata"]["resourceVersion"] = rv
        crds.set_replicas(kind, new, replicas)
        return crds.scale_of(kind, app.objects.update(kind, ns, name, new, ctx, sub="scale"))


def _token_request(app: App, ns: str, name: str, data: object, manager: str = "") -> dict:
    sa = app.store.get(("", "serviceaccounts"), ns, name)
    if sa is None:
        raise not_found("serviceaccounts", "", name)
    spec = data.get("spec") if isinstance(data, dict) and isinstance(data.get("spec"), dict) else {}
    try:
        expiration = int(spec.get("expirationSeconds") or 3600)
    except (TypeError, ValueError) as e:
        raise bad_request("spec.expirationSeconds must be an integer") from e
    if expiration < 600:
        raise invalid("TokenRequest", "authentication.k8s.io", "", [{
            "reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
            "message": f"Invalid value: {expiration}: may not specify a duration less than 10 minutes"}])
    audiences = [str(a) for a in spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"]]
    token, exp = app.auth.issue(ns, sa, expiration, audiences)
    out_spec = {"audiences": audiences, "expirationSeconds": expiration,
                "boundObjectRef": spec.get("boundObjectRef") or None}
    # the request's spec fields (expirationSeconds defaulted first) as an Update of the token subresource
    owned = {f"f:{k}": {} for k in sorted({*spec, "expirationSeconds"}) if k in out_spec}
    managed = [{"manager": manager or "unknown", "operation": "Update", "apiVersion": "authentication.k8s.io/v1",
                "time": now(), "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": owned}, "subresource": "token"}]
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "uid": sa["metadata"].get("uid"), "creationTimestamp": now(),
                         "managedFields": managed}, "spec": out_spec,
            "status": {"token": token, "expirationTimestamp": dt.datetime.fromtimestamp(exp, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")}}
