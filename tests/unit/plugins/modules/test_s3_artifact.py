"""Unit tests of mlops.k8s.s3_artifact, run as Ansible runs it, against moto's in-process S3.

The ``ansible_collections.mlops.k8s`` import path comes from tests/unit/conftest.py.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import boto3
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mlops.k8s.plugins.module_utils import retries
from ansible_collections.mlops.k8s.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.k8s.plugins.modules import s3_artifact
from botocore.client import BaseClient

MIB = 1024 * 1024
WRITE_OPS = {
    "PutObject",
    "UploadPart",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "CopyObject",
    "CreateBucket",
    "DeleteObject",
    "DeleteObjects",
    "PutObjectTagging",
}
ACCESS_KEY = "AKIAMLOPSK8SUNITTEST"
SECRET_KEY = "mlops-k8s-unit-test-secret-value-0123456789"
SESSION_TOKEN = "mlops-k8s-unit-test-session-token-abcdef"


# --------------------------------------------------------------------------------------------- fixtures


pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture
def s3(moto_backend, aws_env):
    moto_backend.reset()  # every test starts with no buckets
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket="models")
    return "models"


class Calls:
    """Every S3 API call made by any client (thread-safe): operation name and body size."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def record(self, op, params):
        body = params.get("Body")
        size = len(body) if body is not None and hasattr(body, "__len__") else 0
        with self.lock:
            self.items.append((op, size))

    def ops(self):
        return [op for op, _params in self.items]

    def writes(self):
        return [op for op in self.ops() if op in WRITE_OPS]

    def body_bytes(self):
        return sum(size for op, size in self.items if op in ("PutObject", "UploadPart"))

    def clear(self):
        with self.lock:
            self.items.clear()


@pytest.fixture
def calls(monkeypatch):
    recorder = Calls()
    original = BaseClient._make_api_call

    def wrapper(self, operation_name, api_params):
        recorder.record(operation_name, api_params)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", wrapper)
    return recorder


@pytest.fixture
def run(capsys):
    """Run the module like Ansible does; return (failed, result parsed from its JSON output)."""

    def _run(args, check_mode=False, diff=False):
        module_args = dict(args)
        module_args["_ansible_check_mode"] = check_mode
        module_args["_ansible_diff"] = diff
        with patch_module_args(module_args), pytest.raises(SystemExit) as exc:
            s3_artifact.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        result["_raw"] = out
        assert bool(exc.value.code) == bool(result.get("failed")), out
        return result

    return _run


@pytest.fixture
def tree(tmp_path):
    """A small model directory: two top-level files and a nested one."""
    root = tmp_path / "model"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "model.joblib").write_bytes(os.urandom(3000))
    (root / "metadata.yaml").write_text("name: iris\n")
    (root / "sub" / "deeper" / "vocab.json").write_text('{"a": 1}\n')
    return root


def keys(s3, bucket, prefix=""):
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


# ------------------------------------------------------------------------------------------------ upload


def test_upload_single_file(run, s3, bucket, tmp_path):
    src = tmp_path / "model.joblib"
    src.write_bytes(b"x" * 1234)
    result = run({"src": str(src), "bucket": bucket, "prefix": "iris/v1"})
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["model_uri"] == "s3://models/iris/v1"
    assert result["uploaded"] == ["iris/v1/model.joblib"]
    assert result["bytes_sent"] == 1234
    assert result["objects"] == 1
    head = s3.head_object(Bucket=bucket, Key="iris/v1/model.joblib")
    assert head["ContentLength"] == 1234
    assert head["Metadata"]["mlops-sha256"] == s3_utils.file_digest(str(src))


def test_upload_directory_tree(run, s3, bucket, tree, calls):
    result = run({"src": str(tree), "bucket": bucket, "prefix": "iris/v1"})
    assert result["changed"] is True
    expected = ["iris/v1/metadata.yaml", "iris/v1/model.joblib", "iris/v1/sub/deeper/vocab.json"]
    assert sorted(result["uploaded"]) == expected
    assert keys(s3, bucket) == expected
    total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    assert result["bytes_sent"] == total == calls.body_bytes()
    assert result["objects"] == 3
    assert result["skipped_keys"] == []
    assert s3.get_object(Bucket=bucket, Key="iris/v1/metadata.yaml")["Body"].read() == b"name: iris\n"
    assert s3.head_object(Bucket=bucket, Key="iris/v1/sub/deeper/vocab.json")["ContentType"] == "application/json"


