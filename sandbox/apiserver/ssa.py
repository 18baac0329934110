"""Server-side apply and managedFields tracking (structured-merge-diff semantics), pure functions.

* ``apply(live, applied, manager, force, gvk, schema=None, subresource="")`` merges an apply configuration into the
  live object, detects conflicts with other field managers, removes fields the applier stopped applying (unless
  another manager owns them) and records the applier's ``Apply`` entry in ``metadata.managedFields``.
* ``record_update(old, new, manager, gvk, schema=None, subresource="")`` tracks ownership for create / update / patch
  (``Update`` entries).

``gvk`` is ``(group, version, kind)``.  List semantics come from ``listkeys``; custom resources use their CRD schema.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from sandbox.apiserver.fieldpath import FieldSet, Path, PathElement, key_element, path_string, value_element
from sandbox.apiserver.listkeys import ListInfo, is_atomic_struct, is_builtin, is_map_type, key_defaults, list_info
from sandbox.apiserver.patch import json_equal

__all__ = [
    "ApplyConflict",
    "ApplyInvalid",
    "apply",
    "compare",
    "decode_managed_fields",
    "field_set",
    "now_rfc3339",
    "record_update",
]

# metadata fields the server owns: never tracked in managedFields (k8s "stripMeta" plus deletion fields)
SERVER_METADATA = frozenset({
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "clusterName",
})
ROOT_STRIPPED = frozenset({"apiVersion", "kind"})


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApplyConflict(Exception):
    """Raised by ``apply`` without ``force``; ``conflicts`` is a list of ``(manager, ".field.path")``.

    ``message`` and ``causes`` mirror the 409 Status Kubernetes returns (reason ``Conflict``).
    """

    def __init__(self, conflicts: list[tuple[str, str]], described: dict[str, str] | None = None):
        self.conflicts = list(conflicts)
        described = described or {}
        self.causes = [
            {"reason": "FieldManagerConflict", "message": "conflict with %s" % described.get(m, '"%s"' % m),
             "field": p}
            for m, p in self.conflicts
        ]
        if len(self.conflicts) == 1:
            m, p = self.conflicts[0]
            msg = "Apply failed with 1 conflict: conflict with %s: %s" % (described.get(m, '"%s"' % m), p)
        else:
            by_manager: dict[str, list[str]] = {}
            for m, p in self.conflicts:
                by_manager.setdefault(m, []).append(p)
            lines: list[str] = []
            for m in sorted(by_manager):
                lines.append("conflicts with %s:" % described.get(m, '"%s"' % m))
                lines.extend("- %s" % p for p in by_manager[m])
            msg = "Apply failed with %d conflicts: %s" % (len(self.conflicts), "\n".join(lines))
        self.message = msg
        super().__init__(msg)


class ApplyInvalid(ValueError):
    """The apply configuration cannot be typed (duplicate / keyless associative-list entries); HTTP 422."""

    def __init__(self, gvk: tuple[str, str, str], detail: str):
        group, version, kind = gvk
        gv = "%s/%s" % (group, version) if group else "/" + version
        self.gvk_string, self.detail = "%s, Kind=%s" % (gv, kind), detail
        self.message = "failed to create typed patch object (%s): %s" % (self.gvk_string, detail)
        super().__init__(self.message)


# ---------------------------------------------------------------------------------------------------------------------
# typed walking


class _Typed:
    def __init__(self, gvk: tuple[str, str, str], schema: dict | None):
        self.gvk = tuple(gvk)
        self.schema = schema

    def info(self, names: tuple[str, ...]) -> ListInfo:
        return list_info(self.gvk, names, self.schema)

    def atomic(self, names: tuple[str, ...]) -> bool:
        return bool(names) and is_atomic_struct(self.gvk, names, self.schema)

    @staticmethod
    def atomic_element(names: tuple[str, ...]) -> bool:
        """Elements of this associative list are atomic structs (OwnerReference is +structType=atomic): owned
        as a whole, by their key."""
        return tuple(names) == ("metadata", "ownerReferences")

    def is_map(self, names: tuple[str, ...]) -> bool:
        return bool(names) and is_map_type(self.gvk, names, self.schema)

    def element(self, info: ListInfo, names: tuple[str, ...], item: Any) -> PathElement:
        if info.kind == "map" and isinstance(item, dict):
            return key_element(item, info.keys, key_defaults(self.gvk, names, self.schema))
        return value_element(item)

    @staticmethod
    def skip(names: tuple[str, ...], key: str) -> bool:
        if not names:
            return key in ROOT_STRIPPED
        return names == ("metadata",) and key in SERVER_METADATA

    # -- apply configuration checks ------------------------------------------------------------------------------
    def check(self, val: Any, fp: Path, names: tuple[str, ...], element: bool = False) -> str | None:
        """Problem with an apply configuration (as structured-merge-diff reports it) or None."""
        if isinstance(val, dict):
            if fp and not element and self.atomic(names):
                return None
            for k, v in val.items():
                if self.skip(names, k):
                    continue
                err = self.check(v, (*fp, ("f", k)), (*names, k))
                if err:
                    return err
            return None
        if isinstance(val, list):
            info = self.info(names)
            if info.kind == "atomic":
                return None
            seen: set[PathElement] = set()
            defaults = key_defaults(self.gvk, names, self.schema) if info.kind == "map" else {}
            for i, item in enumerate(val):
                if info.kind == "map":
                    if not isinstance(item, dict):
                        return "%s: element %d: expected map, got %s" % (path_string(fp), i, type(item).__name__)
                    for k in info.keys:
                        if item.get(k) is None and k not in defaults:
                            return ('%s: element %d: associative list with keys has an element that omits key '
                                    'field "%s" (and doesn\'t have default value)' % (path_string(fp), i, k))
                pe = self.element(info, names, item)
                if pe in seen:
                    return "%s: duplicate entries for key %s" % (path_string(fp), _pe_str(pe))
                seen.add(pe)
                if info.kind == "map":
                    err = self.check(item, (*fp, pe), names, element=True)
                    if err:
                        return err
        return None

    # -- ToFieldSet ----------------------------------------------------------------------------------------------
    def to_set(self, val: Any, fp: Path, names: tuple[str, ...], out: set[Path], element: bool = False) -> None:
        if isinstance(val, dict):
            if fp and not element and self.atomic(names):
                out.add(fp)
                return
            is_map = not element and self.is_map(names)
            for k, v in val.items():
                if self.skip(names, k) or v is None:
                    continue
                cfp = (*fp, ("f", k))
                self.to_set(v, cfp, (*names, k), out)
                if is_map or (isinstance(v, dict) and not v):  # an empty map is a leaf (structured-merge-diff)
                    out.add(cfp)
            return
        if isinstance(val, list):
            info = self.info(names)
            if info.kind == "atomic":
                out.add(fp)
                return
            for item in val:
                efp = (*fp, self.element(info, names, item))
                out.add(efp)
                if info.kind == "map" and isinstance(item, dict) and not self.atomic_element(names):
                    self.to_set(item, efp, names, out, element=True)
            return
        if fp:
            out.add(fp)

    # -- Compare -------------------------------------------------------------------------------------------------
    def compare(self, old: Any, new: Any, fp: Path, names: tuple[str, ...], changed: set[Path],
                removed: set[Path], element: bool = False) -> None:
        if isinstance(old, dict) and isinstance(new, dict) and (element or not fp or not self.atomic(names)):
            for k in list(old) + [k for k in new if k not in old]:
                if self.skip(names, k):
                    continue
                cfp = (*fp, ("f", k))
                o, n = old.get(k), new.get(k)
                if n is None and o is None:
                    continue
                if n is None:
                    removed.add(cfp)
                elif o is None and k in old and isinstance(n, (dict, list)):
                    # an explicit null (a nil Go slice/map) counts as present-but-empty: only children are added
                    self.compare(type(n)(), n, cfp, (*names, k), changed, removed)
                elif o is None:
                    self.added(n, cfp, (*names, k), changed)
                else:
                    self.compare(o, n, cfp, (*names, k), changed, removed)
            return
        if isinstance(old, list) and isinstance(new, list):
            info = self.info(names)
            if info.kind != "atomic":
                om = {self.element(info, names, x): x for x in old}
                nm = {self.element(info, names, x): x for x in new}
                for pe, item in nm.items():
                    efp = (*fp, pe)
                    if pe not in om:
                        self.added(item, efp, names, changed, element=True)
                    elif info.kind == "map" and self.atomic_element(names):
                        if not json_equal(om[pe], item):
                            changed.add(efp)
                    elif info.kind == "map":
                        self.compare(om[pe], item, efp, names, changed, removed, element=True)
                for pe in om:
                    if pe not in nm:
                        removed.add((*fp, pe))
                return
        if not json_equal(old, new):
            changed.add(fp)

    def added(self, val: Any, fp: Path, names: tuple[str, ...], out: set[Path], element: bool = False) -> None:
        """Every node of a newly added value is added (structured-merge-diff ``Compare``)."""
        out.add(fp)
        if isinstance(val, dict):
            if (not element and self.atomic(names)) or (element and self.atomic_element(names)):
                return
            for k, v in val.items():
                if v is not None and not self.skip(names, k):
                    self.added(v, (*fp, ("f", k)), (*names, k), out)
        elif isinstance(val, list):
            info = self.info(names)
            if info.kind == "atomic":
                return
            for item in val:
                pe = self.element(info, names, item)
                if info.kind == "map":
                    self.added(item, (*fp, pe), names, out, element=True)
                else:
                    out.add((*fp, pe))

    # -- Merge ---------------------------------------------------------------------------------------------------
    def merge(self, live: Any, applied: Any, fp: Path, names: tuple[str, ...], element: bool = False) -> Any:
        if isinstance(live, dict) and isinstance(applied, dict) and (element or not fp or not self.atomic(names)):
            out = dict(live)
            for k, v in applied.items():
                if v is None:
                    continue
                out[k] = self.merge(live[k], v, (*fp, ("f", k)), (*names, k)) if k in live else copy.deepcopy(v)
            return out
        if isinstance(live, list) and isinstance(applied, list):
            info = self.info(names)
            if info.kind in ("map", "set"):
                return self._merge_assoc(live, applied, fp, names, info)
        return copy.deepcopy(applied)

    def _merge_assoc(self, live: list, applied: list, fp: Path, names: tuple[str, ...], info: ListInfo) -> list:
        """Merge associative/set lists the way structured-merge-diff orders them.

        Items present on both sides follow the order of the applied list; live-only items stay where they were
        relative to them; applied-only items are placed where they appear in the applied list.
        """
        lpes = [self.element(info, names, x) for x in live]
        rpes = [self.element(info, names, x) for x in applied]
        litems = dict(zip(lpes, live, strict=True))
        ritems = dict(zip(rpes, applied, strict=True))
        shared = [pe for pe in rpes if pe in litems]
        si = 0  # index of the next shared item (in applied order)
        done: set[PathElement] = set()
        out: list = []

        def emit(pe: PathElement) -> None:
            done.add(pe)
            if pe in ritems and pe in litems:
                out.append(self.merge(litems[pe], ritems[pe], (*fp, pe), names, element=info.kind == "map"))
            elif pe in ritems:
                out.append(_strip_nulls(ritems[pe]))
            else:
                out.append(litems[pe])

        li = ri = 0
        while li < len(lpes) or ri < len(rpes):
            if li < len(lpes) and lpes[li] in done:
                li += 1
                continue
            if ri < len(rpes) and rpes[ri] in done:
                ri += 1
                continue
            if li < len(lpes) and ri < len(rpes) and lpes[li] == rpes[ri]:
                emit(lpes[li])
                li += 1
                ri += 1
                continue
            if li < len(lpes) and lpes[li] not in ritems:
                emit(lpes[li])  # live-only item keeps its place
                li += 1
                continue
            if li < len(lpes) and si < len(shared) and lpes[li] != shared[si]:
                li += 1  # shared item that comes later in the applied order
                continue
            if ri < len(rpes):
                pe = rpes[ri]
                emit(pe)
                ri += 1
                while si < len(shared) and shared[si] in done:
                    si += 1
            else:
                li += 1
        return out


def _pe_str(pe: PathElement) -> str:
    return path_string((pe,))


def _strip_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_nulls(x) for x in v]
    return copy.deepcopy(v)


def field_set(obj: dict, gvk: tuple[str, str, str], schema: dict | None = None) -> FieldSet:
    """The set of fields an apply configuration specifies (structured-merge-diff ``ToFieldSet``)."""
    out: set[Path] = set()
    _Typed(gvk, schema).to_set(obj or {}, (), (), out)
    return FieldSet(out)


def compare(old: dict | None, new: dict, gvk: tuple[str, str, str],
            schema: dict | None = None) -> tuple[FieldSet, FieldSet]:
    """(added-or-modified, removed) field sets between two objects."""
    changed: set[Path] = set()
    removed: set[Path] = set()
    _Typed(gvk, schema).compare(old or {}, new or {}, (), (), changed, removed)
    return FieldSet(changed), FieldSet(removed)


# ---------------------------------------------------------------------------------------------------------------------
# managedFields encoding


class _Entry:
    __slots__ = ("api_version", "fields", "manager", "operation", "subresource", "time")

    def __init__(self, manager: str, operation: str, api_version: str, fields: FieldSet, time: str | None,
                 subresource: str = ""):
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.fields = fields
        self.time = time
        self.subresource = subresource

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def describe(self) -> str:
        s = '"%s"' % self.manager
        if self.subresource:
            s += ' with subresource "%s"' % self.subresource
        if self.operation == "Update":  # the manager identifier has no time: kube-apiserver never prints one
            s += " using %s" % self.api_version
        return s

    def encode(self) -> dict:
        d: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            d["time"] = self.time
        d["fieldsType"] = "FieldsV1"
        d["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            d["subresource"] = self.subresource
        return d


def decode_managed_fields(obj: dict | None) -> list[_Entry]:
    entries: list[_Entry] = []
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, dict):
            continue
        try:
            fields = FieldSet.from_fields_v1(raw.get("fieldsV1") or {})
        except ValueError:
            fields = FieldSet()
        entries.append(_Entry(
            str(raw.get("manager", "")), str(raw.get("operation", "Update")), str(raw.get("apiVersion", "")),
            fields, raw.get("time"), str(raw.get("subresource", "") or ""),
        ))
    return entries


def _encode(obj: dict, entries: list[_Entry]) -> dict:
    entries = [e for e in entries if not e.fields.empty()]
    entries.sort(key=lambda e: (e.operation, _epoch(e.time), e.manager, e.api_version, e.subresource))
    meta = obj.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = [e.encode() for e in entries]
    else:
        meta.pop("managedFields", None)
    return obj


def _epoch(t: str | None) -> float:
    if not t:
        return 0.0
    try:
        return datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _api_version(obj: dict, gvk: tuple[str, str, str]) -> str:
    av = (obj or {}).get("apiVersion")
    if av:
        return str(av)
    group, version, _kind = gvk
    return "%s/%s" % (group, version) if group else version


def _strip_server_fields(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for k in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# removal helpers


def _find(container: Any, pe: PathElement, typed: _Typed, names: tuple[str, ...]) -> tuple[Any, Any]:
    """(key/index, child) of ``pe`` in ``container`` or (None, None)."""
    kind, val = pe
    if kind == "f":
        if isinstance(container, dict) and val in container:
            return val, container[val]
        return None, None
    if isinstance(container, list):
        info = typed.info(names)
        for i, item in enumerate(container):
            if kind == "i" and i == val:
                return i, item
            if kind in ("k", "v") and typed.element(info, names, item) == pe:
                return i, item
    return None, None


def _is_key_field(path: Path) -> bool:
    if len(path) < 2 or path[-1][0] != "f" or path[-2][0] != "k":
        return False
    return path[-1][1] in json.loads(path[-2][1])


def _remove_path(obj: dict, path: Path, typed: _Typed, owned: frozenset[Path] = frozenset()) -> bool:
    """Remove ``path`` from ``obj`` in place; containers emptied by the removal are dropped too (unless owned)."""
    stack: list[tuple[Any, Any]] = []  # (container, key) down to the parent of the target
    cur: Any = obj
    names: tuple[str, ...] = ()
    for pe in path:
        key, child = _find(cur, pe, typed, names)
        if key is None:
            return False
        stack.append((cur, key))
        cur = child
        if pe[0] == "f":
            names = (*names, pe[1])
    container, key = stack.pop()
    del container[key]
    depth = len(path) - 1
    while stack and not container and path[:depth] not in owned:
        parent, pkey = stack.pop()
        del parent[pkey]
        container = parent
        depth -= 1
    return True


# ---------------------------------------------------------------------------------------------------------------------
# public API


def apply(
    live: dict | None,
    applied: dict,
    manager: str,
    force: bool,
    gvk: tuple[str, str, str],
    schema: dict | None = None,
    subresource: str = "",
    now: str | None = None,
    *,
    status_subresource: bool | None = None,
) -> dict:
    """Server-side apply ``applied`` (an apply configuration) onto ``live`` on behalf of ``manager``.

    Returns the new object (inputs are not mutated).  Raises ``ApplyConflict`` (409) unless ``force``, and
    ``ApplyInvalid`` (422) for configurations with duplicate or keyless associative-list entries.

    Reset fields, as the registry strategies do: when the kind has a status subresource (``status_subresource``;
    by default true for built-in kinds, false for custom resources) an apply to the main resource ignores
    ``status``, and an apply to ``subresource="status"`` only takes ``status`` (plus the identifying metadata).
    """
    if not isinstance(applied, dict):
        raise TypeError("apply configuration must be an object")
    typed = _Typed(gvk, schema)
    now = now or now_rfc3339()
    live_obj = copy.deepcopy(live) if live else {}
    config = _prepare_config(applied, typed, subresource, status_subresource)
    entries = decode_managed_fields(live_obj)
    if isinstance(live_obj.get("metadata"), dict):
        live_obj["metadata"].pop("managedFields", None)

    merged = typed.merge(live_obj, config, (), ())
    changed, _removed = compare(live_obj, merged, gvk, schema)

    ident = (manager, "Apply", subresource)
    own = next((e for e in entries if e.ident == ident), None)
    others = [e for e in entries if e.ident != ident]

    conflicts: list[tuple[str, str]] = []
    described: dict[str, str] = {}
    conflict_sets: dict[tuple[str, str, str], FieldSet] = {}
    for e in others:
        inter = e.fields.intersection(changed)
        if not inter.empty():
            conflict_sets[e.ident] = inter
            described.setdefault(e.manager, e.describe())
            conflicts.extend((e.manager, s) for s in inter.strings())
    if conflicts and not force:
        conflicts.sort(key=lambda c: (c[0], c[1]))
        raise ApplyConflict(conflicts, described)
    for e in others:
        if e.ident in conflict_sets:
            e.fields = e.fields.difference(conflict_sets[e.ident])

    new_set = field_set(config, gvk, schema)

    # remove what this manager applied last time but not now, unless someone else (still) owns it
    if own is not None:
        owned_by_others = FieldSet().union(new_set)
        for e in others:
            owned_by_others = owned_by_others.union(e.fields)
        removed_prefixes: list[Path] = []
        for path in sorted(own.fields.difference(new_set), key=lambda p: (len(p), path_string(p))):
            if path in owned_by_others or owned_by_others.has_strict_descendant(path):
                continue
            if any(path[: len(p)] == p for p in removed_prefixes):
                continue  # already gone with an ancestor
            if _is_key_field(path):
                continue  # the element stays (someone owns part of it): keep what identifies it
            if _remove_path(merged, path, typed, owned_by_others.paths):
                removed_prefixes.append(path)

    changed_obj = not json_equal(live_obj, merged)
    # the time is set only when the apply changed the object (an apply that changes nothing records no time)
    if own is None:
        own = _Entry(manager, "Apply", _api_version(applied, gvk), new_set, now if changed_obj else None,
                     subresource)
    else:
        if changed_obj:
            own.time = now
        own.fields = new_set
        own.api_version = _api_version(applied, gvk)
    for e in others:
        # fields that no longer exist are owned by nobody
        e.fields = _existing(e.fields, merged, typed)
    return _encode(merged, [*others, own])


def _prepare_config(applied: dict, typed: _Typed, subresource: str, status_subresource: bool | None) -> dict:
    config = _strip_nulls(_strip_server_fields(applied))
    if status_subresource is None:
        status_subresource = is_builtin(typed.gvk, typed.schema)
    if subresource == "status":
        md = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        config = {k: v for k, v in config.items() if k in ("apiVersion", "kind", "status")}
        config["metadata"] = {k: md[k] for k in ("name", "namespace") if k in md}
    elif subresource == "" and status_subresource:
        config.pop("status", None)
    problem = typed.check(config, (), ())
    if problem:
        raise ApplyInvalid(typed.gvk, problem)
    return config


def _existing(fields: FieldSet, obj: dict, typed: _Typed) -> FieldSet:
    keep = set()
    for path in fields:
        cur: Any = obj
        names: tuple[str, ...] = ()
        ok = True
        for pe in path:
            key, cur = _find(cur, pe, typed, names)
            if key is None:
                ok = False
                break
            if pe[0] == "f":
                names = (*names, pe[1])
        if ok:
            keep.add(path)
    return FieldSet(keep)


def record_update(
    old: dict | None,
    new: dict,
    manager: str,
    gvk: tuple[str, str, str],
    schema: dict | None = None,
    subresource: str = "",
    now: str | None = None,
) -> dict:
    """Track ownership for a create / update / patch by ``manager`` (operation ``Update``).

    Fields added or changed by this write become owned by ``manager`` and are taken away from other managers;
    fields that no longer exist are dropped from every manager.  Returns a copy of ``new`` with managedFields set.
    The managedFields of ``new`` are honoured when the client changed them (cleared with ``[]`` => reset), else the
    ones of ``old`` are used.
    """
    typed = _Typed(gvk, schema)
    now = now or now_rfc3339()
    out = copy.deepcopy(new)
    old_obj = copy.deepcopy(old) if old else None
    old_mf = ((old_obj or {}).get("metadata") or {}).get("managedFields")
    new_meta = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
    new_mf = new_meta.get("managedFields")
    if "managedFields" in new_meta and new_mf != old_mf:
        entries = decode_managed_fields(out)  # the client rewrote managedFields
        if new_mf == []:
            entries = []
    else:
        entries = decode_managed_fields(old_obj)
    if isinstance(old_obj, dict) and isinstance(old_obj.get("metadata"), dict):
        old_obj["metadata"].pop("managedFields", None)
    new_meta.pop("managedFields", None)

    if old is not None and not entries:
        # kube-apiserver's skipNonAppliedManager: an update of an object that has no managedFields (nobody
        # applied, nothing was owned on create) does not start tracking them
        return out
    seed = _create_seed(gvk)
    if "spec" not in seed and isinstance(out.get("spec"), dict) and is_builtin(gvk, schema):
        seed["spec"] = {}  # a built-in kind's spec is a struct: it has no "." of its own
    base = _with_seed(old_obj, seed)
    changed, removed = compare(base, out, gvk, schema)
    ident = (manager, "Update", subresource)
    own = next((e for e in entries if e.ident == ident), None)
    for e in entries:
        if e.ident != ident:
            e.fields = e.fields.difference(changed).without_prefixes(removed)
    if own is None:
        own = _Entry(manager, "Update", _api_version(out, gvk), FieldSet(), now, subresource)
        entries.append(own)
    prev = own.fields
    own.fields = own.fields.union(changed).without_prefixes(removed)
    own.api_version = _api_version(out, gvk)
    if not changed.empty() or not removed.empty() or own.fields != prev:
        own.time = now
    for e in entries:
        e.fields = _existing(e.fields, out, typed)
    if old_obj is None and not out.get("metadata"):
        out.setdefault("metadata", {})
    return _encode(out, entries)


def _with_seed(obj: dict | None, seed: dict) -> dict:
    """``obj`` with the always-present (non-pointer) structs of its kind filled in where missing."""
    if obj is None:
        return seed
    out = dict(obj)
    for k, v in seed.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, dict) and isinstance(out[k], dict):
            out[k] = _with_seed(out[k], v)
    return out


# the non-pointer structs of kinds served without a controller (a ReplicationController's template is a pointer)
_SEEDS: dict[str, dict] = {
    "ReplicationController": {"spec": {}, "status": {}},
    "PodTemplate": {"template": {"metadata": {}, "spec": {"containers": None}}},
    "ResourceClaim": {"spec": {"devices": {}}, "status": {}},
    "ResourceClaimTemplate": {"spec": {"metadata": {}, "spec": {"devices": {}}}},
    "ResourceSlice": {"spec": {"pool": {}}},
    "VolumeAttachment": {"spec": {"source": {}}, "status": {}},
    "CSINode": {"spec": {"drivers": None}},
    "HorizontalPodAutoscaler": {"spec": {"scaleTargetRef": {}}, "status": {}},
    "FlowSchema": {"spec": {"priorityLevelConfiguration": {}}, "status": {}},
    "StorageVersionMigration": {"spec": {"resource": {}}, "status": {}},
}


def _create_seed(gvk: tuple[str, str, str]) -> dict:
    """What an empty typed object of this kind looks like (non-pointer structs exist), so that creating an object
    marks only pointer/map fields with ``.`` in FieldsV1, as Kubernetes does."""
    _group, _version, kind = gvk
    seed: dict[str, Any] = {"metadata": {}}
    if kind in _SEEDS:
        seed.update(copy.deepcopy(_SEEDS[kind]))
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        seed["spec"] = {"template": {"metadata": {}, "spec": {"containers": None}}}
        seed["status"] = {}
        if kind == "Deployment":
            seed["spec"]["strategy"] = {}
        elif kind in ("StatefulSet", "DaemonSet"):
            seed["spec"]["updateStrategy"] = {}
    elif kind == "CronJob":
        seed["spec"] = {"jobTemplate": {"metadata": {}, "spec": {"template": {"metadata": {},
                                                                           "spec": {"containers": None}}}}}
        seed["status"] = {}
    elif kind == "Pod":
        seed["spec"] = {"containers": None}
        seed["status"] = {}
    elif kind in ("Service", "Namespace", "Node", "PersistentVolumeClaim", "PersistentVolume"):
        seed["spec"] = {}
        seed["status"] = {}
    return seed


def managers_of(obj: dict, path: str) -> list[str]:
    """Managers owning the human-readable ``path`` (``.spec.replicas``) of ``obj``; handy for tests/debugging."""
    return sorted({e.manager for e in decode_managed_fields(obj) if path in e.fields.strings()})


def dumps_fields(obj: dict) -> str:  # pragma: no cover - debugging aid
    return json.dumps(((obj or {}).get("metadata") or {}).get("managedFields") or [], indent=2, sort_keys=True)





def disown(obj: dict, manager: str, prefixes: list[Path], subresource: str = "") -> dict:
    """Take the fields under ``prefixes`` away from ``manager``'s Update entry: what the registry strategy sets
    after kube-apiserver's field manager ran (a Job's generated selector and labels, a Namespace's finalizers)."""
    entries = decode_managed_fields(obj)
    for e in entries:
        if e.ident == (manager, "Update", subresource):
            e.fields = e.fields.without_prefixes(prefixes)
    return _encode(obj, entries)
