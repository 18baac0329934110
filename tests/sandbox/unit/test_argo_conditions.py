"""Argo resource-template conditions (sandbox/argo/conditions.py): label-selector syntax over JSON paths."""

import pytest

from sandbox.argo.conditions import ConditionError, evaluate, lookup, parse

OBJ = {"metadata": {"name": "iris", "labels": {"app.kubernetes.io/name": "x"}},
       "status": {"state": "Available", "succeeded": 2, "failed": 0, "ready": True, "ratio": 0.5,
                  "conditions": [{"type": "Ready", "status": "True"}], "empty": None}}


def holds(expr: str, obj=OBJ) -> bool:
    return all(r.matches(obj) for r in parse(expr))


@pytest.mark.parametrize(("expr", "expected"), [
    ("status.state == Available", True),
    ("status.state = Available", True),
    ("status.state==Failed", False),
    ("status.state != Failed", True),
    ("status.missing != Failed", True),          # != holds for a missing path (label selector semantics)
    ("status.missing == x", False),
    ("status.succeeded > 0", True),
    ("status.succeeded > 2", False),
    ("status.failed < 1", True),
    ("status.missing > 0", False),
    ("status.state > 0", False),                 # not an integer
    ("metadata.name in (iris, wine)", True),
    ("metadata.name in (wine)", False),
    ("metadata.name notin (wine,beer)", True),
    ("status.missing notin (a)", True),
    ("status.ready", True),
    ("status.ready == true", True),
    ("status.missing", False),
    ("!status.missing", True),
    ("!status.state", False),
    ("status.conditions.0.type == Ready", True),
    ("status.conditions.# == 1", True),
    ("status.ratio == 0.5", True),
    ("status.state == Available, status.succeeded > 1", True),
    ("status.state == Available,status.succeeded > 5", False),
    ("", True),
])
def test_requirements(expr, expected):
    assert holds(expr) is expected


def test_escaped_dots_in_keys():
    assert holds(r"metadata.labels.app\.kubernetes\.io/name == x")


def test_string_form_as_argo_logs_it():
    reqs = parse("status.phase == Failed, metadata.name in (b, a), !x, y, n > 3")
    assert [str(r) for r in reqs] == ["status.phase==Failed", "metadata.name in (a,b)", "!x", "y", "n>3"]


@pytest.mark.parametrize("bad", ["status.x >", "status.x > abc", "a in b", "a in (b", "a,", "a b", "a == b c"])
def test_parse_errors(bad):
    with pytest.raises(ConditionError):
        parse(bad)


def test_evaluate_failure_wins_and_pending_says_what_is_missing():
    failed = {"status": {"phase": "Failed", "succeeded": 1}}
    assert evaluate(failed, parse("status.succeeded > 0"), parse("status.phase == Failed")) == (
        "failed", "failure condition 'status.phase==Failed' evaluated true")
    state, msg = evaluate({"status": {}}, parse("status.succeeded > 0, status.x"), [])
    assert state == "pending" and "0/2" in msg and "status.succeeded>0" in msg
    assert evaluate({}, [], []) == ("succeeded", "")


def test_lookup_values():
    assert lookup(OBJ, "status.conditions.0") == {"type": "Ready", "status": "True"}
    assert lookup(OBJ, ".metadata.name") == "iris"
    assert lookup(OBJ, "status.empty") is None
