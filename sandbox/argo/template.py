"""Argo Workflows' template variables and `when` / `depends` expressions (pure functions, no I/O).

* `substitute(obj, scope)`: replaces ``{{name}}`` (spaces inside the braces allowed) in every string of a
  JSON-like value with ``scope[name]``. A reference with one of Argo's variable prefixes (``inputs.``,
  ``steps.``, ``tasks.``, ``workflow.``, ``item``, ``pod.``, ...) that the scope lacks raises `TemplateError`
  ``failed to resolve {{name}}`` (``strict=False`` leaves it as is); other ``{{...}}`` text is left alone, as Argo
  does for custom references.
* `evaluate(expr, variables)`: a govaluate-like expression evaluator for ``when`` and ``depends``: ``== != < > <=
  >= =~ !~ && || !``, parentheses, quoted strings, numbers, ``true``/``false``; a bare word is the value of that
  variable when `variables` has it, else the word itself as a string (Argo turns govaluate variables into strings
  so ``heads == heads`` works unquoted).
* `expand_depends(expr)`: a ``depends`` expression with bare task names expanded as Argo does (``a`` ->
  ``(a.Succeeded || a.Skipped || a.Daemoned)``); `dependencies_to_depends(names)` for the older list form.
"""

from __future__ import annotations

import json
import re

TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
VARIABLE_PREFIXES = ("inputs.", "outputs.", "steps.", "tasks.", "workflow.", "pod.", "retries", "node.")
TASK_RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")


class TemplateError(ValueError):
    """A reference that cannot be resolved, or an invalid expression."""


def is_variable(tag: str) -> bool:
    return tag == "item" or tag.startswith("item.") or tag.startswith(VARIABLE_PREFIXES)


def to_str(value) -> str:
    """A parameter value as Argo renders it: strings as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def replace(text: str, scope: dict, strict: bool = True) -> str:
    def one(m: re.Match) -> str:
        tag = m.group(1).strip()
        if tag in scope:
            return to_str(scope[tag])
        if strict and (is_variable(tag) or tag.startswith("=")):
            raise TemplateError(f"failed to resolve {{{{{m.group(1)}}}}}")
        return m.group(0)
    return TAG_RE.sub(one, text)


def substitute(obj, scope: dict, strict: bool = True):
    """A copy of `obj` (dicts, lists, strings, scalars) with the references of every string replaced."""
    if isinstance(obj, str):
        return replace(obj, scope, strict) if "{{" in obj else obj
    if isinstance(obj, dict):
        return {k: substitute(v, scope, strict) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, scope, strict) for v in obj]
    return obj


def references(obj) -> list[str]:
    """The variable references (tags) left in `obj`, in order of appearance."""
    out: list[str] = []
    if isinstance(obj, str):
        out.extend(t.strip() for t in TAG_RE.findall(obj) if is_variable(t.strip()))
    elif isinstance(obj, dict):
        for v in obj.values():
            out.extend(references(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(references(v))
    return out


def item_scope(item) -> dict:
    """``{{item}}`` and ``{{item.key}}`` for one loop item."""
    scope = {"item": to_str(item)}
    if isinstance(item, dict):
        for k, v in item.items():
            scope[f"item.{k}"] = to_str(v)
    return scope


# -- expressions ------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>&&|\|\||==|!=|<=|>=|=~|!~|<|>|!|\(|\))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<num>-?\d+(?:\.\d+)?(?![\w.-]))
  | (?P<word>[A-Za-z0-9_][A-Za-z0-9_.\-/:]*)
""", re.X)
_COMPARE = ("==", "!=", "<", ">", "<=", ">=", "=~", "!~")