def test_empty_prefix_uploads_to_bucket_root(run, s3, bucket, tree):
    result = run({"src": str(tree), "bucket": bucket})
    assert result["model_uri"] == "s3://models"
    assert "model.joblib" in keys(s3, bucket)


def test_second_run_sends_nothing(run, s3, bucket, tree, calls):
    args = {"src": str(tree), "bucket": bucket, "prefix": "iris/v1"}
    first = run(args)
    assert first["changed"] is True
    calls.clear()
    second = run(args)
    assert second["changed"] is False
    assert second["uploaded"] == []
    assert second["bytes_sent"] == 0
    assert second["bytes_skipped"] == first["bytes_sent"]
    assert sorted(second["skipped_keys"]) == sorted(first["uploaded"])
    assert calls.writes() == []
    assert calls.body_bytes() == 0
    # single-part objects: the listing's MD5 ETag is proof enough, no HEAD per object
    assert sorted(set(calls.ops())) == ["HeadBucket", "ListObjectsV2"]


def test_changed_file_resends_only_that_file(run, s3, bucket, tree, calls):
    args = {"src": str(tree), "bucket": bucket, "prefix": "iris/v1"}
    run(args)
    (tree / "metadata.yaml").write_text("name: iris\nversion: 2\n")
    calls.clear()
    result = run(args)
    assert result["changed"] is True
    assert result["uploaded"] == ["iris/v1/metadata.yaml"]
    assert result["bytes_sent"] == (tree / "metadata.yaml").stat().st_size
    assert sorted(result["skipped_keys"]) == ["iris/v1/model.joblib", "iris/v1/sub/deeper/vocab.json"]
    assert calls.writes() == ["PutObject"]


def test_same_size_different_content_is_uploaded(run, s3, bucket, tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"a" * 100)
    args = {"src": str(src), "bucket": bucket, "prefix": "m"}
    run(args)
    src.write_bytes(b"b" * 100)
    result = run(args)
    assert result["uploaded"] == ["m/weights.bin"]
    assert s3.get_object(Bucket=bucket, Key="m/weights.bin")["Body"].read() == b"b" * 100


def test_multipart_upload_and_rerun(run, s3, bucket, tmp_path, calls):
    src = tmp_path / "big"
    src.mkdir()
    data = os.urandom(11 * MIB)
    (src / "weights.bin").write_bytes(data)
    (src / "small.txt").write_text("small")
    args = {
        "src": str(src),
        "bucket": bucket,
        "prefix": "llm",
        "multipart_threshold": "5MB",
        "multipart_chunksize": "5MB",
        "concurrency": 4,
    }
    result = run(args)
    assert result["changed"] is True
    ops = calls.ops()
    assert ops.count("CreateMultipartUpload") == 1
    assert ops.count("UploadPart") == 3
    assert ops.count("PutObject") == 1  # small.txt
    assert result["bytes_sent"] == len(data) + 5
    head = s3.head_object(Bucket=bucket, Key="llm/weights.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag is not an MD5 ...
    assert s3.get_object(Bucket=bucket, Key="llm/weights.bin")["Body"].read() == data
    calls.clear()
    again = run(args)  # ... yet the stored SHA-256 proves it unchanged
    assert again["changed"] is False
    assert again["bytes_sent"] == 0
    assert calls.writes() == []
    assert calls.ops().count("HeadObject") == 1  # only the multipart object needs its metadata read


def test_plain_md5_etag_fallback_skips_foreign_objects(run, s3, bucket, tmp_path, calls):
    src = tmp_path / "model.joblib"
    src.write_bytes(b"model-bytes" * 100)
    s3.put_object(Bucket=bucket, Key="m/model.joblib", Body=src.read_bytes())  # no mlops-sha256 metadata
    calls.clear()
    result = run({"src": str(src), "bucket": bucket, "prefix": "m"})
    assert result["changed"] is False
    assert result["skipped_keys"] == ["m/model.joblib"]
    assert calls.writes() == []


def test_foreign_multipart_object_without_checksum_is_reuploaded(run, s3, bucket, tmp_path):
    data = os.urandom(6 * MIB)
    src = tmp_path / "w.bin"
    src.write_bytes(data)
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="m/w.bin")
    parts = []
    for number, chunk in enumerate((data[: 5 * MIB], data[5 * MIB :]), start=1):
        part = s3.upload_part(Bucket=bucket, Key="m/w.bin", UploadId=mpu["UploadId"], PartNumber=number, Body=chunk)
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="m/w.bin", UploadId=mpu["UploadId"], MultipartUpload={"Parts": parts}
    )
    result = run({"src": str(src), "bucket": bucket, "prefix": "m"})
    assert result["uploaded"] == ["m/w.bin"]  # equality cannot be proven from a multipart ETag alone
    assert "mlops-sha256" in s3.head_object(Bucket=bucket, Key="m/w.bin")["Metadata"]


