"""Argo resource templates' ``successCondition`` / ``failureCondition``: Kubernetes label-selector syntax whose keys
are JSON paths into the object (gjson paths, as argoexec evaluates them), e.g.
``status.succeeded > 0,status.phase != Failed``, ``metadata.name in (a,b)``, ``status.ready``, ``!status.error``.

Requirements are separated by commas; operators ``=``, ``==``, ``!=``, ``in (..)``, ``notin (..)``, ``>``, ``<``,
``key`` (exists) and ``!key`` (does not exist), with the label selector's semantics: ``!=`` and ``notin`` hold for a
missing path, ``>`` / ``<`` compare integers. Path values are compared as gjson's ``String()``: strings as they are,
numbers in their shortest form, booleans ``true``/``false``, objects and arrays as compact JSON, null as "".
Path syntax: keys separated by ``.`` (``\\.`` escapes a dot), array indexes (``items.0.name``), ``#`` for a length.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["MISSING", "ConditionError", "Requirement", "evaluate", "lookup", "parse"]


class ConditionError(ValueError):
    """A condition that does not parse."""


MISSING = object()
_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|=|>|<|!|\(|\)|,)|(?P<word>[^\s,=!<>()]+))")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                      # = == != in notin > < exists !
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.op}{self.values[0]}"

    def matches(self, obj: object) -> bool:
        found = lookup(obj, self.key)
        if self.op == "exists":
            return found is not MISSING
        if self.op == "!":
            return found is MISSING
        value = None if found is MISSING else gjson_string(found)
        if self.op in ("=", "==", "in"):
            return value is not None and value in self.values
        if self.op in ("!=", "notin"):
            return value is None or value not in self.values
        if value is None:
            return False
        try:
            have = int(value)
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if self.op == ">" else have < want


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"unexpected character at {pos} in {text!r}")
        out.append(("op", m.group("op")) if m.group("op") else ("word", m.group("word")))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse(text: str) -> list[Requirement]:
    """The requirements of a condition (an empty or blank condition has none)."""
    toks = _tokens(text or "")
    reqs: list[Requirement] = []
    i = 0

    def take(kind: str, value: str | None = None) -> str:
        nonlocal i
        if i >= len(toks) or toks[i][0] != kind or (value is not None and toks[i][1] != value):
            got = toks[i][1] if i < len(toks) else "end of string"
            raise ConditionError(f"in {text!r}: expected {value or kind}, found {got!r}")
        i += 1
        return toks[i - 1][1]

    while i < len(toks):
        if toks[i] == ("op", "!"):
            i += 1
            reqs.append(Requirement(take("word"), "!"))
        else:
            key = take("word")
            nxt = toks[i] if i < len(toks) else None
            if nxt is None or nxt == ("op", ","):
                reqs.append(Requirement(key, "exists"))
            elif nxt[0] == "op" and nxt[1] in ("=", "==", "!=", ">", "<"):
                i += 1
                value = take("word") if i < len(toks) and toks[i][0] == "word" else ""
                if nxt[1] in (">", "<"):
                    try:
                        int(value)
                    except ValueError:
                        raise ConditionError(f"in {text!r}: {key}{nxt[1]}{value}: for '>' and '<' the value "
                                             "must be an integer") from None
                reqs.append(Requirement(key, nxt[1], (value,)))
            elif nxt in (("word", "in"), ("word", "notin")):
                i += 1
                take("op", "(")
                values: list[str] = []
                while True:
                    if i < len(toks) and toks[i][0] == "word":
                        values.append(take("word"))
                    else:
                        values.append("")
                    if take("op") == ")":
                        break
                    if toks[i - 1][1] != ",":
                        raise ConditionError(f"in {text!r}: expected ',' or ')' in the values of {key}")
                reqs.append(Requirement(key, nxt[1], tuple(values)))
            else:
                raise ConditionError(f"in {text!r}: expected an operator after {key!r}, found {nxt[1]!r}")
        if i < len(toks):
            take("op", ",")
            if i >= len(toks):
                raise ConditionError(f"in {text!r}: a requirement is missing after ','")
    return reqs


def _path_parts(path: str) -> list[str]:
    parts, cur, esc = [], "", False
    for ch in path:
        if esc:
            cur, esc = cur + ch, False
        elif ch == "\\":
            esc = True
        elif ch == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def lookup(obj: object, path: str) -> object:
    """The value at a gjson-like path (``MISSING`` when absent; see the module doc)."""
    cur = obj
    for part in _path_parts(path.lstrip(".")):
        if isinstance(cur, dict):
            if part not in cur:
                return MISSING
            cur = cur[part]
        elif isinstance(cur, list):
            if part == "#":
                cur = len(cur)
            elif part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                return MISSING
        else:
            return MISSING
    return cur


def gjson_string(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def evaluate(obj: object, success: list[Requirement], failure: list[Requirement]) -> tuple[str, str]:
    """``("failed", message)`` when a failure requirement holds, ``("succeeded", "")`` when every success
    requirement holds (or there are none), else ``("pending", what is not met yet)`` - argoexec's order."""
    for req in failure:
        if req.matches(obj):
            return "failed", f"failure condition '{req}' evaluated true"
    unmet = [str(r) for r in success if not r.matches(obj)]
    if unmet:
        return "pending", f"{len(success) - len(unmet)}/{len(success)} success conditions matched " \
                          f"(waiting for {', '.join(unmet)})"
    return "succeeded", ""
