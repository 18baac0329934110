"""Kubernetes quantities: parsing every suffix family, comparison, and the PVC resize rules built on them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.quantity import (
    QuantityError,
    compare_quantities,
    format_bytes,
    parse_quantity,
    validate_quantities,
)
from ansible_collections.mlops.k8s.plugins.module_utils.volumes import (
    binding_mode,
    build_pvc,
    check_immutable,
    normalize_access_modes,
    plan_resize,
)


@pytest.mark.parametrize(("text", "value"), [
    ("1Ki", 1024), ("1Mi", 1024 ** 2), ("2Gi", 2 * 1024 ** 3), ("1Ti", 1024 ** 4), ("1Pi", 1024 ** 5),
    ("1Ei", 1024 ** 6), ("1k", 1000), ("1M", 10 ** 6), ("1G", 10 ** 9), ("1T", 10 ** 12), ("1P", 10 ** 15),
    ("1E", 10 ** 18), ("500m", Decimal("0.5")), ("100n", Decimal("1e-7")), ("3u", Decimal("3e-6")),
    ("1.5Gi", 1610612736), (".5Gi", 536870912), ("1e3", 1000), ("1E3", 1000), ("2.5e-3", Decimal("0.0025")),
    ("10", 10), ("+5", 5), ("-1", -1), (7, 7), ("  4Gi ", 4 * 1024 ** 3),
])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "Gi", "1GB", "1gi", "1 Gi", "1.2.3", "ten", "1Gi2", "1e", "1K", None, True])
def test_invalid_quantities_are_refused_with_the_syntax(text):
    with pytest.raises(QuantityError) as err:
        parse_quantity(text, "size")
    assert "size" in str(err.value)


def test_comparisons_across_suffix_families():
    assert compare_quantities("2Gi", "2048Mi") == 0
    assert compare_quantities("1G", "1Gi") == -1
    assert compare_quantities("1Ti", "1000Gi") == 1
    assert compare_quantities("1500m", "1.5") == 0
    assert compare_quantities("1e9", "1G") == 0


def test_format_bytes():
    assert format_bytes("2048Mi") == "2Gi"
    assert format_bytes("1536Mi") == "1536Mi"
    assert format_bytes("1G") == "1000000000 bytes"


def test_validate_quantities_names_the_bad_key():
    expected = {"pods": "10", "requests.memory": "8Gi"}
    assert validate_quantities({"pods": 10, "requests.memory": "8Gi"}, "quota") == expected
    with pytest.raises(K8sError, match=r"quota\.requests\.cpu"):
        validate_quantities({"requests.cpu": "four"}, "quota")


LIVE = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "models"},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "standard", "volumeMode": "Filesystem",
                 "resources": {"requests": {"storage": "2Gi"}}}}
EXPANDABLE = {"metadata": {"name": "standard"}, "allowVolumeExpansion": True}
FIXED = {"metadata": {"name": "standard"}}


@pytest.mark.parametrize("smaller", ["1Gi", "2047Mi", "2G", "1999999999", "1.9Gi"])
def test_shrinking_is_refused_with_the_reason(smaller):
    with pytest.raises(K8sError) as err:
        plan_resize(LIVE, smaller, EXPANDABLE, "standard")
    msg = str(err.value)
    assert "refusing to shrink" in msg and "models/data" in msg and "cannot shrink" in msg


@pytest.mark.parametrize("same", ["2Gi", "2048Mi", "2097152Ki", "2147483648"])
def test_equal_quantities_keep_the_live_string(same):
    # no change, and the live spelling is sent back so server-side apply sees no difference
    assert plan_resize(LIVE, same, FIXED, "standard") == ("2Gi", "same")


def test_growing_needs_allow_volume_expansion():
    assert plan_resize(LIVE, "3Gi", EXPANDABLE, "standard") == ("3Gi", "grow")
    with pytest.raises(K8sError, match="does not allow volume expansion"):
        plan_resize(LIVE, "3Gi", FIXED, "standard")
    with pytest.raises(K8sError, match="StorageClass gone does not exist"):
        plan_resize(LIVE, "3Gi", None, "gone")
    with pytest.raises(K8sError, match="has no StorageClass"):
        plan_resize(LIVE, "3Gi", None, None)


def test_immutable_fields_fail_before_any_write():
    wanted = build_pvc("data", "models", "2Gi", access_modes=["ReadWriteOnce"], storage_class="standard")
    with pytest.raises(K8sError, match="access_modes"):
        check_immutable(LIVE, wanted)
    same = build_pvc("data", "models", "2Gi", access_modes=["ReadWriteMany"], storage_class="standard")
    check_immutable(LIVE, same)


def test_access_mode_short_forms_and_binding_mode():
    assert normalize_access_modes(["RWX", "rwo", "ReadWriteMany"]) == ["ReadWriteMany", "ReadWriteOnce"]
    with pytest.raises(K8sError, match="not an access mode"):
        normalize_access_modes(["ReadWriteSometimes"])
    assert binding_mode({"volumeBindingMode": "WaitForFirstConsumer"}) == "WaitForFirstConsumer"
    assert binding_mode({}) == "Immediate"
    assert binding_mode(None) is None


def test_zero_size_is_refused():
    with pytest.raises(K8sError, match="larger than zero"):
        build_pvc("data", "models", "0", access_modes=["ReadWriteOnce"])
