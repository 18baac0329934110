"""The sandbox's S3 (moto) through boto3 with the env the sandbox publishes."""

from __future__ import annotations

import hashlib
import os

import pytest

pytestmark = pytest.mark.sandbox


@pytest.fixture
def s3(sandbox):
    import boto3
    env = sandbox.env
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert env.get(k), k
    with open(os.path.join(sandbox.dir, "env"), encoding="utf-8") as f:
        assert f"export AWS_ENDPOINT_URL={env['AWS_ENDPOINT_URL']}\n" in f.read()
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])


def test_bucket_put_get(s3):
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="iris/model.joblib", Body=b"weights")
    assert s3.get_object(Bucket="models", Key="iris/model.joblib")["Body"].read() == b"weights"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="models", Prefix="iris/")["Contents"]]
    assert keys == ["iris/model.joblib"]


def test_multipart_upload(s3):
    from boto3.s3.transfer import TransferConfig
    s3.create_bucket(Bucket="big")
    data = os.urandom(11 * 1024 * 1024)
    import io
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(data), "big", "blob.bin", Config=cfg)
    head = s3.head_object(Bucket="big", Key="blob.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")   # a multipart ETag: 3 parts
    out = io.BytesIO()
    s3.download_fileobj("big", "blob.bin", out)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()
