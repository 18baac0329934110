"""The body of every scenario test (tests are split into files by area, so that `--dist loadfile`, as the kube
stage of hack/test.sh runs them, spreads them over the workers)."""

from __future__ import annotations

import pytest
from fid_registry import KNOWN_WRONG
from fid_runner import SCENARIOS, run


def params(*areas: str) -> list:
    out = []
    for sid, scn in SCENARIOS.items():
        if scn.area not in areas:
            continue
        marks = [pytest.mark.xfail(reason=KNOWN_WRONG[sid], strict=True)] if sid in KNOWN_WRONG else []
        out.append(pytest.param(scn, id=sid, marks=marks))
    return out


def check(scn, emulator, real, request) -> None:
    extra = {"crds": request.getfixturevalue("platform_crds")} if "crds" in scn.needs else {}
    outcome = run(scn, emulator, real, extra)[0]
    details = [f"{d.verdict}: {d.short()}" + (f" -- {d.reason}" if d.reason else "") for d in outcome.diffs]
    verdict = "wrong" if outcome.wrong else ("accepted" if outcome.accepted else "same")
    if scn.id in KNOWN_WRONG and outcome.wrong:
        verdict = "known wrong"
    request.node.user_properties.append(("fidelity", {
        "scenario": scn.id, "same": outcome.same, "accepted": len(outcome.accepted), "wrong": len(outcome.wrong),
        "verdict": verdict, "details": details}))
    assert not outcome.wrong, f"{len(outcome.wrong)} difference(s) from the real API server:\n" + "\n".join(
        d.short() for d in outcome.wrong)
