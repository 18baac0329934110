"""Unit tests of plugins/module_utils/s3.py (validation, client settings, errors, upload engine).

The ``ansible_collections.mlops.k8s`` import path comes from tests/unit/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import boto3
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mlops.k8s.plugins.module_utils import retries, s3
from botocore.client import BaseClient
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    SSLError,
)

MIB = 1024 * 1024


pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture
def client(moto_backend, aws_env):
    moto_backend.reset()
    c = s3.build_client({})
    c.create_bucket(Bucket="models")
    return c


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("name", ["models", "a1b", "my.bucket-1", "x" * 63])
def test_valid_bucket_names(name):
    s3.validate_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("ab", "3 to 63"),
        ("x" * 64, "3 to 63"),
        ("Models", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-models", "starting and ending"),
        ("models.", "starting and ending"),
        ("a..b", "adjacent"),
        ("a.-b", "adjacent"),
        ("192.168.1.1", "IP address"),
        ("s3://models", "without s3://"),
    ],
)
def test_invalid_bucket_names(name, reason):
    with pytest.raises(s3.S3Error) as exc:
        s3.validate_bucket_name(name)
    assert reason in str(exc.value)
    assert exc.value.details["code"] == "InvalidBucketName"


@pytest.mark.parametrize(
    ("raw", "norm", "warned"),
    [
        ("", "", False),
        (None, "", False),
        ("iris/v1", "iris/v1", False),
        ("iris/v1/", "iris/v1", False),
        ("/iris/v1", "iris/v1", True),
        ("/", "", True),
    ],
)
def test_normalize_prefix(raw, norm, warned):
    result, warnings = s3.normalize_prefix(raw)
    assert result == norm
    assert bool(warnings) == warned


@pytest.mark.parametrize("raw", ["a//b", "a/./b", "../a", "a/.."])
def test_normalize_prefix_refuses_bad_segments(raw):
    with pytest.raises(s3.S3Error, match="path segments are not allowed"):
        s3.normalize_prefix(raw)


def test_object_key():
    assert s3.object_key("", "a/b") == "a/b"
    assert s3.object_key("p", "a/b") == "p/a/b"
    assert s3.s3_uri("b") == "s3://b"
    assert s3.s3_uri("b", "p/q") == "s3://b/p/q"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 0}, "concurrency must be between 1 and 64"),
        ({"concurrency": 65}, "concurrency must be between 1 and 64"),
        ({"multipart_threshold": 0}, "multipart_threshold must be positive"),
        ({"multipart_chunksize": 5 * MIB - 1}, "multipart_chunksize must be between 5MB and 5GB"),
        ({"multipart_chunksize": 5 * 1024 * MIB + 1}, "multipart_chunksize must be between 5MB and 5GB"),
    ],
)
def test_upload_options_validation(kwargs, message):
    with pytest.raises(s3.S3Error, match=message):
        s3.UploadOptions(**kwargs).validate()


def test_upload_options_tags_become_strings():
    opts = s3.UploadOptions(tags={"epoch": 3, "ok": True})
    opts.validate()
    assert opts.tags == {"epoch": "3", "ok": "True"}
    config = opts.transfer_config()
    assert config.max_concurrency == s3.DEFAULT_CONCURRENCY
    assert config.multipart_chunksize == 8 * MIB


# ------------------------------------------------------------------------------------------ local files


def _tree(root):
    (root / "a" / "b").mkdir(parents=True)
    (root / "model.pkl").write_bytes(b"m" * 10)
    (root / "README.md").write_text("readme")
    (root / "a" / "x.json").write_text("{}")
    (root / "a" / "b" / "y.json").write_text("[]")
    (root / "a" / "b" / "skip.tmp").write_text("tmp")
    return root


def test_collect_files_tree(tmp_path):
    files = s3.collect_files(str(_tree(tmp_path / "m")))
    assert [f.rel for f in files] == ["README.md", "a/b/skip.tmp", "a/b/y.json", "a/x.json", "model.pkl"]
    assert files[-1].size == 10


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["*.json"], None, ["a/b/y.json", "a/x.json"]),
        (["a/b/*"], ["*.tmp"], ["a/b/y.json"]),
        (None, ["a/*"], ["README.md", "model.pkl"]),
        (["model.pkl"], None, ["model.pkl"]),
        (["nothing"], None, []),
    ],
)
def test_collect_files_include_exclude(tmp_path, include, exclude, expected):
    files = s3.collect_files(str(_tree(tmp_path / "m")), include, exclude)
    assert [f.rel for f in files] == expected


def test_collect_single_file_and_errors(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"123")
    files = s3.collect_files(str(tmp_path / "w.bin"))
    assert [(f.rel, f.size) for f in files] == [("w.bin", 3)]
    with pytest.raises(s3.S3Error, match="does not exist"):
        s3.collect_files(str(tmp_path / "missing"))
    with pytest.raises(s3.S3Error, match="src is required"):
        s3.collect_files("")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(s3.S3Error, match="neither a file nor a directory"):
        s3.collect_files(str(tmp_path / "fifo"))


def test_collect_skips_special_and_dangling_entries(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    (root / "ok").write_text("ok")
    os.mkfifo(root / "fifo")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    assert [f.rel for f in s3.collect_files(str(root))] == ["ok"]


def test_file_digest(tmp_path):
    data = os.urandom(3 * MIB + 17)
    path = tmp_path / "d"
    path.write_bytes(data)
    assert s3.file_digest(str(path)) == hashlib.sha256(data).hexdigest()
    assert s3.file_digest(str(path), "md5") == hashlib.md5(data).hexdigest()  # noqa: S324


# ------------------------------------------------------------------------------------ client settings


def test_connection_settings_from_args_win_over_env(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = s3.connection_settings({"endpoint_url": "http://arg:9000", "region": "us-west-2"})
    assert settings["endpoint_url"] == "http://arg:9000"
    assert settings["region"] == "us-west-2"


def test_connection_settings_env_endpoint_precedence(monkeypatch):
    assert s3.connection_settings({})["endpoint_url"] is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    assert s3.connection_settings({})["endpoint_url"] == "http://generic:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific:2")
    assert s3.connection_settings({})["endpoint_url"] == "http://s3-specific:2"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert s3.connection_settings({})["endpoint_url"] is None


def test_connection_settings_region_and_tls(monkeypatch):
    assert s3.connection_settings({})["region"] is None  # boto3 reads AWS_DEFAULT_REGION itself
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert s3.connection_settings({})["region"] == "eu-central-1"
    assert s3.connection_settings({})["verify"] is None  # boto3 then honours AWS_CA_BUNDLE
    assert s3.connection_settings({"validate_certs": True})["verify"] is None
    assert s3.connection_settings({"validate_certs": False})["verify"] is False
    assert s3.connection_settings({"aws_ca_bundle": "/ca.pem"})["verify"] == "/ca.pem"
    assert s3.connection_settings({"validate_certs": False, "aws_ca_bundle": "/ca.pem"})["verify"] is False


def test_connection_settings_rejects_bad_endpoint():
    with pytest.raises(s3.S3Error, match="endpoint_url must be an http"):
        s3.connection_settings({"endpoint_url": "127.0.0.1:9000"})


def test_build_client_with_endpoint(monkeypatch):
    client = s3.build_client(
        {"endpoint_url": "http://127.0.0.1:5999", "region": "eu-west-1", "access_key": "AK", "secret_key": "SK"},
        max_pool_connections=32,
    )
    config = client.meta.config
    assert client.meta.endpoint_url == "http://127.0.0.1:5999"
    assert client.meta.region_name == "eu-west-1"
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert config.s3 == {"addressing_style": "path"}
    assert config.max_pool_connections == 32
    assert config.request_checksum_calculation == "when_required"
    assert "mlops.k8s" in config.user_agent_extra
    creds = client._request_signer._credentials
    assert (creds.access_key, creds.secret_key) == ("AK", "SK")


def test_build_client_defaults_reads_environment(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "ENVTOKEN")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    client = s3.build_client({})
    assert client.meta.region_name == "ap-south-1"
    assert client.meta.config.s3 is None
    assert client.meta.config.max_pool_connections == 10
    creds = client._request_signer._credentials
    assert (creds.access_key, creds.token) == ("ENVKEY", "ENVTOKEN")
    assert client._endpoint.http_session._verify == str(bundle)


def test_build_client_profile(monkeypatch, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[team]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = PROFILESECRET\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    client = s3.build_client({"profile": "team"})
    assert client._request_signer._credentials.access_key == "PROFILEKEY"
    with pytest.raises(s3.S3Error, match="AWS profile 'other' not found"):
        s3.build_client({"profile": "other"})
    monkeypatch.setenv("AWS_PROFILE", "from-env")
    with pytest.raises(s3.S3Error, match="AWS profile 'from-env' not found"):
        s3.build_client({})


def test_clients_use_the_s3_retry_policy(aws_env):
    """Every client build_client makes retries in botocore's standard mode, bounded by the S3 policy."""
    client = s3.build_client({"endpoint_url": "http://127.0.0.1:9"})
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.config.retries == retries.S3_RETRY_CONFIG


