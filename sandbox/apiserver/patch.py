"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic merge patch.

All functions are pure: they return new objects and never mutate their inputs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sandbox.apiserver.listkeys import ListInfo, list_info

__all__ = ["PatchError", "json_equal", "json_patch", "merge_patch", "strategic_merge_patch"]


class PatchError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values (``True != 1``, ``1 == 1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------------------------------------------------
# RFC 6902


def _pointer(path: Any, op: str) -> list[str]:
    if not isinstance(path, str):
        raise PatchError("%s operation: path must be a string" % op)
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(tok: str, length: int, op: str, path: str, allow_end: bool) -> int:
    if tok == "-" and allow_end:
        return length
    if not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
        raise PatchError("%s operation does not apply: invalid array index %r in path %s" % (op, tok, path))
    idx = int(tok)
    limit = length if allow_end else length - 1
    if idx > limit:
        raise PatchError("%s operation does not apply: doc is missing path: \"%s\": missing value" % (op, path))
    return idx


def _walk(doc: Any, toks: list[str], op: str, path: str) -> Any:
    cur = doc
    for tok in toks:
        if isinstance(cur, dict):
            if tok not in cur:
                raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
            cur = cur[tok]
        elif isinstance(cur, list):
            cur = cur[_index(tok, len(cur), op, path, False)]
        else:
            raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
    return cur


def _get(doc: Any, path: str, op: str) -> Any:
    return _walk(doc, _pointer(path, op), op, path)


def _add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    toks = _pointer(path, op)
    if not toks:
        return value
    parent = _walk(doc, toks[:-1], op, path)
    last = toks[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), op, path, True), value)
    else:
        raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> tuple[Any, Any]:
    toks = _pointer(path, op)
    if not toks:
        raise PatchError("%s operation does not apply: cannot remove the whole document" % op)
    parent = _walk(doc, toks[:-1], op, path)
    last = toks[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), op, path, False))
    raise PatchError('%s operation does not apply: doc is missing path: "%s": missing value' % (op, path))


def _replace(doc: Any, path: str, value: Any) -> Any:
    toks = _pointer(path, "replace")
    if not toks:
        return value
    parent = _walk(doc, toks[:-1], "replace", path)
    last = toks[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("replace operation does not apply: doc is missing key: %s: missing value" % path)
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(last, len(parent), "replace", path, False)] = value
    else:
        raise PatchError("replace operation does not apply: doc is missing key: %s: missing value" % path)
    return doc


