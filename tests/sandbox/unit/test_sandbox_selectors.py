from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.machinery.selectors import (
    check_field_selector,
    field_value,
    parse_field_selector,
    parse_label_selector,
    selector_from_dict,
)


@pytest.mark.parametrize(
    ("sel", "labels", "expected"),
    [
        ("", {"a": "b"}, True),
        ("", None, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app!=web", {"app": "db"}, True),
        ("env in (prod, staging)", {"env": "prod"}, True),
        ("env in (prod,staging)", {"env": "dev"}, False),
        ("env in (prod)", {}, False),
        ("env notin (prod)", {}, True),
        ("env notin (prod)", {"env": "prod"}, False),
        ("env notin (prod)", {"env": "dev"}, True),
        ("app", {"app": ""}, True),
        ("app", {}, False),
        ("!app", {}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier=fe", {"app": "web", "tier": "fe"}, True),
        ("app=web,tier=fe", {"app": "web"}, False),
        ("app=web, !canary, env in (a,b)", {"app": "web", "env": "b"}, True),
        ("example.com/app=x", {"example.com/app": "x"}, True),
        ("app=", {"app": ""}, True),
        ("app=", {"app": "x"}, False),
        ("count>3", {"count": "4"}, True),
        ("count<3", {"count": "4"}, False),
        ("env in (a,)", {"env": ""}, True),
        ("in=notin", {"in": "notin"}, True),
        ("in in (in)", {"in": "in"}, True),
    ],
)
def test_label_selector_matches(sel, labels, expected):
    assert parse_label_selector(sel).matches(labels) is expected


@pytest.mark.parametrize(
    "sel",
    ["a b", "x in ()", "=a", "a,", "!", "a=b c", "x in (a", "app=_bad", "-app=x", "a/b/c=x", "x>y",
     "app=" + "v" * 64, "k" * 64 + "=v", "x notin a"],
)
def test_label_selector_errors(sel):
    with pytest.raises(ValueError):
        parse_label_selector(sel)


def test_label_value_message_is_kubernetes_like():
    with pytest.raises(ValueError, match=r'values\[0\]\[app\]: Invalid value: "_x": a valid label must be'):
        parse_label_selector("app=_x")
    with pytest.raises(ValueError, match="values set can't be empty"):
        parse_label_selector("env in ()")
    # the parser validates a key with its own field path, which is nil for a query's selector (kube-apiserver 1.37)
    with pytest.raises(ValueError, match=r'^unable to parse requirement: <nil>: Invalid value: "-app": name part'):
        parse_label_selector("-app!=x")


def test_label_selector_string_is_canonical():
    assert str(parse_label_selector("b=2, a in (y,x), !c")) == "a in (x,y),b=2,!c"


def test_selector_from_dict():
    sel = selector_from_dict({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "team", "operator": "Exists"},
        ],
    })
    assert sel.matches({"app": "web", "tier": "fe", "team": "a"})
    assert not sel.matches({"app": "web", "tier": "fe", "team": "a", "canary": "1"})
    assert not sel.matches({"app": "web", "tier": "fe", "team": "a", "env": "dev"})
    assert not sel.matches({"app": "web", "tier": "fe"})
    assert selector_from_dict({}).matches({"x": "y"})
    assert not selector_from_dict(None).matches({"x": "y"})


@pytest.mark.parametrize(
    ("d", "msg"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "must be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Foo"}]}, '"Foo" is not a valid label selector operator'),
        ({"matchLabels": {"a": "b c"}}, "Invalid value"),
    ],
)
def test_selector_from_dict_errors(d, msg):
    with pytest.raises(ValueError, match=msg):
        selector_from_dict(d)


POD = {
    "metadata": {"name": "p1", "namespace": "ns"},
    "spec": {"nodeName": "n1", "hostNetwork": False},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]},
}
EVENT = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p1"}, "reason": "Started"}


@pytest.mark.parametrize(
    ("sel", "obj", "expected"),
    [
        ("metadata.name=p1", POD, True),
        ("metadata.name==p1", POD, True),
        ("metadata.name!=p1", POD, False),
        ("metadata.namespace=ns,status.phase=Running", POD, True),
        ("status.phase!=Running", POD, False),
        ("spec.nodeName=", POD, False),
        ("spec.nodeName=n1", POD, True),
        ("spec.hostNetwork=false", POD, True),
        ("status.podIP=10.0.0.1", POD, True),
        ("spec.missing=", POD, True),
        ("involvedObject.kind=Pod,involvedObject.name=p1", EVENT, True),
        ("involvedObject.name=p2", EVENT, False),
        ("", POD, True),
    ],
)
def test_field_selector(sel, obj, expected):
    assert parse_field_selector(sel).matches(obj) is expected


def test_field_selector_escaping_and_errors():
    sel = parse_field_selector(r"metadata.name=a\,b")
    assert sel.matches({"metadata": {"name": "a,b"}})
    assert str(sel) == r"metadata.name=a\,b"
    with pytest.raises(ValueError, match="invalid selector"):
        parse_field_selector("metadata.name")
    with pytest.raises(ValueError):
        parse_field_selector("metadata.name=a=b")
    assert field_value(POD, "status") == ""


def test_check_field_selector():
    check_field_selector("", "pods", parse_field_selector("status.phase=Running,metadata.name=x"))
    with pytest.raises(ValueError, match=r"field label not supported: spec\.foo"):
        check_field_selector("", "pods", parse_field_selector("spec.foo=x"))
    with pytest.raises(ValueError, match=r'"spec\.foo" is not a known field selector'):
        check_field_selector("example.com", "widgets", parse_field_selector("spec.foo=x"))


_label = st.from_regex(r"\A[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?\Z")


@given(st.dictionaries(_label, _label, max_size=5))
def test_equality_selector_built_from_labels_matches_them(labels):
    sel = ",".join("%s=%s" % kv for kv in labels.items())
    assert parse_label_selector(sel).matches(labels)
    # and round-trips through its canonical string form
    assert parse_label_selector(str(parse_label_selector(sel))).matches(labels)