# ---------------------------------------------------------------------------------------------- errors


def test_translate_client_error():
    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
    err = s3.translate_error(exc, "upload to", "models", "p/k")
    assert str(err) == (
        "Failed to upload to s3://models/p/k: AccessDenied: Access Denied (the credentials lack permission)"
    )
    assert err.details == {"bucket": "models", "key": "p/k", "code": "AccessDenied", "message": "Access Denied"}


def test_translate_head_error_without_message():
    exc = ClientError({"Error": {"Code": "403", "Message": ""}}, "HeadBucket")
    err = s3.translate_error(exc, "check bucket", "models")
    assert str(err).startswith("Failed to check bucket s3://models: 403: Forbidden")
    assert err.details["key"] is None


def test_translate_botocore_errors():
    err = s3.translate_error(NoCredentialsError(), "list", "models")
    assert "Unable to locate credentials" in str(err)
    assert "AWS_ACCESS_KEY_ID" in str(err)
    err = s3.translate_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "list", "models", "p")
    assert str(err).startswith("Failed to list s3://models/p: Could not connect to the endpoint URL")
    assert err.details["code"] == "EndpointConnectionError"
    err = s3.translate_error(ReadTimeoutError(endpoint_url="http://x"), "read", "models", "k")
    assert err.details["code"] == "ReadTimeoutError"
    err = s3.translate_error(SSLError(endpoint_url="https://x", error="CERTIFICATE_VERIFY_FAILED"), "list", "models")
    assert "aws_ca_bundle" in str(err)
    err = s3.translate_error(ParamValidationError(report="bad"), "read", "models", "k")
    assert "ParamValidationError" in str(err)
    with pytest.raises(KeyError):
        s3.translate_error(KeyError("not botocore"), "read")


