"""Label selectors: parsing and validation before anything is sent, and local matching."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import labels
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError


@pytest.mark.parametrize(("text", "parsed"), [
    ("app=x", [("app", "=", ["x"])]),
    ("app==x", [("app", "=", ["x"])]),
    (" app = x , tier!=db ", [("app", "=", ["x"]), ("tier", "!=", ["db"])]),
    ("app.kubernetes.io/instance=iris", [("app.kubernetes.io/instance", "=", ["iris"])]),
    ("tier in (web, api),env notin (dev)", [("tier", "in", ["web", "api"]), ("env", "notin", ["dev"])]),
    ("app,!legacy", [("app", "exists", []), ("legacy", "!", [])]),
    ("rank>2,rank<10", [("rank", ">", ["2"]), ("rank", "<", ["10"])]),
    ("app=", [("app", "=", [""])]),
])
def test_parse(text, parsed):
    assert labels.parse_selector(text) == parsed


@pytest.mark.parametrize(("text", "message"), [
    ("", "an empty selector selects every object"),
    ("   ", "an empty selector selects every object"),
    (None, "an empty selector selects every object"),
    ("app=x,", "empty requirement"),
    ("app=x=y", "is not a label selector requirement"),
    ("app in ()", "the set of values is empty"),
    ("app in (a", "is not a label selector requirement"),
    ("rank>two", "> needs an integer value"),
    ("-app=x", "is not a label selector requirement"),
    ("app=bad value", "is not a label selector requirement"),
    ("app=-x", "label value '-x' must be"),
    ("Example.COM/app=x", "the prefix must be a lowercase DNS subdomain"),
    ("a/b/c=x", "has more than one '/'"),
    ("app-=x", "the name must be 1 to 63"),
    ("k=" + "v" * 64, "must be at most 63"),
])
def test_parse_errors(text, message):
    with pytest.raises(K8sError, match=r"^prune_selector") as info:
        labels.parse_selector(text, "prune_selector")
    assert message in str(info.value)


def test_restrictive():
    assert labels.is_restrictive(labels.parse_selector("app=x"))
    assert labels.is_restrictive(labels.parse_selector("app!=x,tier"))
    assert labels.is_restrictive(labels.parse_selector("tier in (a)"))
    assert not labels.is_restrictive(labels.parse_selector("app!=x"))
    assert not labels.is_restrictive(labels.parse_selector("app notin (x),!legacy"))


@pytest.mark.parametrize(("text", "matching", "not_matching"), [
    ("app=x", {"app": "x"}, {"app": "y"}),
    ("app=x,tier=web", {"app": "x", "tier": "web", "more": "1"}, {"app": "x"}),
    ("app!=x", {}, {"app": "x"}),
    ("tier in (web,api)", {"tier": "api"}, {}),
    ("tier notin (web)", {}, {"tier": "web"}),
    ("app", {"app": ""}, {"other": "x"}),
    ("!app", {"other": "x"}, {"app": "x"}),
    ("rank>2", {"rank": "3"}, {"rank": "2"}),
    ("rank<2", {"rank": "-1"}, {"rank": "one"}),
])
def test_matches(text, matching, not_matching):
    requirements = labels.parse_selector(text)
    assert labels.matches(requirements, matching)
    assert not labels.matches(requirements, not_matching)
    assert labels.matches(requirements, None) == labels.matches(requirements, {})
