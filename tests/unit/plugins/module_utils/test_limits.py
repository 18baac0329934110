"""Shared checks of numbers, URLs and option shapes, run before any request."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import args, http_urls, limits
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError


@pytest.mark.parametrize(("value", "minimum", "maximum"), [(-1, 0, 10), (11, 0, 10), (True, 0, 10), ("3", 0, 10),
                                                           (2 ** 31, 0, limits.INT32_MAX), (0, 1, 10)])
def test_check_int_refuses(value, minimum, maximum):
    with pytest.raises(K8sError, match="^replicas must be a whole number from %d to %d" % (minimum, maximum)):
        limits.check_int(value, "replicas", minimum, maximum)


def test_check_int_accepts_and_keeps_none():
    assert limits.check_int(None, "x") is None
    assert limits.check_int(limits.INT32_MAX, "x") == limits.INT32_MAX
    assert limits.check_int(0, "x") == 0


def test_check_int_does_not_print_a_huge_number():
    with pytest.raises(K8sError, match=r"\(got int\)"):
        limits.check_int(10 ** 60, "wait_timeout", 0, limits.MAX_SECONDS)


@pytest.mark.parametrize(("url", "problem"), [
    ("http://[::1", "cannot be parsed"), ("notaurl", "scheme must be http or https"),
    ("ftp://127.0.0.1:9", "scheme must be http or https"), ("http://", "no host"),
    ("http://minio:99999", "cannot be parsed"), ("http://minio :9000", "white space"), ("", "empty"),
    ("http://minio:9000\n", "white space"),
])
def test_http_url_problem(url, problem):
    assert problem in http_urls.http_url_problem(url)


@pytest.mark.parametrize("url", ["http://minio:9000", "https://s3.example.com", "http://[::1]:9000/", "HTTP://x"])
def test_http_url_ok(url):
    assert http_urls.http_url_problem(url) is None


def test_shown_url_hides_credentials():
    assert http_urls.shown("http://user:hunter2@minio:9000/x") == "http://***@minio:9000/x"


SPEC = {
    "proxy_headers": {"type": "dict", "options": {"basic_auth": {"type": "str", "no_log": True}}},
    "rules": {"type": "list", "elements": "dict", "options": {
        "limits": {"type": "dict", "options": {"max": {"type": "str"}}}}},
    "plain": {"type": "dict"},
}


@pytest.mark.parametrize(("params", "error"), [
    ({"proxy_headers": 7}, "proxy_headers must be a dictionary, got an integer"),
    ({"proxy_headers": [1, 2]}, "proxy_headers must be a dictionary, got a list"),
    ({"proxy_headers": True}, "proxy_headers must be a dictionary, got a boolean"),
    ({"rules": 7}, "rules must be a list of dictionaries, got an integer"),
    ({"rules": [{"limits": {}}, 7]}, "rules[1] must be a dictionary, got an integer"),
    ({"rules": [{"limits": 1.5}]}, "rules[0].limits must be a dictionary, got a number"),
])
def test_suboption_type_errors(params, error):
    assert args.suboption_type_errors(SPEC, params) == [error]


@pytest.mark.parametrize("params", [{}, {"proxy_headers": None}, {"proxy_headers": "basic_auth=x"},
                                    {"proxy_headers": {"basic_auth": "x"}}, {"rules": [{"limits": {"max": "1"}}]},
                                    {"plain": 7}])
def test_suboption_values_ansible_core_handles(params):
    assert args.suboption_type_errors(SPEC, params) == []


def test_suboption_errors_never_show_the_value():
    errors = args.suboption_type_errors(SPEC, {"proxy_headers": ["user:hunter2"]})
    assert errors == ["proxy_headers must be a dictionary, got a list"]
