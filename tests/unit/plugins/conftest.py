"""Fixtures shared by the plugin unit tests (the S3 ones: module_utils/s3.py and the s3_artifact module)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials only from the environment; never look for real ones (files, IMDS)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="module")
def moto_backend():
    """moto's in-process S3, started once per module (requests to an endpoint_url pass through)."""
    from moto import mock_aws

    with mock_aws() as mock:
        yield mock
