"""Kubernetes label and field selectors (pure library).

Grammar and semantics follow k8s.io/apimachinery ``labels.Parse`` and ``fields.ParseSelector``:

* label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``,
  ``k>1``, ``k<1``; comma means AND.  Keys and values are validated like Kubernetes does.
* field selectors: ``path=v``, ``path==v``, ``path!=v``; comma means AND; ``\\`` escapes ``,``, ``=``, ``!``, ``\\``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_dict",
    "validate_label_key",
    "validate_label_value",
]

# ---------------------------------------------------------------------------------------------------------------------
# validation (k8s.io/apimachinery/pkg/util/validation)

_QNAME_CHAR = r"[A-Za-z0-9]"
_QNAME_FMT = "(" + _QNAME_CHAR + "[-A-Za-z0-9_.]*)?" + _QNAME_CHAR
_QNAME_RE = re.compile("^" + _QNAME_FMT + "$")
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_RE = re.compile("^" + _LABEL_VALUE_FMT + "$")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile("^" + _DNS1123_SUBDOMAIN_FMT + "$")


def _qualified_name_errors(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN_RE.match(prefix):
                errs.append(
                    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                    "regex used for validation is '%s')" % _DNS1123_SUBDOMAIN_FMT
                )
    else:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
            "is '%s') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" % _QNAME_FMT
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if name and not _QNAME_RE.match(name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'%s')" % _QNAME_FMT
        )
    return errs


def validate_label_key(key: str) -> list[str]:
    """Return Kubernetes-style error strings for an invalid label key (empty list when valid)."""
    return _qualified_name_errors(key)


def validate_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
            "used for validation is '%s')" % _LABEL_VALUE_FMT
        )
    return errs


def _check_key(key: str, field: str = "key") -> None:
    errs = validate_label_key(key)
    if errs:
        raise ValueError('%s: Invalid value: "%s": %s' % (field, key, "; ".join(errs)))


def _check_value(key: str, value: str, idx: int) -> None:
    errs = validate_label_value(value)
    if errs:
        raise ValueError('values[%d][%s]: Invalid value: "%s": %s' % (idx, key, value, "; ".join(errs)))


# ---------------------------------------------------------------------------------------------------------------------
# model

_OPS = {"=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"}


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        op = self.operator
        has = self.key in labels
        if op in ("=", "==", "in"):
            return has and str(labels[self.key]) in self.values
        if op in ("!=", "notin"):
            return (not has) or str(labels[self.key]) not in self.values
        if op == "exists":
            return has
        if op == "!":
            return not has
        if op in ("gt", "lt"):
            if not has:
                return False
            try:
                lv = int(str(labels[self.key]))
                rv = int(self.values[0])
            except (ValueError, IndexError):
                return False
            return lv > rv if op == "gt" else lv < rv
        raise ValueError("unknown operator %r" % op)

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return "!" + self.key
        if op in ("in", "notin"):
            return "%s %s (%s)" % (self.key, op, ",".join(self.values))
        if op == "gt":
            return "%s>%s" % (self.key, self.values[0])
        if op == "lt":
            return "%s<%s" % (self.key, self.values[0])
        return "%s%s%s" % (self.key, op, self.values[0])


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False  # a nil metav1.LabelSelector selects nothing

    def matches(self, labels: dict | None) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


# ---------------------------------------------------------------------------------------------------------------------
# label selector parser (lexer mirrors labels.Lexer)

_SPECIAL = "=!(),><"


def _lex(s: str) -> list[tuple[str, str]]:
    toks: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c in _SPECIAL:
            two = s[i : i + 2]
            if two in ("==", "!="):
                toks.append(("op", two))
                i += 2
                continue
            kind = {"(": "(", ")": ")", ",": ",", "!": "!", "=": "op", ">": "op", "<": "op"}[c]
            toks.append((kind, c))
            i += 1
            continue
        j = i
        while j < n and not s[j].isspace() and s[j] not in _SPECIAL:
            j += 1
        word = s[i:j]
        if word in ("in", "notin"):
            toks.append(("op", word))
        else:
            toks.append(("id", word))
        i = j
    toks.append(("end", ""))
    return toks


class _Parser:
    """Recursive-descent parser mirroring ``labels.Parser`` (error texts included)."""

    def __init__(self, s: str):
        self.toks = _lex(s)
        self.pos = 0

    def peek(self, values: bool = False) -> tuple[str, str]:
        t = self.toks[self.pos]
        if values and t[0] == "op" and t[1] in ("in", "notin"):
            return ("id", t[1])  # keywords are plain identifiers where keys/values are expected
        return t

    def nxt(self, values: bool = False) -> tuple[str, str]:
        t = self.peek(values)
        self.pos += 1
        return t

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self.peek(values=True)
            if kind in ("id", "!"):
                try:
                    reqs.append(self.requirement())
                except ValueError as e:
                    raise ValueError("unable to parse requirement: %s" % e) from None
                t, lit = self.nxt()
                if t == "end":
                    return reqs
                if t != ",":
                    raise ValueError("found '%s', expected: ',' or 'end of string'" % lit)
                t2, lit2 = self.peek(values=True)
                if t2 not in ("id", "!"):
                    raise ValueError("found '%s', expected: identifier after ','" % lit2)
            elif kind == "end":
                return reqs
            else:
                raise ValueError("found '%s', expected: !, identifier, or 'end of string'" % lit)

    def requirement(self) -> Requirement:
        negate = False
        if self.peek()[0] == "!":
            self.nxt()
            negate = True
        t, key = self.nxt(values=True)
        if t != "id":
            raise ValueError("found '%s', expected: identifier" % key)
        _check_key(key, "<nil>")  # labels.Parser validates the key with its own path, nil for a query's selector
        nt = self.peek()
        if negate:
            return Requirement(key, "!")
        if nt[0] in (",", "end"):
            return Requirement(key, "exists")
        if nt[0] != "op":
            raise ValueError("found '%s', expected: in, notin, =, ==, !=, gt, lt" % nt[1])
        op = self.nxt()[1]
        if op in ("in", "notin"):
            values = self.value_set()
            if not values:
                raise ValueError("values: Invalid value: []string{}: for 'in', 'notin' operators, "
                                 "values set can't be empty")
            for i, v in enumerate(values):
                _check_value(key, v, i)
            return Requirement(key, op, tuple(sorted(set(values))))
        v = self.peek(values=True)
        if v[0] == "id":
            self.nxt()
            val = v[1]
        elif v[0] in (",", "end"):
            val = ""
        else:
            raise ValueError("found '%s', expected: identifier" % v[1])
        if op in (">", "<"):
            try:
                int(val)
            except ValueError:
                raise ValueError("values[0]: Invalid value: \"%s\": for 'Gt', 'Lt' operators, the value must be "
                                 "an integer" % val) from None
            return Requirement(key, "gt" if op == ">" else "lt", (val,))
        _check_value(key, val, 0)
        return Requirement(key, op, (val,))

    def value_set(self) -> list[str]:
        t, lit = self.nxt()
        if t != "(":
            raise ValueError("found '%s' expected: '('" % lit)
        values: list[str] = []
        expect_value = True
        while True:
            t, lit = self.nxt(values=True)
            if t == ")":
                if expect_value and values:
                    values.append("")  # a trailing comma means an empty value, as in Kubernetes
                return values
            if t == ",":
                if expect_value:
                    values.append("")
                expect_value = True
            elif t == "id" and expect_value:
                values.append(lit)
                expect_value = False
            else:
                raise ValueError("found '%s', expected: ',', or identifier" % lit if t != "end"
                                 else "found '', expected: ')'")


def parse_label_selector(s: str) -> LabelSelector:
    """Parse a label selector string; raises ``ValueError`` with a Kubernetes-like message."""
    if s is None or not s.strip():
        return EVERYTHING
    reqs = _Parser(s).parse()
    reqs.sort(key=lambda r: r.key)
    return LabelSelector(tuple(reqs))


def selector_from_dict(label_selector: dict[str, Any] | None) -> LabelSelector:
    """Convert a metav1.LabelSelector (``matchLabels`` / ``matchExpressions``) into a selector.

    ``None`` selects nothing; ``{}`` selects everything (as ``metav1.LabelSelectorAsSelector``).
    """
    if label_selector is None:
        return NOTHING
    if not isinstance(label_selector, dict):
        raise ValueError("invalid label selector: %r" % (label_selector,))
    reqs: list[Requirement] = []
    for k, raw in sorted((label_selector.get("matchLabels") or {}).items()):
        _check_key(k)
        v = "" if raw is None else str(raw)
        _check_value(k, v, 0)
        reqs.append(Requirement(k, "=", (v,)))
    for expr in label_selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        op = expr.get("operator", "")
        values = [str(x) for x in (expr.get("values") or [])]
        _check_key(key)
        if op in ("In", "NotIn"):
            if not values:
                raise ValueError(
                    "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
                )
            for i, v in enumerate(values):
                _check_value(key, v, i)
            reqs.append(Requirement(key, "in" if op == "In" else "notin", tuple(sorted(set(values)))))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError(
                    "values: Invalid value: %s: values set must be empty for exists and does not exist"
                    % _go_str_slice(values)
                )
            reqs.append(Requirement(key, "exists" if op == "Exists" else "!"))
        else:
            raise ValueError('"%s" is not a valid label selector operator' % op)
    reqs.sort(key=lambda r: r.key)
    return LabelSelector(tuple(reqs))


def _go_str_slice(values: list[str]) -> str:
    return "[]string{%s}" % ", ".join('"%s"' % v for v in values)


# ---------------------------------------------------------------------------------------------------------------------
# field selectors


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, obj: dict) -> bool:
        for r in self.requirements:
            val = field_value(obj, r.key)
            if r.operator in ("=", "=="):
                if val != r.values[0]:
                    return False
            elif val == r.values[0]:
                return False
        return True

    def empty(self) -> bool:
        return not self.requirements

    def fields(self) -> list[str]:
        return [r.key for r in self.requirements]

    def __str__(self) -> str:
        return ",".join(
            "%s%s%s" % (_escape_field(r.key), r.operator, _escape_field(r.values[0])) for r in self.requirements
        )


def _escape_field(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def field_value(obj: Any, path: str) -> str:
    """Value of a dotted field path as the string the apiserver compares field selectors against.

    Missing fields give ``""``; booleans give ``"true"``/``"false"``; ``involvedObject.*`` (events) and all other
    dotted paths are resolved generically.  ``status.podIP`` falls back to the first of ``status.podIPs``.
    """
    cur: Any = obj
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            cur = None
            break
    if cur is None and path == "status.podIP":
        ips = ((obj or {}).get("status") or {}).get("podIPs") or []
        cur = ips[0].get("ip") if ips and isinstance(ips[0], dict) else None
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, (dict, list)):
        return ""
    return str(cur)


def _split_unescaped(s: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            buf.append(s[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    parts.append("".join(buf))
    return parts


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise ValueError("invalid field selector: trailing backslash character")
            nc = s[i + 1]
            if nc not in "\\,=":
                raise ValueError("invalid field selector: invalid escape sequence: \\%s" % nc)
            out.append(nc)
            i += 2
            continue
        if c in ",=":
            raise ValueError("invalid field selector: unescaped %s character in value" % c)
        out.append(c)
        i += 1
    return "".join(out)


def _find_unescaped(s: str, token: str) -> int:
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s.startswith(token, i):
            return i
        i += 1
    return -1


def parse_field_selector(s: str) -> FieldSelector:
    """Parse a field selector (``metadata.name=x,status.phase!=Running``)."""
    if s is None or not s.strip():
        return FieldSelector()
    reqs: list[Requirement] = []
    for part in _split_unescaped(s, ","):
        if part == "":
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(part, op)
            if idx >= 0:
                lhs, rhs = part[:idx], part[idx + len(op) :]
                key = lhs.strip()
                if not key:
                    raise ValueError("invalid selector: '%s'; can't understand '%s'" % (s, part))
                reqs.append(Requirement(key, op, (_unescape(rhs),)))
                break
        else:
            raise ValueError("invalid selector: '%s'; can't understand '%s'" % (s, part))
    return FieldSelector(tuple(reqs))


# Field labels the real apiserver accepts per resource (beyond metadata.name / metadata.namespace).
SUPPORTED_FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
        "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
    }),
    ("", "events"): frozenset({
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
        "reportingComponent", "source", "type",
    }),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "secrets"): frozenset({"type"}),
    ("", "replicationcontrollers"): frozenset({"status.replicas"}),
    ("apps", "replicasets"): frozenset({"status.replicas"}),
    ("batch", "jobs"): frozenset({"status.successful"}),
    ("certificates.k8s.io", "certificatesigningrequests"): frozenset({"spec.signerName"}),
    ("events.k8s.io", "events"): frozenset({
        "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion",
        "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type",
        "deprecatedSource.component", "deprecatedSource.host",
    }),
}


def check_field_selector(group: str, resource: str, sel: FieldSelector, kind: str = "") -> None:
    """Raise ``ValueError`` like the apiserver does for a field label the resource does not support.

    Custom resources (unknown group/resource) only support ``metadata.name`` and ``metadata.namespace``.
    """
    extra = SUPPORTED_FIELD_LABELS.get((group, resource))
    for key in sel.fields():
        if key in ("metadata.name", "metadata.namespace"):
            continue
        if extra is not None and key in extra:
            continue
        if extra is not None and group == "" and resource in ("pods", "events", "namespaces", "nodes", "secrets"):
            raise ValueError("field label not supported: %s" % key)
        raise ValueError('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"' % key)
