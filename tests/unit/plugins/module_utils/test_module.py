"""K8sAnsibleModule: argument spec merge, lazy client, error handling."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mlops.k8s.plugins.module_utils import module as module_mod
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.module import K8sAnsibleModule, sensitive_kubeconfig_values


def run(capsys, args, func, **kwargs):
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        K8sAnsibleModule(argument_spec={"name": {"type": "str"}}, **kwargs).run(func)
    return info.value.code, json.loads(capsys.readouterr().out)


def test_auth_and_wait_specs_are_merged(capsys):
    seen = {}

    def func(module):
        seen.update(module.params)
        return {"changed": False, "check": module.check_mode, "diff": module.diff_mode}

    code, result = run(capsys, {"name": "x", "verify_ssl": False, "wait": True, "_ansible_check_mode": True,
                                "_ansible_diff": True}, func, wait=True)
    assert code == 0
    assert seen["validate_certs"] is False and seen["wait"] is True and seen["wait_timeout"] == 120
    assert (result["check"], result["diff"]) == (True, True)


def test_k8s_error_becomes_fail_json(capsys):
    def func(_module):
        raise K8sError("Deployment a/b: 409 Conflict: nope", status=409, reason="Conflict")

    code, result = run(capsys, {}, func)
    assert code == 1
    assert result["failed"] is True
    assert result["msg"] == "Deployment a/b: 409 Conflict: nope"
    assert (result["status"], result["reason"]) == (409, "Conflict")
    assert "exception" not in result


def test_untranslated_client_errors_are_one_line_too(capsys):
    import urllib3

    def func(_module):
        raise urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError("reset"))

    code, result = run(capsys, {}, func)
    assert code == 1 and result["msg"].startswith("cannot reach the Kubernetes API: ")


def test_programming_errors_are_not_hidden(capsys):
    def func(_module):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run(capsys, {}, func)


def test_missing_library(monkeypatch, capsys):
    monkeypatch.setattr(module_mod, "HAS_YAML", False)
    code, result = run(capsys, {}, lambda m: {}, requires_yaml=True)
    assert code == 1 and "Failed to import the required Python library (PyYAML)" in result["msg"]


def test_inline_kubeconfig_secrets_are_masked(capsys):
    kubeconfig = {"users": [{"name": "u", "user": {"token": "tok-123456", "client-key-data": "a2V5LWRhdGE="}}],
                  "clusters": [{"name": "c", "cluster": {"server": "https://h"}}]}
    assert sensitive_kubeconfig_values(kubeconfig) == {"tok-123456", "a2V5LWRhdGE="}
    code, result = run(capsys, {"kubeconfig": kubeconfig}, lambda m: {"changed": False, "echo": "tok-123456"})
    assert code == 0 and "tok-123456" not in json.dumps(result)


def test_client_is_built_once(monkeypatch, capsys):
    from ansible_collections.mlops.k8s.plugins.module_utils import client as client_mod

    built = []
    monkeypatch.setattr(client_mod, "build_client", lambda params, pool_maxsize=None: built.append(params) or object())

    def func(module):
        assert module.client is module.client
        return {"changed": False}

    run(capsys, {"host": "https://h"}, func)
    assert len(built) == 1 and built[0]["host"] == "https://h"


# -- what reaches the log (syslog / journald) before the module runs (issue 15) ----------------------------------
TOKEN = "inline-kubeconfig-token-value"
EXEC_SECRET = "exec-plugin-env-secret-value"
STRING_DATA = "string-data-secret-value"
B64_DATA = "YmFzZTY0LXNlY3JldC12YWx1ZQ=="


def _kubeconfig():
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "users": [{"name": "u", "user": {"token": TOKEN, "exec": {
                "apiVersion": "client.authentication.k8s.io/v1", "command": "aws-iam-authenticator",
                "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": EXEC_SECRET}, {"name": "DEBUG", "value": "1"}]}}}]}


@pytest.mark.parametrize("definition", [
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": STRING_DATA},
     "data": {"b": B64_DATA}},
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: %s}\ndata: {b: %s}\n" % (STRING_DATA, B64_DATA),
])
def test_the_logged_invocation_and_the_result_carry_no_secret(capsys, monkeypatch, definition):
    logged = []
    monkeypatch.setattr(module_mod.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    args = {"name": "x", "kubeconfig": _kubeconfig(), "definition": definition}
    with patch_module_args(args), pytest.raises(SystemExit):
        K8sAnsibleModule(argument_spec={"name": {"type": "str"}, "definition": {"type": "raw"}}).run(
            lambda module: {"changed": False})
    out = capsys.readouterr().out
    assert logged and "Invoked with" in logged[0]
    for value in (TOKEN, EXEC_SECRET, STRING_DATA, B64_DATA):
        assert value not in logged[0], value
        assert value not in out, value
    assert "aws-iam-authenticator" in logged[0]  # the rest is logged as before


def test_one_base_with_explicit_attributes(capsys):
    """K8sAnsibleModule and S3AnsibleModule share MlopsModule; what is not offered is not passed through."""
    from ansible_collections.mlops.k8s.plugins.module_utils.s3 import S3AnsibleModule

    assert issubclass(K8sAnsibleModule, module_mod.MlopsModule)
    assert issubclass(S3AnsibleModule, module_mod.MlopsModule)

    def func(module):
        assert not hasattr(module, "run_command") and hasattr(module.module, "run_command")
        return {"changed": False, "has_params": module.params["name"] == "x"}

    code, result = run(capsys, {"name": "x"}, func)
    assert code == 0 and result["has_params"] is True


def test_s3_error_is_a_k8s_error_and_fails_cleanly(capsys):
    from ansible_collections.mlops.k8s.plugins.module_utils.s3 import S3Error

    def func(_module):
        raise S3Error("Failed to read s3://b/k: AccessDenied", bucket="b", key="k", code="AccessDenied")

    code, result = run(capsys, {}, func)
    assert code == 1 and result["msg"] == "Failed to read s3://b/k: AccessDenied"
