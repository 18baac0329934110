"""Injected faults: clients retry through 429/503/dropped connections."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.sandbox


@pytest.fixture
def faults(sandbox):
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


def _client(sandbox, retries):
    from kubernetes import client, config
    cfg = client.Configuration()
    config.load_kube_config(config_file=sandbox.kubeconfig, client_configuration=cfg)
    cfg.retries = retries
    return client.CoreV1Api(client.ApiClient(cfg))


def _retry():
    from urllib3.util.retry import Retry
    return Retry(total=5, connect=3, read=3, status=4, backoff_factor=0.05, status_forcelist=(429, 500, 503),
                 allowed_methods=None, respect_retry_after_header=True, raise_on_status=True)


def test_fault_answers_are_kubernetes_status(faults, ns):
    rule = faults.fault(f"^/api/v1/namespaces/{ns}/configmaps$", 429, method="GET", count=1, retry_after=2)
    assert rule["remaining"] == 1
    code, headers, body = faults.request("GET", f"/api/v1/namespaces/{ns}/configmaps")
    assert code == 429 and headers.get("Retry-After") == "2"
    import json
    st = json.loads(body)
    assert st["kind"] == "Status" and st["reason"] == "TooManyRequests" and st["details"]["retryAfterSeconds"] == 2
    assert faults.request("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 200   # count exhausted
    faults.fault(f"/namespaces/{ns}/secrets", 500, count=-1)
    assert faults.request("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 500
    assert faults.request("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 500
    assert len(faults.faults()) == 1
    faults.clear_faults()
    assert faults.request("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 200


def test_python_client_retries_through_429_503_and_drops(faults, ns):
    from kubernetes.client.rest import ApiException
    api = _client(faults, _retry())
    mark = faults.audit_mark()
    path = f"^/api/v1/namespaces/{ns}/configmaps"
    faults.fault(path, 429, method="GET", count=1, retry_after=1)
    faults.fault(path, 503, method="GET", count=1)
    faults.fault(path, drop=True, method="GET", count=1)
    t0 = time.monotonic()
    out = api.list_namespaced_config_map(ns)
    assert out.items is not None
    assert time.monotonic() - t0 >= 0.9        # honoured Retry-After
    assert faults.faults() == []              # all three were consumed
    hits = [e for e in faults.audit(mark) if e["path"] == f"/api/v1/namespaces/{ns}/configmaps"]
    assert [e["status"] for e in hits][-4:] == [429, 503, 0, 200]
    # without retries the client sees the error
    plain = _client(faults, None)
    faults.fault(path, 503, method="GET", count=1)
    with pytest.raises(ApiException) as exc:
        plain.list_namespaced_config_map(ns)
    assert exc.value.status == 503


def test_kubectl_survives_429(faults, ns):
    faults.fault(f"^/api/v1/namespaces/{ns}/configmaps", 429, count=2, retry_after=1)
    t0 = time.monotonic()
    proc = faults.kubectl("create", "configmap", "survivor", "-n", ns, "--from-literal=a=b")
    assert "created" in proc.stdout
    assert time.monotonic() - t0 >= 1.5
    assert faults.kubectl("get", "configmap", "survivor", "-n", ns, "-o", "name").stdout.strip() == \
        "configmap/survivor"


def test_faults_admin_only(faults, ns, sandbox):
    code, _, _ = sandbox.request("POST", "/sandbox/v1/faults", b'{"status": 503}', token="not-a-token")
    assert code == 401
