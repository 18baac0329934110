"""Fixtures for the sandbox API server tests (the `sandbox` fixture comes from sandbox.pytest_plugin)."""

from __future__ import annotations

import json
import uuid

import pytest


@pytest.fixture
def ns(sandbox):
    """A fresh namespace for one test, deleted afterwards."""
    name = "t-" + uuid.uuid4().hex[:8]
    code, _, body = sandbox.request("POST", "/api/v1/namespaces",
                                    json.dumps({"metadata": {"name": name}}).encode())
    assert code == 201, body
    yield name
    sandbox.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def api(sandbox):
    client = sandbox.api_client()
    yield client
    client.close()