def _tokens(expr: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if m is None:
            raise TemplateError(f"Invalid expression '{expr}': unexpected character {expr[pos]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "ws":
            continue
        if kind == "str":
            out.append(("val", re.sub(r"\\(.)", r"\1", text[1:-1])))
        elif kind == "num":
            out.append(("val", float(text)))
        elif kind == "word":
            out.append(("word", text))
        else:
            out.append(("op", text))
    return out


class _Parser:
    def __init__(self, expr: str, variables: dict | None):
        self.expr = expr
        self.toks = _tokens(expr)
        self.i = 0
        self.vars = variables or {}

    def error(self, why: str) -> TemplateError:
        return TemplateError(f"Invalid expression '{self.expr}': {why}")

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self):
        if not self.toks:
            raise self.error("empty")
        v = self.or_()
        if self.i != len(self.toks):
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return v

    def or_(self):
        v = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            r = self.and_()
            v = self.boolean(v, "||") or self.boolean(r, "||")
        return v

    def and_(self):
        v = self.unary()
        while self.peek() == ("op", "&&"):
            self.take()
            r = self.unary()
            v = self.boolean(v, "&&") and self.boolean(r, "&&")
        return v

    def unary(self):
        if self.peek() == ("op", "!"):
            self.take()
            return not self.boolean(self.unary(), "!")
        return self.compare()

    def compare(self):
        left = self.primary()
        kind, op = self.peek()
        if kind == "op" and op in _COMPARE:
            self.take()
            right = self.primary()
            return self.apply(op, left, right)
        return left

    def primary(self):
        kind, v = self.take()
        if kind == "op" and v == "(":
            inner = self.or_()
            if self.take() != ("op", ")"):
                raise self.error("missing ')'")
            return inner
        if kind == "val":
            return v
        if kind == "word":
            if v in self.vars:
                return self.vars[v]
            if v in ("true", "false"):
                return v == "true"
            try:
                return float(v)
            except ValueError:
                return v
        raise self.error("unexpected end" if kind is None else f"unexpected {v!r}")

    def boolean(self, v, op):
        if not isinstance(v, bool):
            raise self.error(f"operator {op} needs booleans, got {v!r}")
        return v

    def apply(self, op, a, b):
        if op in ("==", "!="):
            same = type(a) is type(b) and a == b
            return same if op == "==" else not same
        if op in ("=~", "!~"):
            try:
                found = re.search(str(b), str(a)) is not None
            except re.error as e:
                raise self.error(f"bad regular expression {b!r}: {e}") from e
            return found if op == "=~" else not found
        if isinstance(a, bool) or isinstance(b, bool) or type(a) is not type(b):
            raise self.error(f"cannot compare {a!r} {op} {b!r}")
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def evaluate(expr: str, variables: dict | None = None):
    return _Parser(expr, variables).parse()


def evaluate_bool(expr: str, variables: dict | None = None) -> bool:
    v = evaluate(expr, variables)
    if not isinstance(v, bool):
        raise TemplateError(f"Expected boolean evaluation for '{expr}'. Got {to_str(v)}")
    return v


_DEP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z]+)?")


def expand_depends(expr: str) -> str:
    """Bare task names -> ``(t.Succeeded || t.Skipped || t.Daemoned)``; ``t.Result`` stays."""
    def one(m: re.Match) -> str:
        word = m.group(0)
        if word in ("true", "false") or "." in word:
            return word
        return f"({word}.Succeeded || {word}.Skipped || {word}.Daemoned)"
    return _DEP_RE.sub(one, expr)


def depends_tasks(expr: str) -> list[str]:
    """The task names an (unexpanded) ``depends`` expression mentions, in order."""
    out: list[str] = []
    for m in _DEP_RE.finditer(expr):
        name = m.group(0).split(".", 1)[0]
        if name not in ("true", "false") and name not in out:
            out.append(name)
    return out


def dependencies_to_depends(names: list[str]) -> str:
    return " && ".join(names)


def task_results(name: str, phase: str, children_phases: list[str] | None = None) -> dict:
    """The ``depends`` variables of one finished task."""
    kids = children_phases or []
    flags = {"Succeeded": phase == "Succeeded", "Failed": phase == "Failed", "Errored": phase == "Error",
             "Skipped": phase == "Skipped", "Omitted": phase == "Omitted", "Daemoned": False,
             "AnySucceeded": any(p == "Succeeded" for p in kids),
             "AllFailed": bool(kids) and all(p == "Failed" for p in kids)}
    return {f"{name}.{k}": v for k, v in flags.items()}