def test_create_bucket(run, s3, tree):
    result = run({"src": str(tree), "bucket": "new-bucket", "prefix": "p", "create_bucket": True})
    assert result["bucket_created"] is True
    assert len(keys(s3, "new-bucket")) == 3
    again = run({"src": str(tree), "bucket": "new-bucket", "prefix": "p", "create_bucket": True})
    assert again["bucket_created"] is False
    assert again["changed"] is False


def test_create_bucket_in_region(run, s3, monkeypatch, tree):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    result = run({"src": str(tree), "bucket": "eu-models", "prefix": "p", "create_bucket": True})
    assert result["bucket_created"] is True
    assert s3.get_bucket_location(Bucket="eu-models")["LocationConstraint"] == "eu-west-1"


def test_missing_bucket_without_create_fails(run, s3, tree, calls):
    result = run({"src": str(tree), "bucket": "absent-bucket", "prefix": "p"})
    assert result["failed"] is True
    assert "absent-bucket does not exist" in result["msg"]
    assert "create_bucket" in result["msg"]
    assert result["error"]["code"] == "NoSuchBucket"
    assert calls.writes() == []


def test_include_exclude(run, s3, bucket, tree):
    (tree / "notes.tmp").write_text("scratch")
    result = run(
        {
            "src": str(tree),
            "bucket": bucket,
            "prefix": "p",
            "include": ["*.joblib", "*.json", "*.tmp"],
            "exclude": ["*.tmp"],
        }
    )
    assert sorted(result["uploaded"]) == ["p/model.joblib", "p/sub/deeper/vocab.json"]
    assert result["objects"] == 2


def test_metadata_and_tags(run, s3, bucket, tree, calls):
    args = {
        "src": str(tree),
        "bucket": bucket,
        "prefix": "p",
        "metadata": {"Git-Commit": "abc123"},
        "tags": {"team": "risk", "stage": "dev"},
    }
    run(args)
    head = s3.head_object(Bucket=bucket, Key="p/model.joblib")
    assert head["Metadata"]["git-commit"] == "abc123"
    tags = s3.get_object_tagging(Bucket=bucket, Key="p/model.joblib")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "risk", "stage": "dev"}

    calls.clear()
    assert run(args)["changed"] is False
    assert calls.writes() == []

    args["metadata"] = {"git-commit": "def456"}
    calls.clear()
    result = run(args)
    assert result["changed"] is True
    assert result["uploaded"] == []
    assert result["bytes_sent"] == 0
    assert len(result["metadata_updated"]) == 3
    assert set(calls.writes()) == {"CopyObject"}
    head = s3.head_object(Bucket=bucket, Key="p/sub/deeper/vocab.json")
    assert head["Metadata"]["git-commit"] == "def456"
    assert head["Metadata"]["mlops-sha256"]
    assert head["ContentType"] == "application/json"  # kept through the in-place copy
    tags = s3.get_object_tagging(Bucket=bucket, Key="p/sub/deeper/vocab.json")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "risk", "stage": "dev"}

    args["tags"] = {"team": "risk"}
    result = run(args)
    assert len(result["metadata_updated"]) == 3
    tags = s3.get_object_tagging(Bucket=bucket, Key="p/model.joblib")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "risk"}


