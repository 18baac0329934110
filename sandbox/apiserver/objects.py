"""The verbs on stored objects: create, get, list, update, patch, apply, delete, deletecollection."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from ..machinery.selectors import check_field_selector, parse_field_selector, parse_label_selector
from . import admission, conversion, crds, fields, patch, ssa, validation
from .defaults import apply_defaults
from .errors import ApiError, already_exists, bad_request, conflict, forbidden, invalid, not_found
from .kinds import Kind, Registry
from .meta import check_name, format_ts, generate_name, new_uid, now, parse_time, same_object, spec_part
from .rbac import UserInfo
from .store import Store

NS_KEY = ("", "namespaces")
CSR_KEY = ("certificates.k8s.io", "certificatesigningrequests")
POD_KEY = ("", "pods")
SA_KEY = ("", "serviceaccounts")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
RETURNS_OBJECT = {("", "pods"), ("", "namespaces"), ("", "services")}
APPLY_TYPES = ("application/apply-patch+yaml", "application/apply-patch+json")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", *APPLY_TYPES)


@dataclass
class Ctx:
    user: UserInfo
    query: dict = field(default_factory=dict)
    user_agent: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def manager(self) -> str:
        fm = self.query.get("fieldManager")
        if fm:
            return fm
        return (self.user_agent.split("/")[0] or "unknown")[:128]

    @property
    def field_validation(self) -> str:
        return self.query.get("fieldValidation") or "Warn"


def parse_body(raw: bytes, yaml_ok: bool = False) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad_request(f"the request body is not valid UTF-8: {e}") from e
    try:
        return json.loads(text)
    except ValueError as e:
        if yaml_ok:
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as ye:
                raise bad_request(f"error decoding YAML: {ye}") from ye
        raise bad_request(f"couldn't get version/kind; json parse error: {e}") from e


class Objects:
    def __init__(self, registry: Registry, store: Store):
        self.registry, self.store = registry, store
        self.hooks: list[Callable[[Kind, dict, str], None]] = []  # (kind, obj, "put"|"removed")
        self.admission = admission.Admission(store)  # the webhooks; the sandbox sets its endpoints resolver
        self.admission.versions = lambda group, plural: [k.version for k in registry.all()
                                                         if (k.group, k.plural) == (group, plural)]
        self.admission.to_version = self._to_version

    # ----- helpers -----
    def kind_for_key(self, key: tuple[str, str]) -> Kind | None:
        found = [k for k in self.registry.all() if k.key == key]
        return next((k for k in found if not k.storage_version or k.version == k.storage_version),
                    found[0] if found else None)

    def present(self, kind: Kind, obj: dict) -> dict:
        if obj.get("apiVersion") == kind.api_version:
            return obj
        if kind.from_storage is not None:
            return kind.from_storage(obj)
        if kind.conversion is not None:   # a CRD's conversion webhook
            return self.admission.convert(kind.conversion, obj, kind.api_version)
        return dict(obj, apiVersion=kind.api_version)

    def _to_version(self, obj: dict, api_version: str) -> dict:
        """`obj` as another served version of its kind (a CRD's conversion webhook, else the same fields)."""
        group, _, version = api_version.rpartition("/")
        kind = next((k for k in self.registry.all() if (k.group, k.version, k.kind) == (group, version,
                                                                                         obj.get("kind"))), None)
        return self.present(kind, obj) if kind is not None else dict(obj, apiVersion=api_version)

    @staticmethod
    def _to_storage(kind: Kind, obj: dict) -> dict:
        if kind.to_storage is not None and obj.get("apiVersion") == kind.api_version:
            return kind.to_storage(obj)
        return obj

    def notify(self, kind: Kind, obj: dict, what: str) -> None:
        """Tells each of `hooks` (the lifecycle controllers) that `obj` was "put" or "removed"."""
        for hook in self.hooks:
            hook(kind, obj, what)

    def _check_namespace(self, kind: Kind, ns: str, name: str) -> None:
        if not kind.namespaced:
            return
        nso = self.store.get(NS_KEY, "", ns)
        if nso is None:
            raise not_found("namespaces", "", ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f'{kind.plural} "{name}" is forbidden: unable to create new content in namespace '
                           f"{ns} because it is being terminated", "Forbidden",
                           {"name": name, "kind": kind.plural, **({"group": kind.group} if kind.group else {}),
                            "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                        "message": f"namespace {ns} is being terminated"}]})

    @staticmethod
    def _check_shape(kind: Kind, body: object, ns: str) -> dict:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        av, k = body.get("apiVersion"), body.get("kind")
        if av is not None and av != kind.api_version:
            raise bad_request(f"the API version in the data ({av}) does not match the expected API version "
                              f"({kind.api_version})")
        if k is not None and k != kind.kind:
            core = "core" if not kind.group else kind.group
            raise bad_request(f'{k} in version "{kind.version}" cannot be handled as a {kind.kind}: converting '
                              f"({kind.version}.{k}) to ({core}.{kind.kind}): unknown conversion")
        meta = body.get("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        body = dict(body, apiVersion=kind.api_version, kind=kind.kind, metadata=copy.deepcopy(meta))
        meta = body["metadata"]
        _check_string_maps(kind, body, meta)
        causes = []
        for f in ("labels", "annotations"):
            v = meta.get(f)
            if v is not None and (not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values())):
                causes.append({"reason": "FieldValueInvalid", "field": f"metadata.{f}",
                               "message": "Invalid value: must be a map of string to string"})
        fin = meta.get("finalizers")
        if fin is not None and (not isinstance(fin, list) or not all(isinstance(x, str) for x in fin)):
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.finalizers",
                           "message": "Invalid value: must be a list of strings"})
        refs = meta.get("ownerReferences")
        if refs is not None and (not isinstance(refs, list) or not all(
                isinstance(r, dict) and r.get("uid") and r.get("name") and r.get("kind") for r in refs)):
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.ownerReferences",
                           "message": "Invalid value: each owner reference needs apiVersion, kind, name and uid"})
        if causes:
            raise invalid(kind.kind, kind.group, str(meta.get("name", "")), causes)
        if kind.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and ns and body_ns != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = ns or body_ns or "default"
        else:
            meta.pop("namespace", None)
        return body

    def _prepare(self, kind: Kind, new: dict, cur: dict | None, ctx: Ctx, sub: str, *, patch: bool = False) -> dict:
        """Server-owned metadata, status subresource rules, defaults and schema; returns the object to store."""
        new = fields.drop_unknown(kind.group, "" if kind.crd else kind.kind, new, ctx.field_validation, ctx.warnings,
                                  version=kind.version, patch=patch)
        attrs = self._admission_attributes(kind, new, cur, ctx, sub)
        if attrs is not None:
            new = self.admission.mutate(attrs, new, self.present(kind, cur) if cur is not None else None)
            self._recheck(kind, new, cur)
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise admission.internal("the mutating webhooks' patch left no object")
        new = self._server_fields(kind, new, cur, sub) if cur is not None else self._new_fields(kind, new)
        if not kind.crd:
            omit_empty(kind, new)
        meta = new["metadata"]
        causes = [] if kind.crd else apply_defaults(kind.kind, kind.group, new, cur)
        if not causes:
            causes = validation.causes_for("" if kind.crd else kind.group, "" if kind.crd else kind.kind, new,
                                           cur)
        if cur is None and kind.to_storage is conversion.event_to_core:
            causes += conversion.validate_new_event(new)
        if kind.key == crds.CRD_KEY:
            causes += crds.validate_crd(new)
        if causes:
            raise invalid(kind.kind, kind.group, meta.get("name", ""), causes)
        if kind.crd:
            new = crds.check_custom_resource(kind, new, ctx.field_validation, ctx.warnings)
        if kind.key == crds.CRD_KEY:
            crds.set_status(new)
        if cur is not None and kind.generation and spec_part(new) != spec_part(cur):
            new["metadata"]["generation"] = int(cur["metadata"].get("generation", 1)) + 1
        if attrs is not None:
            self.admission.validate(attrs, self.present(kind, new),
                                    self.present(kind, cur) if cur is not None else None)
            self._recheck(kind, new, cur)
        if kind.crd and kind.storage_version:
            storage = f"{kind.group}/{kind.storage_version}"
            if kind.conversion is not None and new.get("apiVersion") != storage:
                new = self.admission.convert(kind.conversion, new, storage)
            new["apiVersion"] = storage
        return new

    def _admission_attributes(self, kind: Kind, new: dict, cur: dict | None, ctx: Ctx, sub: str,
                              operation: str = "") -> admission.Attributes | None:
        """The webhook admission attributes of this request; None when no webhook is registered (no cost)."""
        if not self.admission.active():
            return None
        meta = (cur if new is None else new).get("metadata") or {}
        options = {"fieldManager": ctx.query["fieldManager"]} if ctx.query.get("fieldManager") else {}
        if ctx.dry_run:
            options["dryRun"] = ["All"]
        return admission.Attributes(
            kind.group, kind.version, kind.kind, kind.plural, kind.namespaced,
            operation or ("CREATE" if cur is None else "UPDATE"), meta.get("namespace", "") if kind.namespaced else "",
            meta.get("name", ""), sub, ctx.user, ctx.dry_run, options, ctx.warnings)

    def _recheck(self, kind: Kind, new: dict | None, cur: dict | None) -> None:
        """After a webhook call (made without the store lock): the object must be as it was before the call."""
        meta = (cur if cur is not None else new)["metadata"]
        now_obj = self.store.get(kind.key, meta.get("namespace", "") if kind.namespaced else "", meta["name"])
        if cur is None and now_obj is not None:
            raise already_exists(kind.plural, kind.group, meta["name"])
        if cur is not None and (now_obj is None or now_obj["metadata"].get("resourceVersion") !=
                                cur["metadata"].get("resourceVersion")):
            raise conflict(kind.plural, kind.group, meta["name"])

    @staticmethod
    def _new_fields(kind: Kind, new: dict) -> dict:
        meta = new["metadata"]
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(f, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now()
        # a create resets the status, except where the registry keeps it (a kubelet registers its Node with one)
        if kind.has_status and not (kind.group == "" and kind.kind in ("Namespace", "Service", "Node")):
            new.pop("status", None)
            if not kind.crd:  # a built-in kind's status is a struct: encoded even when empty
                new["status"] = {}
        if kind.generation:
            meta["generation"] = 1
        if kind.key == crds.CRD_KEY and crds.CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
            meta["finalizers"] = [*(meta.get("finalizers") or []), crds.CLEANUP_FINALIZER]
        return new

    @staticmethod
    def _server_fields(kind: Kind, new: dict, cur: dict, sub: str) -> dict:
        cm = cur["metadata"]
        if sub == "status":  # only status changes (and the managedFields recorded for it)
            managed = new["metadata"].get("managedFields", cm.get("managedFields"))
            status_part = new.get("status", {})
            new = copy.deepcopy(cur)
            new["status"] = status_part
            new["metadata"]["managedFields"] = managed
        elif sub == "" and kind.has_status:  # the main resource ignores status
            if "status" in cur:
                new["status"] = copy.deepcopy(cur["status"])
            else:
                new.pop("status", None)
        meta = new["metadata"]
        for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "name",
                  "namespace", "generation"):
            if f in cm:
                meta[f] = cm[f]
            else:
                meta.pop(f, None)
        added = [f for f in meta.get("finalizers") or [] if f not in (cm.get("finalizers") or [])]
        if cm.get("deletionTimestamp") and added:
            shown = "[]string{" + ", ".join(json.dumps(f) for f in added) + "}"
            raise invalid(kind.kind, kind.group, meta["name"], [{
                "reason": "FieldValueForbidden", "field": "metadata.finalizers",
                "message": "Forbidden: no new finalizers can be added if the object is being deleted, found new "
                           f"finalizers {shown}"}])
        return new

    def commit(self, kind: Kind, cur: dict | None, new: dict, ctx: Ctx) -> dict:
        """Writes `new` over `cur` (the stored object, or None for a create) and notifies the hooks.

        The caller holds the store lock, has validated `new` and recorded its managed fields. A write that changes
        nothing returns `cur` unchanged; a dry run writes nothing; a deleted object whose finalizers are all gone
        is removed. Returns the object as clients see it."""
        new = self._to_storage(kind, new)
        if cur is not None and (same_object(cur, new) if kind.conversion is not None else  # both stored: no webhook
                                same_object(self.present(kind, cur), self.present(kind, new))):
            return self.present(kind, cur)
        if ctx.dry_run:
            if cur is not None:
                new["metadata"]["resourceVersion"] = cur["metadata"].get("resourceVersion")
            return self.present(kind, new)
        m = new["metadata"]
        if m.get("deletionTimestamp") and not m.get("finalizers") and not m.get("deletionGracePeriodSeconds") \
                and kind.key != NS_KEY:   # a graceful deletion still under way (a pod) keeps the object
            self.store.put(kind.key, new)
            final = self.store.remove(kind.key, m.get("namespace", ""), m["name"])
            self.notify(kind, final, "removed")
            return self.present(kind, final)
        stored = self.store.put(kind.key, new)
        self.notify(kind, stored, "put")
        return self.present(kind, stored)

    def current(self, kind: Kind, ns: str, name: str) -> dict:
        """The stored object (storage version, not a copy: do not change it), or a 404 ApiError."""
        cur = self.store.get(kind.key, ns if kind.namespaced else "", name)
        if cur is None:
            raise not_found(kind.plural, kind.group, name)
        return cur

    # ----- verbs -----
    def get(self, kind: Kind, ns: str, name: str) -> dict:
        return self.present(kind, self.current(kind, ns, name))

    def list(self, kind: Kind, ns: str | None, query: dict) -> tuple[list[dict], int, str, int]:
        """Returns (items, list resourceVersion, continue token, remaining)."""
        try:
            lsel = parse_label_selector(query.get("labelSelector", ""))
            fsel = parse_field_selector(query.get("fieldSelector", ""))
            check_field_selector(kind.group, kind.plural, fsel, kind.kind)
        except ValueError as e:
            raise bad_request(str(e)) from e
        items, rv = self.store.list(kind.key, ns if kind.namespaced else None)
        if kind.from_storage is not None:
            items = [self.present(kind, o) for o in items]
        items = [o for o in items if lsel.matches(o["metadata"].get("labels") or {}) and fsel.matches(o)]
        start = query.get("continue")
        if start:
            try:
                after = json.loads(base64.urlsafe_b64decode(start.encode()))
                pos = (str(after["ns"]), str(after["name"]))
            except (ValueError, KeyError, TypeError, binascii.Error) as e:
                raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                  "(version meta.k8s.io/v1)") from e
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > pos]
        token, remaining = "", 0
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as e:
            raise bad_request(f"invalid limit: {query.get('limit')!r}") from e
        if limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = items[-1]["metadata"]
            token = base64.urlsafe_b64encode(json.dumps(
                {"ns": last.get("namespace", ""), "name": last["name"], "rv": rv}).encode()).decode()
        return [self.present(kind, o) for o in items], rv, token, remaining

    def create(self, kind: Kind, ns: str, body: object, ctx: Ctx) -> dict:
        body = self._check_shape(kind, body, ns)
        meta = body["metadata"]
        shown = str(meta.get("name") or meta.get("generateName") or "Unknown")  # admission's name, as Go's
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = generate_name(str(meta["generateName"]))
            else:
                raise invalid(kind.kind, kind.group, "", [{"reason": "FieldValueRequired", "field": "metadata.name",
                                                           "message": "Required value: name or generateName is "
                                                                      "required"}])
        if not isinstance(meta["name"], str):
            raise bad_request("metadata.name must be a string")
        check_name(kind.kind, kind.group, meta["name"])
        with self.store.lock:
            self._check_namespace(kind, meta.get("namespace", ""), meta["name"])
            if kind.key == POD_KEY:
                self._check_service_account(body, shown)
            if kind.key == CSR_KEY and isinstance(body.get("spec"), dict):  # the CSR strategy: who asked
                body["spec"].update(ctx.user.user_info())
            if self.store.get(kind.key, meta.get("namespace", ""), meta["name"]) is not None:
                raise already_exists(kind.plural, kind.group, meta["name"])
            requested = copy.deepcopy(body)
            new = self._prepare(kind, body, None, ctx, "")
            new = ssa.record_update(None, new, ctx.manager, kind.gvk, kind.schema)
            strategy = strategy_fields(kind, requested)
            if strategy:
                new = ssa.disown(new, ctx.manager, strategy)
            return self.commit(kind, None, new, ctx)

    def _check_service_account(self, pod: dict, shown: str) -> None:
        """The ServiceAccount admission plugin on create: the pod's service account (`default` when none is named)
        must exist in its namespace (the `default` one is made with the namespace, by the lifecycle hook)."""
        spec = pod.get("spec")
        annotations = pod["metadata"].get("annotations")
        if not isinstance(spec, dict) or (isinstance(annotations, dict)
                                          and "kubernetes.io/config.mirror" in annotations):
            return
        ns, sa = pod["metadata"].get("namespace", ""), spec.get("serviceAccountName") or spec.get("serviceAccount")
        sa = sa if isinstance(sa, str) and sa else "default"
        if self.store.get(SA_KEY, ns, sa) is None:
            raise forbidden(f'pods "{shown}" is forbidden: error looking up service account {ns}/{sa}: '
                            f'serviceaccount "{sa}" not found', "pods", "", shown)

    def update(self, kind: Kind, ns: str, name: str, body: object, ctx: Ctx, *, sub: str = "") -> dict:
        body = self._check_shape(kind, body, ns)
        bname = body["metadata"].get("name")
        if bname and bname != name:
            raise bad_request(f"the name of the object ({bname}) does not match the name on the URL ({name})")
        body["metadata"]["name"] = name
        with self.store.lock:
            cur = self.current(kind, ns, name)
            rv = body["metadata"].get("resourceVersion")
            if rv and str(rv) != cur["metadata"]["resourceVersion"]:
                raise conflict(kind.plural, kind.group, name)
            return self._write(kind, cur, body, ctx, sub)

    def _write(self, kind: Kind, cur: dict, new: dict, ctx: Ctx, sub: str, *, applied: bool = False,
               patch: bool = False) -> dict:
        new = self._prepare(kind, new, cur, ctx, sub, patch=patch)
        if not applied:
            new = ssa.record_update(self.present(kind, cur), new, ctx.manager, kind.gvk, kind.schema, sub)
        return self.commit(kind, cur, new, ctx)

    def patch(self, kind: Kind, ns: str, name: str, raw: bytes, ctx: Ctx, *, ctype: str,
              sub: str = "") -> tuple[dict, bool]:
        """Returns (object, created)."""
        if ctype in APPLY_TYPES:
            return self.apply(kind, ns, name, raw, ctx, sub=sub)
        if ctype == "application/strategic-merge-patch+json" and kind.crd:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                           "UnsupportedMediaType")
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise bad_request("invalid JSON patch" if ctype != "application/json-patch+json" else
                              f"error decoding patch: {e}") from e
        with self.store.lock:
            cur = self.current(kind, ns, name)
            doc = copy.deepcopy(self.present(kind, cur))
            if kind.conversion is not None:   # the conversion webhook was called without the store lock
                self._recheck(kind, None, cur)
            try:
                if ctype == "application/json-patch+json":
                    if not isinstance(body, list):
                        raise bad_request("error decoding patch: json: cannot unmarshal object into Go value of type "
                                          "[]handlers.jsonPatchOp")
                    try:
                        new = patch.json_patch(doc, body)
                    except patch.PatchError as e:  # kube-apiserver does not say which operation failed
                        raise ApiError(422, "the server rejected our request due to an error in our request",
                                       "Invalid", {}) from e
                elif not isinstance(body, dict):
                    raise bad_request("json: cannot unmarshal into Go value of type map[string]interface {}")
                elif ctype == "application/merge-patch+json":
                    new = patch.merge_patch(doc, body)
                else:
                    new = patch.strategic_merge_patch(doc, body, kind.gvk)
            except patch.PatchError as e:
                raise ApiError(422, e.message, "Invalid") from e
            if not isinstance(new, dict):
                raise ApiError(422, "the patched object is not a JSON object", "Invalid")
            try:
                new = self._check_shape(kind, new, ns)
            except ApiError as e:
                if e.code != 400 or "cannot be handled as" not in e.body["message"]:
                    raise
                # the patched object does not decode: kube-apiserver reports the patch (with the whole object)
                shown = json.dumps(json.dumps(new, separators=(",", ":")))
                why = e.body["message"].split(": ", 1)[1]
                raise ApiError(422, f' "" is invalid: patch: Invalid value: {shown}: {why}', "Invalid", {
                    "causes": [{"reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {why}",
                                "field": "patch"}]}) from e
            rv = new["metadata"].get("resourceVersion")
            if rv and str(rv) != cur["metadata"]["resourceVersion"]:
                raise conflict(kind.plural, kind.group, name)
            pname = new["metadata"].get("name")
            if pname and pname != name:
                raise bad_request(f"the name of the object ({pname}) does not match the name on the URL ({name})")
            new["metadata"]["name"] = name
            return self._write(kind, cur, new, ctx, sub, patch=True), False

    def apply(self, kind: Kind, ns: str, name: str, raw: bytes, ctx: Ctx, *, sub: str = "") -> tuple[dict, bool]:
        if not ctx.query.get("fieldManager"):
            raise ApiError(422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
                           "for apply patch", "Invalid", {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                               {"reason": "FieldValueRequired", "message": "Required value: is required for apply "
                                "patch", "field": "fieldManager"}]})
        body = parse_body(raw, yaml_ok=True)
        if isinstance(body, dict) and isinstance(body.get("kind"), str) and body["kind"] != kind.kind:
            av = str(body.get("apiVersion") or "")
            group, _, version = av.rpartition("/")
            raise bad_request(f"invalid object type: {group}/{version}, Kind={body['kind']}")
        body = self._check_shape(kind, body, ns)
        bname = body["metadata"].get("name")
        if bname and bname != name:
            raise bad_request(f"the name of the object ({bname}) does not match the name on the URL ({name})")
        body["metadata"]["name"] = name
        force = ctx.query.get("force") in ("true", "1", "True")
        with self.store.lock:
            cur = self.store.get(kind.key, ns if kind.namespaced else "", name)
            if cur is None:
                if sub:
                    raise not_found(kind.plural, kind.group, name)
                check_name(kind.kind, kind.group, name)
                self._check_namespace(kind, body["metadata"].get("namespace", ""), name)
            rv = body["metadata"].get("resourceVersion")
            if rv and (cur is None or str(rv) != cur["metadata"]["resourceVersion"]):
                raise conflict(kind.plural, kind.group, name)
            live = copy.deepcopy(self.present(kind, cur)) if cur is not None else None
            if kind.conversion is not None and cur is not None:   # converted without the store lock
                self._recheck(kind, None, cur)
            try:
                new = ssa.apply(live, body, ctx.manager, force, kind.gvk, kind.schema, subresource=sub,
                                status_subresource=kind.has_status)
            except ssa.ApplyConflict as e:
                raise apply_conflict(kind, name, e) from e
            except ssa.ApplyInvalid as e:  # the real server names the object: (ns/name; group/version, Kind=K)
                target = f"{ns if kind.namespaced else ''}/{name}; {e.gvk_string}"
                raise ApiError(422, f"failed to create typed patch object ({target}): {e.detail}", "Invalid") from e
            if cur is None:
                new = self._prepare(kind, new, None, ctx, "", patch=True)
                return self.commit(kind, None, new, ctx), True
            return self._write(kind, cur, new, ctx, sub, applied=True, patch=True), False

    def delete(self, kind: Kind, ns: str, name: str, opts: dict, ctx: Ctx) -> tuple[dict, bool]:
        """Returns (object, removed-now)."""
        if kind.key == NS_KEY and name in PROTECTED_NAMESPACES:
            raise forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted', "namespaces",
                            "", name)
        grace = opts.get("gracePeriodSeconds")
        if grace is not None:
            if isinstance(grace, bool) or not isinstance(grace, int):
                try:
                    grace = int(str(grace))
                except ValueError as e:
                    raise bad_request(f"invalid gracePeriodSeconds: {grace!r}") from e
            opts = dict(opts, gracePeriodSeconds=1 if grace < 0 else grace)   # negative: 1s, as real
        with self.store.lock:
            cur = self.current(kind, ns, name)
            self._check_preconditions(kind, cur, opts.get("preconditions") or {})
            attrs = self._admission_attributes(kind, None, cur, ctx, "", "DELETE")
            if attrs is not None:
                attrs.options = {k: v for k, v in opts.items() if k in ("gracePeriodSeconds", "propagationPolicy",
                                                                         "preconditions", "dryRun")}
                self.admission.validate(attrs, None, self.present(kind, cur))
                self._recheck(kind, None, cur)
            policy = opts.get("propagationPolicy") or ("Orphan" if opts.get("orphanDependents") else "Background")
            if policy not in ("Orphan", "Background", "Foreground"):
                why = (f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", '
                       '"nil"')
                raise ApiError(422, f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: {why}', "Invalid",
                               {"group": "meta.k8s.io", "kind": "DeleteOptions", "causes": [
                                   {"reason": "FieldValueNotSupported", "message": why,
                                    "field": "propagationPolicy"}]})
            cm = cur["metadata"]
            if cm.get("deletionTimestamp") and cm.get("deletionGracePeriodSeconds"):
                return self._delete_again(kind, cur, opts, ctx)
            finalizers = list(cm.get("finalizers") or [])
            extra = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy)
            if extra and extra not in finalizers and not cm.get("deletionTimestamp"):
                finalizers.append(extra)
            grace = self._grace_period(kind, cur, opts) if not cm.get("deletionTimestamp") else 0
            if grace > 0:
                return self._mark_deleting(kind, cur, finalizers, ctx, grace), False
            if finalizers or kind.key == NS_KEY:
                return self._mark_deleting(kind, cur, finalizers, ctx), False
            if ctx.dry_run:
                return self.present(kind, cur), True
            final = self.store.remove(kind.key, cm.get("namespace", ""), name)
            self.notify(kind, final, "removed")
            return self.present(kind, final), True

    @staticmethod
    def _check_preconditions(kind: Kind, cur: dict, pre: dict) -> None:
        cm, name = cur["metadata"], cur["metadata"]["name"]
        # kube-apiserver names the Kind here (not the resource), in message and details
        if pre.get("uid") and pre["uid"] != cm.get("uid"):
            raise conflict(kind.kind, "", name, f"the UID in the precondition ({pre['uid']}) does not match the UID "
                           f"in record ({cm.get('uid')}). The object might have been deleted and then recreated")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != cm.get("resourceVersion"):
            raise conflict(kind.kind, "", name, f"the ResourceVersion in the precondition ({pre['resourceVersion']}) "
                           f"does not match the ResourceVersion in record ({cm.get('resourceVersion')}). The object "
                           "might have been modified")

    @staticmethod
    def _grace_period(kind: Kind, cur: dict, opts: dict) -> int:
        """Seconds of graceful deletion (0: at once), as the pod strategy decides: DeleteOptions'
        gracePeriodSeconds, else spec.terminationGracePeriodSeconds; 0 for a pod not bound to a node or already
        terminated. Only pods are deleted gracefully."""
        if kind.key != POD_KEY:
            return 0
        grace = opts.get("gracePeriodSeconds")
        if grace is None:
            grace = (cur.get("spec") or {}).get("terminationGracePeriodSeconds")
        try:
            grace = int(grace or 0)
        except (TypeError, ValueError):
            grace = 0
        if not (cur.get("spec") or {}).get("nodeName") or \
                (cur.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        return max(grace, 0)

    def _delete_again(self, kind: Kind, cur: dict, opts: dict, ctx: Ctx) -> tuple[dict, bool]:
        """DELETE of an object whose graceful deletion is under way: a shorter grace period moves
        deletionTimestamp earlier (0 removes it, unless finalizers hold it); anything else changes nothing."""
        cm = cur["metadata"]
        grace = opts.get("gracePeriodSeconds")
        if grace is None or grace >= int(cm["deletionGracePeriodSeconds"]):
            return self.present(kind, cur), False
        new = copy.deepcopy(cur)
        started = parse_time(cm["deletionTimestamp"])
        end = (started.timestamp() if started else time.time()) - int(cm["deletionGracePeriodSeconds"]) + grace
        new["metadata"]["deletionTimestamp"] = format_ts(end)
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        if ctx.dry_run:
            return self.present(kind, new), grace == 0 and not cm.get("finalizers")
        stored = self.store.put(kind.key, new)
        if grace == 0 and not cm.get("finalizers"):
            final = self.store.remove(kind.key, cm.get("namespace", ""), cm["name"])
            self.notify(kind, final, "removed")
            return self.present(kind, final), True
        self.notify(kind, stored, "put")
        return self.present(kind, stored), False

    def _mark_deleting(self, kind: Kind, cur: dict, finalizers: list[str], ctx: Ctx, grace: int = 0) -> dict:
        """Set deletionTimestamp and keep the object until its finalizers are gone, or (`grace` > 0, a pod) until
        the kubelet has stopped it and deletes it for good: deletionTimestamp is then the end of the grace
        period."""
        cm = cur["metadata"]
        if cm.get("deletionTimestamp") and (kind.key == NS_KEY or finalizers == list(cm.get("finalizers") or [])):
            return self.present(kind, cur)
        new = copy.deepcopy(cur)
        new["metadata"]["deletionTimestamp"] = cm.get("deletionTimestamp") or (
            format_ts(time.time() + grace) if grace else now())
        if kind.key != NS_KEY:  # a namespace's deletion has no grace period
            new["metadata"]["deletionGracePeriodSeconds"] = grace
        if kind.generation:  # kube-apiserver bumps generation when it sets deletionTimestamp
            new["metadata"]["generation"] = int(cm.get("generation") or 1) + 1
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
        if kind.key == NS_KEY:  # the namespace's own spec.finalizers ("kubernetes") is handled by the lifecycle
            new.setdefault("status", {})["phase"] = "Terminating"
        if ctx.dry_run:
            return self.present(kind, new)
        stored = self.store.put(kind.key, new)
        self.notify(kind, stored, "put")
        return self.present(kind, stored)

    def delete_result(self, kind: Kind, obj: dict, removed: bool) -> dict:
        if not removed or kind.crd or kind.key in RETURNS_OBJECT:
            return obj
        m = obj["metadata"]
        details = {"name": m["name"], "kind": kind.plural, "uid": m.get("uid")}
        if kind.group:
            details["group"] = kind.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, kind: Kind, ns: str | None, opts: dict, ctx: Ctx) -> list[dict]:
        items, _, _, _ = self.list(kind, ns, {k: v for k, v in ctx.query.items() if k != "limit"})
        out = []
        for o in items:
            try:
                obj, _ = self.delete(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"], opts, ctx)
                out.append(obj)
            except ApiError as e:
                if e.code != 404:
                    raise
        return out


# Empty maps and lists that the Go types declare `omitempty`: kube-apiserver drops them when it decodes a request
# (so they are neither stored nor in the Update managedFields).
OMIT_EMPTY_META = ("labels", "annotations", "finalizers", "ownerReferences")
OMIT_EMPTY = {("", "ConfigMap"): ("data", "binaryData"), ("", "Secret"): ("data", "stringData")}
# `bool` spec fields declared `omitempty`: a false one is dropped the same way (a CRD file's
# `preserveUnknownFields: false` is not in what the server stores and returns)
OMIT_FALSE_SPEC = {("apiextensions.k8s.io", "CustomResourceDefinition"): ("preserveUnknownFields",)}
# status fields without `omitempty` in k8s.io/api: Go encodes them even at zero (a create's reset status included)
ZERO_STATUS = {("apps", "StatefulSet"): ("replicas", "availableReplicas"),
               ("apps", "DaemonSet"): ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                                       "numberReady"),
               ("apps", "ReplicaSet"): ("replicas",), ("", "ReplicationController"): ("replicas",)}


