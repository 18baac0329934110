"""Namespace and object names that break DNS-1123 fail locally, before any request (issue 15)."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.names import check_label, check_subdomain
from ansible_collections.mlops.k8s.plugins.modules import namespace, pvc, service_account, storage_secret

BAD_LABELS = ["Models", "models_", "-models", "models-", "a" * 64, "", "a.b"]
BAD_SUBDOMAINS = ["Data", "data_1", "-data", "data.", "a" * 254, ""]


@pytest.mark.parametrize("value", BAD_LABELS)
def test_bad_labels(value):
    with pytest.raises(K8sError, match="DNS-1123 label"):
        check_label(value, "namespace")


@pytest.mark.parametrize("value", BAD_SUBDOMAINS)
def test_bad_subdomains(value):
    with pytest.raises(K8sError, match="DNS-1123 subdomain"):
        check_subdomain(value, "name")


def test_good_names():
    assert check_label("models-1", "namespace") == "models-1"
    assert check_subdomain("model.parameters-1", "name") == "model.parameters-1"


@pytest.mark.parametrize(("module", "args"), [
    (namespace, {"name": "Models"}),
    (namespace, {"name": "Models", "state": "absent"}),
    (pvc, {"name": "Data", "namespace": "models", "size": "1Gi"}),
    (pvc, {"name": "data", "namespace": "Models", "size": "1Gi"}),
    (pvc, {"name": "data", "namespace": "Models", "state": "absent"}),
    (storage_secret, {"name": "s3", "namespace": "Models", "access_key": "AKIAX", "secret_key": "secret-value"}),
    (service_account, {"name": "deployer", "namespace": "Models", "preset": "seldon-deployer"}),
])
def test_modules_refuse_them_before_any_request(fake_cluster, run_module, module, args):
    failed, result = run_module(module, args)
    assert failed and "DNS-1123" in result["msg"] and "exception" not in result, result
    assert fake_cluster.requests == []
