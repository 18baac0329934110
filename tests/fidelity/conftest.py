"""The differential suite: every scenario runs on the emulator and on the real control plane of this worker.

Runs only on the real-control-plane stage (MLOPS_CONTROL_PLANE=kube, binaries built by hack/kube/build.sh), in a
private network namespace. At the end of the session a table of same / accepted / wrong per scenario is printed
and written as JSON and Markdown to $MLOPS_FIDELITY_REPORT (a path stem) or <basetemp>/fidelity-report.{json,md}.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sandbox.kube import controlplane  # noqa: E402
from sandbox.pytest_plugin import running_sandbox  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROLES = ("seldon_core", "argo_workflows", "ambassador")


def _enabled() -> bool:
    return os.environ.get("MLOPS_CONTROL_PLANE") == "kube" and controlplane.built()


def pytest_collection_modifyitems(config, items):
    if _enabled():
        return
    why = ("the differential suite (emulator vs real control plane) runs in the real-control-plane stage: "
           "MLOPS_CONTROL_PLANE=kube, binaries built by hack/kube/build.sh, a private network namespace")
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    with running_sandbox(tmp_path_factory, "fid-emulator") as handle:
        yield handle


@pytest.fixture(scope="session")
def real(tmp_path_factory):
    with running_sandbox(tmp_path_factory, "fid-kube", control_plane="kube") as handle:
        yield handle


@pytest.fixture(scope="session")
def platform_crds(tmp_path_factory) -> list[dict]:
    """The CustomResourceDefinitions that the seldon_core, argo_workflows and ambassador roles install, rendered
    with the roles' `render` entry point (as tests/integration/test_platform_roles.py does), once per session
    (a file lock shares the rendering between xdist workers)."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    cache = shared / "fidelity-crds.json"
    with FileLock(str(cache) + ".lock"):
        if not cache.exists():
            sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
            from test_platform_roles import render

            root = tmp_path_factory.mktemp("collections")
            (root / "ansible_collections" / "mlops").mkdir(parents=True)
            (root / "ansible_collections" / "mlops" / "k8s").symlink_to(os.path.dirname(os.path.dirname(HERE)),
                                                                        target_is_directory=True)
            docs = render(root, tmp_path_factory.mktemp("fid-render"))
            crds = [d for role in ROLES for d in docs[role] if d.get("kind") == "CustomResourceDefinition"]
            cache.write_text(json.dumps(crds))
    return json.loads(cache.read_text())


# -- the report ---------------------------------------------------------------------------------------------------
_RESULTS: dict[str, dict] = {}


def pytest_runtest_logreport(report):
    for key, value in report.user_properties:
        if key == "fidelity":
            _RESULTS[value["scenario"]] = value


def _report_paths(config) -> tuple[str, str]:
    stem = os.environ.get("MLOPS_FIDELITY_REPORT")
    if not stem:
        stem = os.path.join(str(config._tmp_path_factory.getbasetemp()), "fidelity-report")  # noqa: SLF001
    stem = stem.removesuffix(".json").removesuffix(".md")
    return stem + ".json", stem + ".md"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _RESULTS:
        return
    rows = [_RESULTS[k] for k in sorted(_RESULTS)]
    totals = {k: sum(r[k] for r in rows) for k in ("same", "accepted", "wrong")}
    flagged = sum(1 for r in rows if r["wrong"])
    width = max(len(r["scenario"]) for r in rows)
    tr = terminalreporter
    tr.section("emulator fidelity (same / accepted / wrong fields per scenario)")
    tr.write_line(f"{'scenario':<{width}}  {'same':>6} {'accepted':>8} {'wrong':>6}  verdict")
    for r in rows:
        tr.write_line(f"{r['scenario']:<{width}}  {r['same']:>6} {r['accepted']:>8} {r['wrong']:>6}  {r['verdict']}")
    tr.write_line(f"{'TOTAL (' + str(len(rows)) + ' scenarios)':<{width}}  {totals['same']:>6} "
                  f"{totals['accepted']:>8} {totals['wrong']:>6}  {flagged} scenario(s) with wrong fields")
    jpath, mpath = _report_paths(config)
    os.makedirs(os.path.dirname(jpath) or ".", exist_ok=True)
    with open(jpath, "w", encoding="utf-8") as f:
        json.dump({"totals": totals, "scenarios": rows}, f, indent=1)
    with open(mpath, "w", encoding="utf-8") as f:
        f.write("| scenario | same | accepted | wrong | verdict |\n| --- | ---: | ---: | ---: | --- |\n")
        for r in rows:
            f.write(f"| {r['scenario']} | {r['same']} | {r['accepted']} | {r['wrong']} | {r['verdict']} |\n")
        f.write(f"| **total ({len(rows)})** | {totals['same']} | {totals['accepted']} | {totals['wrong']} | |\n")
        for r in rows:
            if r["wrong"] or r["accepted"]:
                f.write(f"\n### {r['scenario']}\n")
                for d in r["details"]:
                    f.write(f"- {d}\n")
    tr.write_line(f"fidelity report: {jpath} and {mpath}")