def _go_json_type(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(v), "value")


def _check_string_maps(kind: Kind, body: dict, meta: dict) -> None:
    """map[string]string fields with a value of another type: kube-apiserver fails to decode the body (400)."""
    where = [("ObjectMeta.metadata.labels", meta.get("labels")),
             ("ObjectMeta.metadata.annotations", meta.get("annotations"))]
    if kind.group == "" and kind.kind in ("ConfigMap", "Secret"):
        where += [(f"{kind.kind}.{f}", body.get(f)) for f in ("data", "stringData") if f in body]
    for field_name, m in where:
        if isinstance(m, dict):
            bad = next((v for v in m.values() if not isinstance(v, str) and v is not None), None)
            if bad is not None:
                raise bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                                  f"json: cannot unmarshal {_go_json_type(bad)} into Go struct field {field_name} of "
                                  "type string")


JOB_STRATEGY_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid",
                       "job-name")


def strategy_fields(kind: Kind, body: dict) -> list[tuple]:
    """Field paths that the registry strategy (PrepareForCreate) sets on create, after kube-apiserver's field
    manager has recorded the request: not owned by the creator unless the request set them."""
    if kind.crd:
        return []
    out: list[tuple] = []
    if kind.has_status:
        out.append((("f", "status"),))  # reset for the main resource
    if (kind.group, kind.kind) == ("", "Namespace") and not (body.get("spec") or {}).get("finalizers"):
        out.append((("f", "spec"), ("f", "finalizers")))
    if (kind.group, kind.kind) == ("batch", "Job") and not (body.get("spec") or {}).get("manualSelector"):
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        if spec.get("selector") is None:
            out.append((("f", "spec"), ("f", "selector")))
        for base, labels in ((("f", "metadata"),), (body.get("metadata") or {}).get("labels")), \
                (((("f", "spec"), ("f", "template"), ("f", "metadata")),
                  ((spec.get("template") or {}).get("metadata") or {}).get("labels"))):
            if not labels:
                out.append((*base, ("f", "labels")))
            else:
                out += [(*base, ("f", "labels"), ("f", k)) for k in JOB_STRATEGY_LABELS if k not in labels]
    return out


def omit_empty(kind: Kind, obj: dict) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for f in OMIT_EMPTY_META:
            if f in meta and meta[f] in ({}, [], None):
                del meta[f]
    for f in OMIT_EMPTY.get((kind.group, kind.kind), ()):
        if f in obj and obj[f] in ({}, None):
            del obj[f]
    spec = obj.get("spec")
    for f in OMIT_FALSE_SPEC.get((kind.group, kind.kind), ()):
        if isinstance(spec, dict) and spec.get(f) is False:
            del spec[f]
    zero = ZERO_STATUS.get((kind.group, kind.kind))
    if zero and isinstance(obj.get("status"), dict):
        for f in zero:
            obj["status"].setdefault(f, 0)


def apply_conflict(kind: Kind, name: str, e: ssa.ApplyConflict) -> ApiError:
    """409 with only the causes in details (kube-apiserver names neither the object nor its kind there)."""
    return ApiError(409, e.message, "Conflict", {"causes": e.causes})
