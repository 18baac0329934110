# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes label selectors: parse and validate them before anything is sent, and match labels locally.

The grammar is the one of ``kubectl -l`` (k8s.io/apimachinery ``labels.Parse``): requirements separated by
commas, each one of ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k``
(does not exist), ``k>1`` and ``k<1``. Keys and values are checked like the API server checks them, so a typo
fails the task with a readable message instead of a 400 halfway through a run.
"""

from __future__ import annotations

import re

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile("^%s\\Z" % _NAME)  # \Z, not $: "$" also matches before a trailing newline
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(r"^(?P<key>%s)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$" % _KEY)
_CMP_RE = re.compile(r"^(?P<key>%s)\s*(?P<op>==|!=|=|>|<)\s*(?P<value>[^=!<>\s]*)$" % _KEY)
_EXISTS_RE = re.compile(r"^(?P<not>!\s*)?(?P<key>%s)$" % _KEY)

EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, NOT_EXISTS, GREATER, LESS = (
    "=", "!=", "in", "notin", "exists", "!", ">", "<")
# Requirements an object can only meet by carrying the label: a selector needs one of them to be "positive"
POSITIVE = (EQUALS, IN, EXISTS, GREATER, LESS)


def key_problem(key):
    """Why ``key`` is not a valid label key (None when it is)."""
    prefix, _sep, name = key.rpartition("/")
    if "/" in prefix:
        return "label key %r has more than one '/'" % key
    if _sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return "label key %r: the prefix must be a lowercase DNS subdomain" % key
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        return ("label key %r: the name must be 1 to 63 alphanumeric characters, '-', '_' or '.', starting and "
                "ending with an alphanumeric character" % key)
    return None


def value_problem(value):
    """Why ``value`` is not a valid label value (None when it is)."""
    if value == "":
        return None
    if len(value) > 63 or not _NAME_RE.match(value):
        return ("label value %r must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending "
                "with an alphanumeric character" % value)
    return None


def check_labels(values, what="labels"):
    """Raise K8sError naming the first invalid key or value of a mapping of labels (str keys and values)."""
    for key in sorted(values or {}):
        problem = key_problem(key) or value_problem(values[key])
        if problem:
            raise K8sError("%s: %s" % (what, problem))
    return values


def check_annotation_keys(values, what="annotations"):
    """Raise K8sError naming the first invalid key of a mapping of annotations (their values are free text)."""
    for key in sorted(values or {}):
        problem = key_problem(key)
        if problem:
            raise K8sError("%s: %s" % (what, problem.replace("label key", "annotation key")))
    return values


def _split_terms(text):
    """Split on the commas that are not inside parentheses."""
    terms, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return terms


def _term(term):
    """One requirement ``(key, operator, values)`` of a selector term."""
    match = _SET_RE.match(term)
    if match:
        values = [v.strip() for v in match.group("values").split(",")]
        if values == [""]:
            raise ValueError("%r: the set of values is empty" % term)
        return match.group("key"), match.group("op"), values
    match = _CMP_RE.match(term)
    if match:
        op = EQUALS if match.group("op") == "==" else match.group("op")
        value = match.group("value")
        if op in (GREATER, LESS) and not re.match(r"^-?\d+$", value):
            raise ValueError("%r: %s needs an integer value" % (term, op))
        return match.group("key"), op, [value]
    match = _EXISTS_RE.match(term)
    if match:
        return match.group("key"), NOT_EXISTS if match.group("not") else EXISTS, []
    raise ValueError("%r is not a label selector requirement (use k=v, k!=v, k in (a,b), k notin (a,b), k or !k)"
                     % term)


def parse_selector(text, option="label selector"):
    """Parse and validate a label selector; return its requirements ``[(key, operator, values)]``.

    Raises K8sError naming ``option`` when the selector is empty or malformed.
    """
    if not isinstance(text, str) or not text.strip():
        raise K8sError("%s: an empty selector selects every object; give one such as app=iris" % option)
    requirements = []
    for term in _split_terms(text.strip()):
        if not term:
            raise K8sError("%s %r: empty requirement (a stray comma?)" % (option, text))
        try:
            key, op, values = _term(term)
        except ValueError as exc:
            raise K8sError("%s %r: %s" % (option, text, exc)) from None
        problems = [key_problem(key)] + [value_problem(v) for v in values if op not in (GREATER, LESS)]
        problems = [p for p in problems if p]
        if problems:
            raise K8sError("%s %r: %s" % (option, text, "; ".join(problems)))
        requirements.append((key, op, values))
    return requirements


def is_restrictive(requirements):
    """True when objects must carry some label to match (not only !=, notin and !k requirements)."""
    return any(op in POSITIVE for _key, op, _values in requirements)


def _integer(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def matches(requirements, labels):
    """Whether an object with ``labels`` (a dict, None for no labels) matches every requirement."""
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == EQUALS and not (present and value == values[0]):
            return False
        if op == NOT_EQUALS and present and value == values[0]:
            return False
        if op == IN and not (present and value in values):
            return False
        if op == NOT_IN and present and value in values:
            return False
        if op == EXISTS and not present:
            return False
        if op == NOT_EXISTS and present:
            return False
        if op in (GREATER, LESS):
            number = _integer(value) if present else None
            if number is None:
                return False
            if (op == GREATER and number <= int(values[0])) or (op == LESS and number >= int(values[0])):
                return False
    return True