def test_module_reports_missing_boto3(monkeypatch, capsys):
    monkeypatch.setattr(s3, "HAS_BOTO3", False)
    monkeypatch.setattr(s3, "BOTO3_IMPORT_ERROR", "Traceback: No module named boto3")
    with patch_module_args({}), pytest.raises(SystemExit):
        s3.S3AnsibleModule(argument_spec={})
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert "Failed to import the required Python library (boto3)" in result["msg"]


def test_module_merges_auth_spec(capsys):
    with patch_module_args(
        {"name": "x", "aws_access_key_id": "AK", "aws_secret_access_key": "SK", "s3_url": "http://h:1"}
    ):
        module = s3.S3AnsibleModule(argument_spec={"name": {"type": "str"}})
    assert module.auth_params()["access_key"] == "AK"
    assert module.auth_params()["endpoint_url"] == "http://h:1"
    assert module.params["validate_certs"] is True
    assert module.no_log_values >= {"AK", "SK"}


# --------------------------------------------------------------------------------------- upload engine


def test_upload_parallel_with_one_shared_client(client, tmp_path, monkeypatch):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(40):
        (root / ("f%02d.bin" % i)).write_bytes(os.urandom(2000 + i))
    threads = set()
    lock = threading.Lock()
    original = BaseClient._make_api_call

    def spy(self, op, params):
        if op == "PutObject":
            assert self is client  # one client shared by all worker threads
            with lock:
                threads.add(threading.get_ident())
        return original(self, op, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    result = s3.upload_artifact(client, "models", "many", str(root), options=s3.UploadOptions(concurrency=8))
    assert len(result["uploaded"]) == 40
    assert len(threads) > 1
    listed = client.list_objects_v2(Bucket="models", Prefix="many/")["KeyCount"]
    assert listed == 40


def test_upload_and_skip_then_purge_and_delete(client, tmp_path):
    root = _tree(tmp_path / "m")
    first = s3.upload_artifact(client, "models", "p", str(root))
    assert first["changed"] is True
    assert first["objects"] == 5
    again = s3.upload_artifact(client, "models", "p", str(root), exclude=["*.tmp"], purge=True)
    assert again["changed"] is True
    assert again["deleted"] == ["p/a/b/skip.tmp"]
    assert again["uploaded"] == []
    assert sorted(again["skipped_keys"]) == ["p/README.md", "p/a/b/y.json", "p/a/x.json", "p/model.pkl"]
    check = s3.delete_prefix(client, "models", "p", check_mode=True)
    assert len(check["deleted"]) == 4
    assert client.list_objects_v2(Bucket="models", Prefix="p/")["KeyCount"] == 4
    gone = s3.delete_prefix(client, "models", "p")
    assert gone["changed"] is True
    assert client.list_objects_v2(Bucket="models", Prefix="p/")["KeyCount"] == 0


def test_upload_empty_source_warns(client, tmp_path):
    (tmp_path / "empty").mkdir()
    result = s3.upload_artifact(client, "models", "p", str(tmp_path / "empty"))
    assert result["changed"] is False
    assert result["objects"] == 0
    assert any("no files to upload" in w for w in result["warnings"])


def test_multipart_chunks_follow_options(client, tmp_path, monkeypatch):
    (tmp_path / "big.bin").write_bytes(os.urandom(16 * MIB))
    parts = []
    original = BaseClient._make_api_call

    def spy(self, op, params):
        if op == "UploadPart":
            parts.append(len(params["Body"]))
        return original(self, op, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    opts = s3.UploadOptions(multipart_threshold=6 * MIB, multipart_chunksize=6 * MIB, concurrency=3)
    result = s3.upload_artifact(client, "models", "ckpt", str(tmp_path / "big.bin"), options=opts)
    assert result["uploaded"] == ["ckpt/big.bin"]
    assert sorted(parts) == [4 * MIB, 6 * MIB, 6 * MIB]


def test_delete_errors_are_reported_with_partial_result(client, monkeypatch):
    for i in range(3):
        client.put_object(Bucket="models", Key="p/%d" % i, Body=b"")
    original = BaseClient._make_api_call

    def fail_one(self, op, params):
        if op == "DeleteObjects":
            keys = [o["Key"] for o in params["Delete"]["Objects"]]
            return {"Errors": [{"Key": keys[0], "Code": "AccessDenied", "Message": "Access Denied"}]}
        return original(self, op, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", fail_one)
    with pytest.raises(s3.S3Error) as exc:
        s3.delete_prefix(client, "models", "p")
    assert str(exc.value) == "Failed to delete s3://models/p/0: AccessDenied: Access Denied (1 objects not deleted)"
    assert exc.value.partial == {"changed": True, "deleted": ["p/1", "p/2"]}


def test_head_bucket_forbidden_is_an_error(client, monkeypatch):
    original = BaseClient._make_api_call

    def forbid(self, op, params):
        if op == "HeadBucket":
            raise ClientError({"Error": {"Code": "403", "Message": ""}}, "HeadBucket")
        return original(self, op, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", forbid)
    with pytest.raises(s3.S3Error, match="403: Forbidden"):
        s3.delete_prefix(client, "models", "p")


# --------------------------------------------------------------------------------------- documentation


def test_doc_fragment_matches_auth_spec():
    path = Path(s3.__file__).parents[1] / "doc_fragments" / "s3_auth.py"
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102
    options = yaml.safe_load(namespace["ModuleDocFragment"].DOCUMENTATION)["options"]
    assert set(options) == set(s3.S3_AUTH_ARGUMENT_SPEC)
    for name, spec in s3.S3_AUTH_ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        assert sorted(options[name].get("aliases", [])) == sorted(spec.get("aliases", [])), name
    assert s3.s3_auth_argument_spec() == s3.S3_AUTH_ARGUMENT_SPEC
    assert s3.s3_auth_argument_spec() is not s3.S3_AUTH_ARGUMENT_SPEC


def test_real_boto3_is_used():
    assert s3.HAS_BOTO3 is True
    assert boto3.__version__ >= "1.28"


def test_non_md5_etag_falls_back_to_stored_checksum(client, tmp_path, monkeypatch):
    """An ETag that looks like an MD5 but is not one (SSE-KMS) must not cause a re-upload."""
    root = _tree(tmp_path / "m")
    s3.upload_artifact(client, "models", "p", str(root))
    real_listing = s3.list_objects

    def kms_listing(*args):
        return {k: dict(v, etag="0" * 32) for k, v in real_listing(*args).items()}

    monkeypatch.setattr(s3, "list_objects", kms_listing)
    heads = []
    original = BaseClient._make_api_call

    def spy(self, op, params):
        heads.append(op)
        return original(self, op, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    result = s3.upload_artifact(client, "models", "p", str(root))
    assert result["changed"] is False
    assert len(result["skipped_keys"]) == 5
    assert heads.count("HeadObject") == 5
    assert "PutObject" not in heads


def test_file_vanishing_after_listing_is_a_clean_error(client, tmp_path, monkeypatch):
    root = _tree(tmp_path / "m")
    real_collect = s3.collect_files

    def collect_then_delete(*args):
        files = real_collect(*args)
        (root / "model.pkl").unlink()
        return files

    monkeypatch.setattr(s3, "collect_files", collect_then_delete)
    with pytest.raises(s3.S3Error, match=r"Cannot read .*model.pkl: \[Errno 2\]") as exc:
        s3.upload_artifact(client, "models", "p", str(root))
    assert exc.value.details["code"] == "SourceUnreadable"
    assert exc.value.details["key"] == "p/model.pkl"


def test_transfer_library_errors_are_reported_per_key(client, tmp_path, monkeypatch):
    from s3transfer.exceptions import RetriesExceededError

    class Future:
        def result(self):
            raise RetriesExceededError(last_exception=OSError("connection reset"))

    class Manager:
        def __init__(self, *_args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

        def upload(self, *_args, **_kwargs):
            return Future()

    monkeypatch.setattr(s3, "create_transfer_manager", Manager)
    (tmp_path / "one.bin").write_bytes(b"1")
    (tmp_path / "two.bin").write_bytes(b"2")
    with pytest.raises(s3.S3Error) as exc:
        s3.upload_artifact(client, "models", "p", str(tmp_path))
    assert str(exc.value).startswith("Failed to upload to s3://models/p/one.bin: RetriesExceededError:")
    assert str(exc.value).endswith("(and 1 more uploads failed)")
    assert exc.value.partial["uploaded"] == []
    assert exc.value.partial["changed"] is False
