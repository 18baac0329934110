"""Scenarios on the cluster: discovery, the platform roles' CRDs, RBAC and tokens, deletion and namespaces,
scheduling. One test per scenario, as in test_fidelity_api.py."""

from __future__ import annotations

import pytest
from fid_test import check, params

pytestmark = pytest.mark.kube


@pytest.mark.parametrize("scn", params("discovery", "crd", "rbac", "delete", "scheduling", "kinds"))
def test_scenario(scn, emulator, real, request):
    check(scn, emulator, real, request)
