"""One test per scenario: the emulator's answers must equal the real API server's, field by field, up to the
normalization of fid_harness and the accepted differences of fid_registry. See conftest.py for the report."""

from __future__ import annotations

import pytest
from fid_registry import KNOWN_WRONG
from fid_runner import SCENARIOS, run

pytestmark = pytest.mark.kube


def _params():
    for sid, scn in SCENARIOS.items():
        marks = []
        if sid in KNOWN_WRONG:
            marks.append(pytest.mark.xfail(reason=KNOWN_WRONG[sid], strict=True))
        yield pytest.param(scn, id=sid, marks=marks)


@pytest.mark.parametrize("scn", list(_params()))
def test_scenario(scn, emulator, real, request):
    extra = {"crds": request.getfixturevalue("platform_crds")} if "crds" in scn.needs else {}
    outcome, _, _ = run(scn, emulator, real, extra)
    details = [f"{d.verdict}: {d.short()}" + (f" -- {d.reason}" if d.reason else "") for d in outcome.diffs]
    verdict = "wrong" if outcome.wrong else ("accepted" if outcome.accepted else "same")
    if scn.id in KNOWN_WRONG and outcome.wrong:
        verdict = "known wrong"
    request.node.user_properties.append(("fidelity", {
        "scenario": scn.id, "same": outcome.same, "accepted": len(outcome.accepted), "wrong": len(outcome.wrong),
        "verdict": verdict, "details": details}))
    assert not outcome.wrong, f"{len(outcome.wrong)} difference(s) from the real API server:\n" + "\n".join(
        d.short() for d in outcome.wrong)
