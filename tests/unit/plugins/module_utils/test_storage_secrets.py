"""Storage secrets: rendering of both formats, credential resolution, hashing, masking (no value ever leaks)."""

from __future__ import annotations

import base64
import json

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import storage_secrets as ss
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError

ACCESS = "AKIAUNITTESTKEY"
SECRET = "unit/secret+value=="


def creds(**kw):
    base = {"access_key": ACCESS, "secret_key": SECRET, "region": "eu-west-1", "endpoint_url": None}
    base.update(kw)
    return ss.Credentials(**base)


def test_rclone_format_default_remote():
    data = ss.render_data("rclone", creds(endpoint_url="http://minio:9000"), provider="Minio")
    assert data == {
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Minio",
        "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": ACCESS,
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": SECRET,
        "RCLONE_CONFIG_S3_ENDPOINT": "http://minio:9000",
        "RCLONE_CONFIG_S3_REGION": "eu-west-1",
    }


def test_rclone_remote_is_upper_cased_and_provider_defaults():
    data = ss.render_data("rclone", creds(), remote="models_store")
    assert data["RCLONE_CONFIG_MODELS_STORE_PROVIDER"] == "AWS"
    assert ss.render_data("rclone", creds(endpoint_url="https://ceph:443"))["RCLONE_CONFIG_S3_PROVIDER"] == "Other"
    with pytest.raises(K8sError, match="letters, digits and underscores"):
        ss.render_data("rclone", creds(), remote="my-remote")
    with pytest.raises(K8sError, match="provider must be one of"):
        ss.render_data("rclone", creds(), provider="Wasabi")


def test_env_auth_stores_no_key():
    data = ss.render_data("rclone", creds(access_key=None, secret_key=None), env_auth=True)
    assert data["RCLONE_CONFIG_S3_ENV_AUTH"] == "true"
    assert not any("KEY" in k for k in data)
    aws = ss.render_data("aws", creds(access_key=None, secret_key=None), env_auth=True)
    assert "AWS_ACCESS_KEY_ID" not in aws and "AWS_SECRET_ACCESS_KEY" not in aws


def test_aws_format_and_use_ssl():
    data = ss.render_data("aws", creds(endpoint_url="http://minio:9000"))
    assert data == {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
                    "AWS_ENDPOINT_URL": "http://minio:9000", "USE_SSL": "false", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert ss.render_data("aws", creds(endpoint_url="https://s3.example.com"))["USE_SSL"] == "true"
    assert ss.render_data("aws", creds())["USE_SSL"] == "true"
    assert ss.render_data("aws", creds(endpoint_url="https://x"), use_ssl=False)["USE_SSL"] == "false"


def test_bad_input_fails_before_anything_is_sent():
    with pytest.raises(K8sError, match="required unless env_auth"):
        ss.render_data("rclone", creds(secret_key=None))
    with pytest.raises(K8sError, match="http:// or https://"):
        ss.render_data("aws", creds(endpoint_url="minio:9000"))


def test_session_token_is_stored_when_present():
    assert ss.render_data("aws", creds(session_token="tok"))["AWS_SESSION_TOKEN"] == "tok"


def test_resolution_from_arguments_then_environment(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    got = ss.resolve_credentials({"access_key": "A", "secret_key": "B", "region": "r"})
    assert (got.access_key, got.secret_key, got.region, got.source) == ("A", "B", "r", "arguments")
    with pytest.raises(K8sError, match="no S3 credentials"):
        ss.resolve_credentials({})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    got = ss.resolve_credentials({})
    assert (got.access_key, got.secret_key, got.source) == ("ENVKEY", "ENVSECRET", "env")
    assert (got.endpoint_url, got.region) == ("http://127.0.0.1:9000", "us-east-2")
    assert "ENVSECRET" not in repr(got)
    env = ss.resolve_credentials({"env_auth": True})
    assert env.access_key is None and env.source == "env_auth"
    with pytest.raises(K8sError, match="env_auth=true stores no key"):
        ss.resolve_credentials({"env_auth": True, "access_key": "A", "secret_key": "B"})


def test_resolution_from_a_profile(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "credentials").write_text("[team]\naws_access_key_id = PROFKEY\naws_secret_access_key = PROFSECRET\n")
    (tmp_path / "config").write_text("[profile team]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    got = ss.resolve_credentials({"profile": "team"})
    assert (got.access_key, got.secret_key, got.region) == ("PROFKEY", "PROFSECRET", "ap-south-1")
    with pytest.raises(K8sError, match="profile 'nope' not found"):
        ss.resolve_credentials({"profile": "nope"})


def test_secret_is_base64_data_and_labelled():
    data = ss.render_data("aws", creds())
    obj = ss.build_secret("s3", "models", data)
    assert obj["type"] == "Opaque" and "stringData" not in obj
    assert base64.b64decode(obj["data"]["AWS_SECRET_ACCESS_KEY"]).decode() == SECRET
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlops.k8s"


def test_hash_comparison():
    a = ss.encode({"K": "v1", "L": "x"})
    assert ss.same_data(a, dict(a))
    assert not ss.same_data(a, ss.encode({"K": "v2", "L": "x"}))
    assert not ss.same_data(a, ss.encode({"K": "v1"}))
    prints = ss.fingerprint(a, "salt")
    assert set(prints) == {"K", "L"} and a["K"] not in json.dumps(prints)


def test_masking_hides_every_value_and_which_one_changed():
    before = ss.build_secret("s3", "models", ss.render_data("aws", creds()))
    before["metadata"]["managedFields"] = [{"manager": "x"}]
    after = ss.build_secret("s3", "models", ss.render_data("aws", creds(secret_key="rotated-secret")))
    diff = ss.secret_diff(before, after)
    text = json.dumps(diff)
    for value in (SECRET, "rotated-secret", ACCESS, base64.b64encode(SECRET.encode()).decode(),
                  base64.b64encode(b"rotated-secret").decode()):
        assert value not in text
    # same mask on both sides for every key: the diff does not reveal that the secret key changed
    assert diff["before"]["data"] == diff["after"]["data"]
    assert set(diff["after"]["data"].values()) == {ss.SECRET_MASK}
    assert "managedFields" not in text
    assert ss.secret_diff(None, after)["before"] == {}
