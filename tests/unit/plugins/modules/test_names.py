"""Namespace and object names that break DNS-1123 fail locally, before any request (issue 15)."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.names import check_label, check_path_segment, check_subdomain
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


@pytest.mark.parametrize("value", ["models\n", "models\r\n", "\nmodels"])
def test_a_trailing_newline_is_not_part_of_a_valid_name(value):
    with pytest.raises(K8sError, match="DNS-1123 label"):
        check_label(value, "namespace")
    with pytest.raises(K8sError, match="DNS-1123 subdomain"):
        check_subdomain(value, "name")


def test_longer_labels_when_allowed():
    assert check_label("a" * 200, "name", 253) == "a" * 200
    with pytest.raises(K8sError, match="at most 253"):
        check_label("a" * 254, "name", 253)


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a%2Fb", "x?watch=1", "a#b", "a b", "a\n", "a" * 254, 7])
def test_bad_path_segments(value):
    with pytest.raises(K8sError, match="is not a valid name"):
        check_path_segment(value, "name")


def test_good_path_segments():
    for value in ("system:controller:job-controller", "Admin_Role", "user@example.com", "..a", "a" * 253):
        assert check_path_segment(value, "name") == value


def test_long_values_are_shortened_in_messages():
    with pytest.raises(K8sError) as err:
        check_label("a" * 20000, "name")
    assert len(err.value.msg) < 400 and "(20000 characters)" in err.value.msg
