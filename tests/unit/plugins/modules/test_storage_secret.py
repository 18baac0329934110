"""mlops.k8s.storage_secret run as Ansible runs it, against the recorded-response API: no value ever in the
result (diff included), idempotence without writes, and bad input refused before any request."""

from __future__ import annotations

import base64
import json

from ansible_collections.mlops.k8s.plugins.modules import storage_secret

KEY = "AKIAMODULETEST"
VALUE = "module-test-secret-value"


def leaked(result, *values):
    text = json.dumps(result)
    return [v for v in values if v in text or base64.b64encode(v.encode()).decode() in text]


def test_create_unchanged_rotate_without_revealing_values(fake_cluster, run_module):
    args = {"name": "s3", "namespace": "models", "access_key": KEY, "secret_key": VALUE,
            "endpoint_url": "http://minio:9000", "region": "us-east-1"}
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    failed, result = run_module(storage_secret, args, diff=True)
    assert not failed, result
    assert result["changed"] is True and result["operation"] == "created"
    assert "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY" in result["key_names"]
    assert not leaked(result, KEY, VALUE)

    fake_cluster.requests.clear()
    failed, result = run_module(storage_secret, args, diff=True)
    assert not failed and result["changed"] is False
    assert not [r for r in fake_cluster.requests if r.is_write]
    assert not leaked(result, KEY, VALUE)

    failed, result = run_module(storage_secret, dict(args, secret_key="rotated-value"), check_mode=True, diff=True)
    assert not failed and result["changed"] is True
    assert result["diff"]["before"]["data"] == result["diff"]["after"]["data"]
    assert not leaked(result, KEY, VALUE, "rotated-value")


def test_bad_input_fails_before_any_request(fake_cluster, run_module):
    failed, result = run_module(storage_secret, {"name": "s3", "namespace": "models", "access_key": KEY,
                                                 "secret_key": VALUE, "remote": "my-remote"})
    assert failed and "letters, digits and underscores" in result["msg"]
    failed, result = run_module(storage_secret, {"name": "s3", "namespace": "models", "env_auth": True,
                                                 "access_key": KEY, "secret_key": VALUE})
    assert failed and "env_auth=true stores no key" in result["msg"]
    assert not fake_cluster.requests
    assert not leaked(result, VALUE)