def test_purge_removes_stale_objects_only_below_prefix(run, s3, bucket, tree):
    s3.put_object(Bucket=bucket, Key="p/old-model.pkl", Body=b"old")
    s3.put_object(Bucket=bucket, Key="p2/keep.txt", Body=b"keep")
    result = run({"src": str(tree), "bucket": bucket, "prefix": "p", "purge": True})
    assert result["deleted"] == ["p/old-model.pkl"]
    assert "p2/keep.txt" in keys(s3, bucket)
    assert "p/old-model.pkl" not in keys(s3, bucket)


# ----------------------------------------------------------------------------------------- check / diff


def test_check_mode_makes_no_writes(run, s3, tree, calls):
    result = run({"src": str(tree), "bucket": "fresh", "prefix": "p", "create_bucket": True}, check_mode=True)
    assert result["changed"] is True
    assert result["bucket_created"] is True
    assert len(result["uploaded"]) == 3
    assert calls.writes() == []
    assert "fresh" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_check_mode_reports_only_changed_files(run, s3, bucket, tree, calls):
    args = {"src": str(tree), "bucket": bucket, "prefix": "p", "purge": True}
    run(args)
    s3.put_object(Bucket=bucket, Key="p/stale", Body=b"x")
    (tree / "model.joblib").write_bytes(b"retrained")
    calls.clear()
    result = run(args, check_mode=True)
    assert result["changed"] is True
    assert result["uploaded"] == ["p/model.joblib"]
    assert result["bytes_sent"] == len(b"retrained")
    assert result["deleted"] == ["p/stale"]
    assert calls.writes() == []
    assert set(calls.ops()) <= {"HeadBucket", "ListObjectsV2", "HeadObject", "GetObjectTagging"}


def test_diff_mode_lists_keys(run, s3, bucket, tree):
    s3.put_object(Bucket=bucket, Key="p/model.joblib", Body=b"old")
    result = run({"src": str(tree), "bucket": bucket, "prefix": "p"}, diff=True)
    assert result["diff"]["before"] == "p/model.joblib\n"
    assert result["diff"]["after"] == "p/metadata.yaml\np/model.joblib\np/sub/deeper/vocab.json\n"
    assert result["diff"]["before_header"] == "s3://models/p"
    assert "diff" not in run({"src": str(tree), "bucket": bucket, "prefix": "p"})


# ------------------------------------------------------------------------------------------------ absent


def test_state_absent(run, s3, bucket, tree, calls):
    run({"src": str(tree), "bucket": bucket, "prefix": "iris/v1"})
    s3.put_object(Bucket=bucket, Key="iris/v10/keep", Body=b"sibling prefix")
    calls.clear()
    check = run({"bucket": bucket, "prefix": "iris/v1", "state": "absent"}, check_mode=True, diff=True)
    assert check["changed"] is True
    assert len(check["deleted"]) == 3
    assert check["diff"]["after"] == ""
    assert calls.writes() == []

    result = run({"bucket": bucket, "prefix": "iris/v1", "state": "absent"})
    assert result["changed"] is True
    assert sorted(result["deleted"]) == sorted(check["deleted"])
    assert keys(s3, bucket) == ["iris/v10/keep"]

    again = run({"bucket": bucket, "prefix": "iris/v1/", "state": "absent"})
    assert again["changed"] is False
    assert again["deleted"] == []


def test_state_absent_many_objects_and_missing_bucket(run, s3, bucket, calls, monkeypatch):
    monkeypatch.setattr(s3_utils, "DELETE_BATCH", 10)  # S3 allows 1000 keys per DeleteObjects
    for i in range(25):
        s3.put_object(Bucket=bucket, Key="many/%04d" % i, Body=b"")
    calls.clear()
    result = run({"bucket": bucket, "prefix": "many", "state": "absent"})
    assert len(result["deleted"]) == 25
    assert calls.ops().count("DeleteObjects") == 3
    assert keys(s3, bucket) == []
    gone = run({"bucket": "no-such-bucket", "prefix": "x", "state": "absent"})
    assert gone["changed"] is False
    assert not gone.get("failed")


