"""Run a scenario on both servers (in parallel threads), normalize, compare, classify."""

from __future__ import annotations

import contextlib
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor

# imported for the scenarios they register
import fid_cluster  # noqa: F401  # pylint: disable=unused-import
import fid_kinds  # noqa: F401  # pylint: disable=unused-import
import fid_reads  # noqa: F401  # pylint: disable=unused-import
import fid_writes  # noqa: F401  # pylint: disable=unused-import
from fid_harness import SCENARIOS, Outcome, Scenario, Side, classify, compare, normalize
from fid_registry import ACCEPTED


def namespace_for(sid: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in sid.lower().split("/", 1)[1])[:40].strip("-")
    return f"fid-{slug}-{uuid.uuid4().hex[:5]}"


def run_side(scn: Scenario, side: Side) -> None:
    try:
        if scn.namespace:
            code, _headers, body = side.h.request("POST", "/api/v1/namespaces",
                                                  b'{"metadata":{"name":"%s"}}' % side.ns.encode())
            assert code == 201, (code, body)
        scn.fn(side)
    except Exception as e:  # noqa: BLE001 - a scenario that breaks on one side is a difference, recorded
        side.record("exception", f"{type(e).__name__}: {e}")
        side.vars["traceback"] = traceback.format_exc()
    finally:
        if scn.namespace:
            with contextlib.suppress(Exception):
                side.h.request("DELETE", f"/api/v1/namespaces/{side.ns}")


def run(scn: Scenario, emulator, real, extra: dict | None = None) -> tuple[Outcome, dict, dict]:
    ns = namespace_for(scn.id)
    sides = [Side("emulator", emulator, ns, extra), Side("real", real, ns, extra)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: run_side(scn, s), sides))
    emu = normalize(sides[0].trace, emulator.server)
    rl = normalize(sides[1].trace, real.server)
    same = [0]
    diffs = compare(emu, rl, same=same)
    outcome = classify(scn.id, diffs, ACCEPTED, same[0])
    return outcome, emu, rl


__all__ = ["SCENARIOS", "run"]
