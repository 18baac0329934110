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


OLD_VALUE = "kubectl-applied-old-secret-value"


def kubectl_applied_secret(name="s3", namespace="models"):
    """A Secret as ``kubectl apply`` leaves it: its manifest, values included, in the last-applied annotation."""
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                "data": {"RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": base64.b64encode(OLD_VALUE.encode()).decode()},
                "stringData": {"EXTRA": OLD_VALUE}}
    obj = json.loads(json.dumps(manifest))
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest)}
    obj.pop("stringData")
    return obj


def test_the_last_applied_annotation_of_kubectl_is_masked(fake_cluster, run_module):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    fake_cluster.put(kubectl_applied_secret())
    args = {"name": "s3", "namespace": "models", "access_key": KEY, "secret_key": VALUE,
            "endpoint_url": "http://minio:9000", "region": "us-east-1"}
    for check_mode in (True, False):
        failed, result = run_module(storage_secret, args, check_mode=check_mode, diff=True)
        assert not failed, result
        assert not leaked(result, OLD_VALUE, KEY, VALUE), result
        annotation = result["diff"]["before"]["metadata"]["annotations"][
            "kubectl.kubernetes.io/last-applied-configuration"]
        assert json.loads(annotation)["data"] == {"RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "********"}