def test_state_absent_refuses_empty_prefix(run, s3, bucket, calls):
    s3.put_object(Bucket=bucket, Key="a", Body=b"")
    calls.clear()
    result = run({"bucket": bucket, "prefix": "/", "state": "absent"})
    assert result["failed"] is True
    assert "non-empty prefix" in result["msg"]
    assert calls.ops() == []


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"bucket": "models", "purge": True}, "purge only apply to an upload"),
        ({"bucket": "Bad_Bucket"}, "Invalid bucket name 'Bad_Bucket'"),
        ({"bucket": "models", "src": "/nonexistent/model"}, "src /nonexistent/model does not exist"),
        ({"bucket": "Bad_Bucket", "src": "TREE"}, "Invalid bucket name 'Bad_Bucket'"),
        ({"bucket": "s3://models/p", "src": "TREE"}, "without s3://"),
        ({"bucket": "ab", "src": "TREE"}, "3 to 63 characters"),
        ({"bucket": "models", "src": "TREE", "prefix": "a/../b"}, "'..' path segments are not allowed"),
        ({"bucket": "models", "src": "TREE", "prefix": "a//b"}, "empty, '.' or '..' path segments"),
        ({"bucket": "models", "src": "TREE", "multipart_chunksize": "1MB"}, "multipart_chunksize must be between"),
        ({"bucket": "models", "src": "TREE", "concurrency": 0}, "concurrency must be between 1 and 64"),
        ({"bucket": "models", "src": "TREE", "endpoint_url": "minio:9000"}, "endpoint_url must be an http"),
        (
            {"bucket": "models", "src": "TREE", "profile": "p", "access_key": "AKIAXX", "secret_key": "SECRETXX"},
            "mutually exclusive",
        ),
        ({"bucket": "models", "src": "TREE", "access_key": "AKIAXX"}, "parameters are required together"),
    ],
)
@pytest.mark.usefixtures("bucket")
def test_bad_input_fails_before_any_request(run, tree, calls, args, message):
    args = {k: (str(tree) if v == "TREE" else v) for k, v in args.items()}
    calls.clear()
    result = run(args)
    assert result["failed"] is True
    assert message in result["msg"]
    assert calls.ops() == []
    assert "Traceback" not in result["_raw"]


def test_leading_slash_prefix_is_normalised_with_warning(run, s3, bucket, tree):
    result = run({"src": str(tree), "bucket": bucket, "prefix": "/iris/v1/"})
    assert result["model_uri"] == "s3://models/iris/v1"
    assert result["prefix"] == "iris/v1"
    assert "starts with '/'" in json.dumps(result["warnings"])
    assert "iris/v1/model.joblib" in keys(s3, bucket)


# ------------------------------------------------------------------------------------- auth and errors


def test_credentials_never_in_result(run, s3, bucket, tree):
    auth = {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "session_token": SESSION_TOKEN}
    ok = run({"src": str(tree), "bucket": bucket, "prefix": "p", **auth}, diff=True)
    assert ok["changed"] is True
    failed = run({"src": str(tree), "bucket": "missing-bucket", **auth})
    assert failed["failed"] is True
    for result in (ok, failed):
        for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
            assert secret not in result["_raw"]


