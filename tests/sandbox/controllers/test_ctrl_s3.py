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
    bucket = "put-get-test"  # not "models": other test files share this session's S3
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="iris/model.joblib", Body=b"weights")
    assert s3.get_object(Bucket=bucket, Key="iris/model.joblib")["Body"].read() == b"weights"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="iris/")["Contents"]]
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


class _StubSandbox:
    def __init__(self, directory: str):
        self.dir, self.env = directory, {}


def _listening(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit
    u = urlsplit(url)
    try:
        with socket.create_connection((u.hostname, u.port), timeout=1):
            return True
    except OSError:
        return False


def _s3_threads() -> list[str]:
    import threading
    return [t.name for t in threading.enumerate() if t.name.startswith("s3") or "moto" in t.name.lower()]


@pytest.mark.parametrize("use_first", [False, True], ids=["stop-while-moto-imports", "stop-after-use"])
def test_s3_component_stops_promptly_and_cleanly(tmp_path, use_first):
    """stop() used to hang (socketserver.shutdown() waiting for a serve_forever() that never ran) and every
    sandbox stop waited 15 s for the kill; it must be prompt whether moto is still importing or serving."""
    import time

    from sandbox import s3 as s3mod
    os.makedirs(tmp_path / "logs")
    comp = s3mod.component(_StubSandbox(str(tmp_path)))
    comp.start()
    url = comp.url
    assert comp.sb.env["AWS_ENDPOINT_URL"] == url and _listening(url)  # backlog accepts while moto imports
    proc = getattr(comp, "proc", None)
    if use_first:
        import boto3
        c = boto3.client("s3", endpoint_url=url, aws_access_key_id=s3mod.ACCESS_KEY,
                         aws_secret_access_key=s3mod.SECRET_KEY, region_name=s3mod.REGION)
        c.create_bucket(Bucket="stop-test")
        assert c.list_buckets()["Buckets"][0]["Name"] == "stop-test"
    import threading
    t0 = time.monotonic()
    stopper = threading.Thread(target=comp.stop, daemon=True)
    stopper.start()
    stopper.join(5)
    assert time.monotonic() - t0 < 2.0
    assert proc is None or proc.poll() is not None    # reaped: no moto process left
    assert not _listening(url)
    assert _s3_threads() == []
    comp.stop()                             # idempotent