def json_patch(doc: Any, ops: list[dict]) -> Any:
    """Apply an RFC 6902 JSON patch; raises ``PatchError``."""
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    out = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError("json: cannot unmarshal into Go value of type jsonpatch.Operation")
        kind = op.get("op")
        path = op.get("path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError('%s operation: missing value for path "%s"' % (kind, path))
        if kind == "add":
            out = _add(out, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            out, _ = _remove(out, path)
        elif kind == "replace":
            out = _replace(out, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            frm = op.get("from")
            if not isinstance(frm, str):
                raise PatchError("%s operation: missing from" % kind)
            if kind == "move":
                if frm == path:
                    continue
                if path.startswith(frm + "/"):
                    raise PatchError("move operation does not apply: cannot move %s into its own child %s"
                                     % (frm, path))
                out, value = _remove(out, frm, "move")
            else:
                value = copy.deepcopy(_get(out, frm, "copy"))
            out = _add(out, path, value, kind)
        elif kind == "test":
            try:
                cur = _get(out, path, "test")
            except PatchError:
                if op["value"] is None:
                    continue
                raise PatchError("testing value %s failed: test failed" % path) from None
            if not json_equal(cur, op["value"]):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# RFC 7386


def merge_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Kubernetes strategic merge patch

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"


class _Ctx:
    def __init__(self, gvk: tuple[str, str, str], schema: dict | None):
        self.gvk = gvk
        self.schema = schema

    def info(self, path: tuple[str, ...]) -> ListInfo:
        return list_info(self.gvk, path, self.schema)


def strategic_merge_patch(doc: Any, patch: Any, gvk: tuple[str, str, str], schema: dict | None = None) -> Any:
    """Apply a Kubernetes strategic merge patch to ``doc`` (an object of kind ``gvk``).

    Lists are merged according to the patchStrategy/patchMergeKey of built-in kinds (see ``listkeys``); other lists
    are replaced.  Supports ``$patch: replace|delete|merge``, ``$retainKeys``, ``$deleteFromPrimitiveList/<f>``,
    ``$setElementOrder/<f>`` and ``null`` deletion.  Raises ``PatchError``.
    """
    if not isinstance(patch, dict):
        raise PatchError("json: cannot unmarshal %s into Go value of type map[string]interface {}"
                         % type(patch).__name__)
    ctx = _Ctx(gvk, schema)
    base = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    out = _merge_map(base, patch, (), ctx)
    return {} if out is _DELETED else out


_DELETED = object()


def _merge_map(orig: dict, patch: dict, path: tuple[str, ...], ctx: _Ctx) -> Any:
    directive = patch.get(_DIRECTIVE)
    if directive is not None:
        if directive == "delete":
            return _DELETED
        if directive == "replace":
            return _clean(patch, path, ctx)
        if directive != "merge":
            raise PatchError("Unknown patch type: %s in map: %s" % (directive, json.dumps(patch, sort_keys=True)))
    out = orig
    retain = patch.get(_RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("invalid patch: $retainKeys must be a list, got %s" % json.dumps(retain))
        for k, pv in patch.items():
            if not k.startswith("$") and k not in retain and pv is not None:
                raise PatchError("The key %s is not in the $retainKeys list %s" % (k, json.dumps(retain)))
        out = {k: v for k, v in out.items() if k in retain}
    orders: dict[str, list] = {}
    for k, v in patch.items():
        if k.startswith(_DELETE_PRIMITIVE):
            field = k[len(_DELETE_PRIMITIVE) :]
            if not isinstance(v, list):
                raise PatchError("invalid patch: %s must be a list" % k)
            cur = out.get(field)
            if isinstance(cur, list):
                out[field] = [x for x in cur if not any(json_equal(x, d) for d in v)]
        elif k.startswith(_SET_ORDER):
            if not isinstance(v, list):
                raise PatchError("invalid patch: %s must be a list" % k)
            orders[k[len(_SET_ORDER) :]] = v
    for k, v in patch.items():
        if k.startswith("$"):
            if k in (_DIRECTIVE, _RETAIN_KEYS) or k.startswith((_DELETE_PRIMITIVE, _SET_ORDER)):
                continue
            raise PatchError("unknown directive %s" % k)
        sub = (*path, k)
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, dict):
            merged = _merge_map(cur if isinstance(cur, dict) else {}, v, sub, ctx)
            if merged is _DELETED:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(cur if isinstance(cur, list) else [], v, sub, ctx, orders.get(k))
        else:
            out[k] = copy.deepcopy(v)
    for field, order in orders.items():
        if field not in patch and isinstance(out.get(field), list):
            out[field] = _apply_order(out[field], order, ctx.info((*path, field)))
    return out


def _clean(patch: Any, path: tuple[str, ...], ctx: _Ctx) -> Any:
    """A patch value used as a literal: drop directives and nulls."""
    if isinstance(patch, dict):
        return {
            k: _clean(v, (*path, k), ctx)
            for k, v in patch.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(patch, list):
        return [_clean(x, path, ctx) for x in patch if not (isinstance(x, dict) and _DIRECTIVE in x)]
    return copy.deepcopy(patch)


def _key_of(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _merge_list(orig: list, patch: list, path: tuple[str, ...], ctx: _Ctx,
                order: list | None) -> list:
    info = ctx.info(path)
    # a `{"$patch": "replace"}` element replaces the whole list, whatever the strategy
    if any(isinstance(x, dict) and x.get(_DIRECTIVE) == "replace" for x in patch):
        return [_clean(x, path, ctx) for x in patch if not (isinstance(x, dict) and _DIRECTIVE in x)]
    if not info.smp.startswith("merge"):
        return [_clean(x, path, ctx) for x in patch]
    key = info.smp_key
    if not key:
        # merge of primitives: union, keeping the original order, then the new values in patch order
        out = list(orig)
        for x in patch:
            if isinstance(x, dict):
                if x.get(_DIRECTIVE) == "delete":
                    continue
                raise PatchError("unable to merge a map into a list of primitives at %s" % ".".join(path))
            if not any(json_equal(x, y) for y in out):
                out.append(copy.deepcopy(x))
        return _apply_order(out, order, info) if order is not None else _normalize_order(out, patch, orig, info)
    out = list(orig)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError("unable to find api field in struct for the merging list %s: expected a map"
                             % ".".join(path))
        if key not in item:
            raise PatchError("map: %s does not contain declared merge key: %s" % (_go_map(item), key))
        kv = item[key]
        idx = next((i for i, o in enumerate(out) if json_equal(_key_of(o, key), kv)), None)
        directive = item.get(_DIRECTIVE)
        if directive == "delete":
            if idx is not None:
                out = [o for o in out if not json_equal(_key_of(o, key), kv)]
            continue
        if idx is None:
            merged = _merge_map({}, item, path, ctx)
            if merged is not _DELETED:
                out.append(merged)
        else:
            merged = _merge_map(out[idx] if isinstance(out[idx], dict) else {}, item, path, ctx)
            if merged is _DELETED:
                out.pop(idx)
            else:
                out[idx] = merged
    if order is not None:
        return _apply_order(out, order, info)
    return _normalize_order(out, patch, orig, info)


def _normalize_order(merged: list, patch: list, orig: list, info: ListInfo) -> list:
    """apimachinery's normalizeElementOrder without $setElementOrder: the items the patch names come in the
    patch's order, the server-only items in the server's order, and a server-only item goes first only where
    the server's order puts it before the next patch item."""
    key = info.smp_key

    def ident(x: Any) -> str:
        return json.dumps(_key_of(x, key) if key else x, sort_keys=True)

    patch_pos = {}
    for i, x in enumerate(patch):
        patch_pos.setdefault(ident(x), i)
    server_pos = {ident(x): i for i, x in enumerate(orig)}
    left = sorted((x for x in merged if ident(x) in patch_pos), key=lambda x: patch_pos[ident(x)])
    right = sorted((x for x in merged if ident(x) not in patch_pos), key=lambda x: server_pos.get(ident(x), 0))
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = server_pos.get(ident(left[i]), -1), server_pos.get(ident(right[j]), -1)
            if li >= 0 and ri >= 0 and ri < li:
                out.append(right[j])
                j += 1
            else:
                out.append(left[i])
                i += 1
    return out


def _go_map(d: dict) -> str:
    return "map[%s]" % " ".join("%s:%s" % (k, v) for k, v in sorted(d.items()))


def _apply_order(items: list, order: list, info: ListInfo) -> list:
    """Order ``items`` as ``$setElementOrder`` says; items not named keep their relative position."""
    key = info.smp_key

    def ident(x: Any) -> Any:
        return json.dumps(_key_of(x, key) if key else x, sort_keys=True)

    pos = {ident(x): i for i, x in enumerate(order)}
    named = sorted((x for x in items if ident(x) in pos), key=lambda x: pos[ident(x)])
    others = [(i, x) for i, x in enumerate(items) if ident(x) not in pos]
    if not others:
        return named
    server_idx = {ident(x): i for i, x in enumerate(items)}
    out: list = []
    ni = 0
    for i, x in others:
        while ni < len(named) and server_idx[ident(named[ni])] < i:
            out.append(named[ni])
            ni += 1
        out.append(x)
    out.extend(named[ni:])
    return out
