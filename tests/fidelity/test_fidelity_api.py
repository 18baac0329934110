"""Scenarios on the API machinery: server-side apply, dry-run, patches, Status bodies, lists, watches. One test per
scenario: the emulator's answers must equal the real API server's, field by field (fid_harness normalizes, the
registry of fid_registry accepts); conftest.py prints and writes the table."""

from __future__ import annotations

import pytest
from fid_test import check, params

pytestmark = pytest.mark.kube


@pytest.mark.parametrize("scn", params("ssa", "dryrun", "patch", "errors", "list", "watch"))
def test_scenario(scn, emulator, real, request):
    check(scn, emulator, real, request)


def test_every_scenario_has_a_test():
    from fid_runner import SCENARIOS
    covered = {"ssa", "dryrun", "patch", "errors", "list", "watch", "discovery", "crd", "rbac", "delete", "scheduling",
               "kinds"}
    assert {s.area for s in SCENARIOS.values()} <= covered
    assert len(SCENARIOS) >= 60