def test_aliases_and_env_credentials(run, s3, bucket, tree, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run(
        {"src": str(tree), "bucket": bucket, "prefix": "p", "aws_access_key_id": "a", "aws_secret_access_key": "b"}
    )
    assert result["changed"] is True


def test_no_credentials_message(run, s3, bucket, tree, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run({"src": str(tree), "bucket": bucket, "prefix": "p"})
    assert result["failed"] is True
    assert "Unable to locate credentials" in result["msg"]
    assert "AWS_ACCESS_KEY_ID" in result["msg"]
    assert result["error"]["code"] == "NoCredentialsError"
    assert "Traceback" not in result["_raw"]


def test_unknown_profile_message(run, s3, bucket, tree):
    result = run({"src": str(tree), "bucket": bucket, "prefix": "p", "profile": "nope"})
    assert result["failed"] is True
    assert result["msg"] == "AWS profile 'nope' not found in the AWS config/credentials files"


def test_client_error_message_names_bucket_key_and_code(run, s3, bucket, tree, monkeypatch):
    def deny(*_args, **_kwargs):
        raise s3_utils.translate_error(
            s3_utils.ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"),
            "upload to",
            bucket,
            "p/model.joblib",
        )

    monkeypatch.setattr(s3_utils, "_update_metadata", deny)
    monkeypatch.setattr(s3_utils, "create_transfer_manager", _failing_manager("p/model.joblib"))
    result = run({"src": str(tree), "bucket": bucket, "prefix": "p"})
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to upload to s3://models/p/model.joblib: AccessDenied: Access Denied")
    assert result["error"] == {
        "bucket": "models",
        "key": "p/model.joblib",
        "code": "AccessDenied",
        "message": "Access Denied",
    }
    # the other two files were uploaded before the failure was reported
    assert sorted(result["uploaded"]) == ["p/metadata.yaml", "p/sub/deeper/vocab.json"]
    assert result["changed"] is True
    assert "Traceback" not in result["_raw"]


def _failing_manager(failing_key):
    """A transfer manager factory whose upload of ``failing_key`` fails with AccessDenied."""
    real_factory = s3_utils.create_transfer_manager

    class Manager:
        def __init__(self, client, config):
            self.real = real_factory(client, config)

        def __enter__(self):
            self.real.__enter__()
            return self

        def __exit__(self, *exc):
            return self.real.__exit__(*exc)

        def upload(self, path, bucket, key, extra_args=None):
            if key == failing_key:
                return _Failed()
            return self.real.upload(path, bucket, key, extra_args=extra_args)

    return Manager


class _Failed:
    def result(self):
        raise s3_utils.ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")


def test_unreachable_endpoint_message(run, tree, monkeypatch):
    monkeypatch.setattr(retries, "S3_RETRY_CONFIG", {"mode": "standard", "total_max_attempts": 1})
    result = run({"src": str(tree), "bucket": "models", "endpoint_url": "http://127.0.0.1:9"})
    assert result["failed"] is True
    assert "Could not connect to the endpoint URL" in result["msg"]
    assert "http://127.0.0.1:9/models" in result["msg"]
    assert result["error"]["code"] == "EndpointConnectionError"


# ------------------------------------------------------------------------------------- documentation


def _captured_spec(monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def fake_module(argument_spec, **kwargs):
        seen["spec"] = argument_spec
        seen["kwargs"] = kwargs
        raise Stop

    monkeypatch.setattr(s3_artifact, "S3AnsibleModule", fake_module)
    with pytest.raises(Stop):
        s3_artifact.main()
    return seen


def _doc_options():
    doc = yaml.safe_load(s3_artifact.DOCUMENTATION)
    fragment_path = Path(s3_utils.__file__).parents[1] / "doc_fragments" / "s3_auth.py"
    namespace = {}
    exec(compile(fragment_path.read_text(), str(fragment_path), "exec"), namespace)  # noqa: S102
    fragment = yaml.safe_load(namespace["ModuleDocFragment"].DOCUMENTATION)
    assert doc["extends_documentation_fragment"] == ["mlops.k8s.s3_auth"]
    options = dict(doc["options"])
    options.update(fragment["options"])
    return doc, options


def test_documentation_matches_argument_spec(monkeypatch):
    """What ansible-test's validate-modules checks: every option documented exactly as specified."""
    seen = _captured_spec(monkeypatch)
    spec = s3_utils.s3_auth_argument_spec()
    spec.update(seen["spec"])
    doc, options = _doc_options()
    assert seen["kwargs"]["supports_check_mode"] is True
    assert doc["version_added"] == "0.1.0"
    assert doc["author"].startswith("mlops.k8s maintainers")
    assert set(options) == set(spec)
    for name, opt in spec.items():
        documented = options[name]
        assert documented["type"] == opt.get("type", "str"), name
        assert documented.get("default") == opt.get("default"), name
        assert documented.get("choices") == opt.get("choices"), name
        assert sorted(documented.get("aliases", [])) == sorted(opt.get("aliases", [])), name
        assert documented.get("elements") == opt.get("elements"), name
        assert bool(documented.get("required")) == bool(opt.get("required")), name
    for secret in ("access_key", "secret_key", "session_token"):
        assert spec[secret]["no_log"] is True
    yaml.safe_load(s3_artifact.EXAMPLES)
    returns = yaml.safe_load(s3_artifact.RETURN)
    for key in ("model_uri", "uploaded", "skipped_keys", "deleted", "bytes_sent", "bytes_skipped", "objects"):
        assert key in returns


def test_result_avoids_keys_ansible_reserves(run, s3, bucket, tree):
    """A truthy ``skipped`` (or ``failed``/``unreachable``) key would make Ansible misreport the task."""
    args = {"src": str(tree), "bucket": bucket, "prefix": "p"}
    run(args)
    result = run(args)
    assert result["skipped_keys"]
    for reserved in ("skipped", "failed", "unreachable", "rc", "stdout", "results"):
        assert reserved not in result


@pytest.mark.parametrize("prefix", ["", "/", None])
@pytest.mark.parametrize("check_mode", [False, True])
def test_purge_without_a_prefix_is_refused_before_any_request(run, s3, bucket, tree, calls, prefix, check_mode):
    """purge with the default empty prefix would delete (or list for deletion) every other object of the bucket."""
    s3.put_object(Bucket=bucket, Key="other-team/model.pkl", Body=b"theirs")
    calls.clear()
    args = {"src": str(tree), "bucket": bucket, "purge": True}
    if prefix is not None:
        args["prefix"] = prefix
    result = run(args, check_mode=check_mode)
    assert result.get("failed"), result
    assert "purge needs a non-empty prefix" in result["msg"]
    assert "other-team/model.pkl" not in result["_raw"]
    assert calls.ops() == []
    assert "other-team/model.pkl" in keys(s3, bucket)


def test_purge_never_deletes_outside_the_prefix(s3, bucket, tree, monkeypatch):
    """Even when a listing returns keys outside the prefix (a server that ignores Prefix), they are kept."""
    s3.put_object(Bucket=bucket, Key="p/stale", Body=b"x")
    s3.put_object(Bucket=bucket, Key="pp/theirs", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other/theirs", Body=b"x")
    original = s3_utils.list_objects
    monkeypatch.setattr(s3_utils, "list_objects", lambda client, b, prefix: original(client, b, ""))
    client = boto3.client("s3", region_name="us-east-1")
    result = s3_utils.upload_artifact(client, bucket, "p", str(tree), purge=True)
    assert result["deleted"] == ["p/stale"]
    assert {"pp/theirs", "other/theirs"} <= set(keys(s3, bucket))


# ------------------------------------------------------------------------------------------ bucket only


def test_bucket_only_creates_the_bucket_once(run, s3, calls):
    result = run({"bucket": "store", "create_bucket": True})
    assert result["changed"] is True
    assert result["bucket_created"] is True
    assert result["model_uri"] == "s3://store"
    assert "store" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert keys(s3, "store") == []
    calls.clear()
    again = run({"bucket": "store", "create_bucket": True})
    assert again["changed"] is False
    assert again["bucket_created"] is False
    assert calls.writes() == []


def test_bucket_only_check_mode_writes_nothing(run, s3, calls):
    result = run({"bucket": "store", "create_bucket": True}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["bucket_created"] is True
    assert result["diff"] == {"before": {"bucket": None}, "after": {"bucket": "store"}}
    assert calls.writes() == []
    assert "store" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_only_missing_bucket_without_create_fails(run, s3, calls):
    result = run({"bucket": "store"})
    assert result["failed"] is True
    assert result["error"]["code"] == "NoSuchBucket"
    assert calls.writes() == []


def test_bucket_only_existing_bucket_is_ok_without_create(run, s3, bucket):
    result = run({"bucket": bucket})
    assert result["changed"] is False
    assert "failed" not in result


@pytest.mark.parametrize("extra", [{"include": ["*.json"]}, {"purge": True}, {"metadata": {"a": "b"}},
                                   {"tags": {"t": "1"}}])
def test_bucket_only_refuses_upload_options_before_any_request(run, s3, calls, extra):
    result = run({"bucket": "store", "create_bucket": True, **extra})
    assert result["failed"] is True
    assert "only apply to an upload" in result["msg"]
    assert calls.ops() == []
