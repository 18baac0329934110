"""Field paths and field sets, with the FieldsV1 encoding used by ``metadata.managedFields``.

A path is a tuple of path elements; each element is a 2-tuple:

* ``("f", name)``          a field of a map / struct              -> ``f:<name>``
* ``("k", key_json)``      an associative-list element by its keys -> ``k:{"name":"x"}`` (compact JSON, sorted keys)
* ``("v", value_json)``    a set-list element by its value         -> ``v:"x"``
* ``("i", index)``         an element of an atomic list            -> ``i:0`` (only for diagnostics)

A ``FieldSet`` is a set of *member* paths.  In FieldsV1 a member that also has members below it is marked with
``".": {}`` (structured-merge-diff semantics).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "FieldSet",
    "Path",
    "PathElement",
    "element_string",
    "key_element",
    "parse_element",
    "path_string",
    "value_element",
]

PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_element(item: dict, keys: Iterable[str], defaults: dict | None = None) -> PathElement:
    """Path element of an associative-list item identified by ``keys`` (missing keys use ``defaults``)."""
    kv: dict[str, Any] = {}
    for k in keys:
        if isinstance(item, dict) and k in item and item[k] is not None:
            kv[k] = item[k]
        elif defaults and k in defaults:
            kv[k] = defaults[k]
    return ("k", _compact(kv))


def value_element(value: Any) -> PathElement:
    return ("v", _compact(value))


def element_to_fields_v1(pe: PathElement) -> str:
    kind, val = pe
    if kind == "f":
        return "f:" + val
    if kind in ("k", "v"):
        return kind + ":" + val
    if kind == "i":
        return "i:%d" % val
    raise ValueError("unknown path element %r" % (pe,))


def parse_element(s: str) -> PathElement:
    """Parse a FieldsV1 key (``f:name``, ``k:{...}``, ``v:...``, ``i:N``)."""
    if len(s) < 2 or s[1] != ":":
        raise ValueError("invalid FieldsV1 key %r" % s)
    kind, rest = s[0], s[2:]
    if kind == "f":
        return ("f", rest)
    if kind in ("k", "v"):
        try:
            return (kind, _compact(json.loads(rest)))
        except ValueError:
            raise ValueError("invalid FieldsV1 key %r" % s) from None
    if kind == "i":
        return ("i", int(rest))
    raise ValueError("invalid FieldsV1 key %r" % s)



def element_string(pe: PathElement) -> str:
    """Human readable element, as structured-merge-diff prints it (``.name``, ``[name="x"]``, ``[="x"]``)."""
    kind, val = pe
    if kind == "f":
        return "." + val
    if kind == "k":
        kv = json.loads(val)
        return "[" + ",".join("%s=%s" % (k, _compact(kv[k])) for k in sorted(kv)) + "]"
    if kind == "v":
        return "[=" + _compact(json.loads(val)) + "]"
    if kind == "i":
        return "[%d]" % val
    return "<?>"


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="app"].image``."""
    return "".join(element_string(pe) for pe in path)


class FieldSet:
    """An immutable-ish set of member paths."""

    __slots__ = ("paths",)

    def __init__(self, paths: Iterable[Path] | None = None):
        self.paths: frozenset[Path] = frozenset(tuple(p) for p in (paths or ()))

    # -- set algebra -------------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Path]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __contains__(self, path: object) -> bool:
        return path in self.paths

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.paths == other.paths

    def __hash__(self) -> int:
        return hash(self.paths)

    def __repr__(self) -> str:
        return "FieldSet(%s)" % sorted(path_string(p) for p in self.paths)

    def empty(self) -> bool:
        return not self.paths

    def union(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths | other.paths)

    def difference(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths - other.paths)

    def intersection(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths & other.paths)

    def without_prefixes(self, prefixes: Iterable[Path]) -> FieldSet:
        """Drop every path equal to or below one of ``prefixes``."""
        pre = set(prefixes)
        if not pre:
            return self
        return FieldSet(p for p in self.paths if not any(p[:n] in pre for n in range(1, len(p) + 1)))

    def has_prefix(self, prefix: Path) -> bool:
        """True when some member path is ``prefix`` or lies below it."""
        n = len(prefix)
        return any(p[:n] == prefix for p in self.paths)

    def has_strict_descendant(self, prefix: Path) -> bool:
        n = len(prefix)
        return any(len(p) > n and p[:n] == prefix for p in self.paths)

    def strings(self) -> list[str]:
        return sorted(path_string(p) for p in self.paths)

    # -- FieldsV1 ----------------------------------------------------------------------------------------------------
    def to_fields_v1(self) -> dict:
        root: dict = {}
        members: set[Path] = set(self.paths)
        for path in sorted(self.paths, key=len):
            node = root
            for pe in path:
                node = node.setdefault(element_to_fields_v1(pe), {})
        # mark members that have children with ".": {}
        for path in members:
            node = root
            for pe in path:
                node = node[element_to_fields_v1(pe)]
            if node and "." not in node:
                node["."] = {}
        return _sort_tree(root)

    @classmethod
    def from_fields_v1(cls, data: dict | None) -> FieldSet:
        paths: set[Path] = set()

        def walk(node: dict, prefix: Path) -> None:
            if not isinstance(node, dict):
                raise ValueError("invalid FieldsV1 node at %s" % path_string(prefix))
            for k, v in node.items():
                if k == ".":
                    if prefix:
                        paths.add(prefix)
                    continue
                child = (*prefix, parse_element(k))
                if not v:
                    paths.add(child)
                else:
                    walk(v, child)

        walk(data or {}, ())
        return cls(paths)


def _sort_tree(node: dict) -> dict:
    # "." first, then keys in lexical order (like the Go serialiser, which sorts by the serialised element)
    out: dict = {}
    if "." in node:
        out["."] = {}
    for k in sorted(x for x in node if x != "."):
        out[k] = _sort_tree(node[k])
    return out
