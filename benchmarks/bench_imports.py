"""Where a module's start-up time goes: ``python -X importtime`` of the imports a task pays for.

Each import runs in a fresh interpreter (``python -X importtime -c "import M"``), ``--repeats`` times; the table
gives the median cumulative import time of each module and, for the heaviest, its heaviest direct children. The
collection's own modules are imported from this checkout through a temporary collections path
(``ansible_collections/mlops/k8s -> repo``), kubernetes.core from the virtualenv. Nothing is timed in-process
and no number is hard-coded: every cell is measured by this run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = [
    "ansible.module_utils.basic",
    "http.client",
    "ssl",
    "urllib3",
    "yaml",
    "kubernetes",
    "kubernetes.config",
    "kubernetes.client",
    "kubernetes.dynamic",
    "ansible_collections.mlops.k8s.plugins.module_utils.http_pool",
    "ansible_collections.mlops.k8s.plugins.module_utils.client",
    "ansible_collections.mlops.k8s.plugins.module_utils.module",
    "ansible_collections.mlops.k8s.plugins.modules.info",
    "ansible_collections.mlops.k8s.plugins.modules.apply",
    "ansible_collections.kubernetes.core.plugins.module_utils.k8s.client",
]


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, name) rows of ``-X importtime`` output, in the order printed."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((int(self_us), int(cumulative), depth, name.strip()))
    return rows


def children(rows: list[tuple[int, int, int, str]], name: str) -> list[tuple[str, int]]:
    """Direct children of ``name`` (printed before it, one level deeper) with their cumulative us, heaviest first."""
    index = max(i for i, row in enumerate(rows) if row[3] == name)
    depth = rows[index][2]
    found = []
    for row in reversed(rows[:index]):
        if row[2] <= depth:
            break
        if row[2] == depth + 1:
            found.append((row[3], row[1]))
    return sorted(found, key=lambda item: -item[1])


def statement_us(rows: list[tuple[int, int, int, str]], startup: set[str]) -> int:
    """Cumulative us of the top-level imports that the interpreter's own start-up (``startup``) does not make."""
    return sum(row[1] for row in rows if row[2] == 0 and row[3] not in startup)


def measure(module: str, env: dict) -> list[tuple[int, int, int, str]] | None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + module if module else "pass"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        return None
    return parse_importtime(done.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--children", type=int, default=6, help="children shown per module")
    ap.add_argument("--module", action="append", help="module to import (repeatable; default: a fixed list)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        (Path(tmp) / "ansible_collections" / "mlops").mkdir(parents=True)
        (Path(tmp) / "ansible_collections" / "mlops" / "k8s").symlink_to(REPO)
        env = dict(os.environ, PYTHONPATH=tmp, PYTHONDONTWRITEBYTECODE="")
        print("## bench_imports.py: %s, %d repeat(s)\n" % (sys.version.split()[0], args.repeats))
        print("| import statement | ms (median [min-max]) | heaviest top-level import: its direct imports "
              "(ms, last run) |")
        print("|---|---|---|")
        startup = {row[3] for row in measure("", env) or []}
        for module in args.module or MODULES:
            runs = [measure(module, env) for _ in range(args.repeats)]
            if any(run is None for run in runs):
                print("| `%s` | not importable | |" % module)
                continue
            totals = [statement_us(run, startup) / 1000 for run in runs]
            top_level = [row[3] for row in runs[-1] if row[2] == 0 and row[3] not in startup]
            heaviest = max(top_level, key=lambda name: max(r[1] for r in runs[-1] if r[3] == name))
            top = ", ".join("%s %.0f" % (name, us / 1000) for name, us in children(runs[-1], heaviest)[:args.children])
            top = "%s: %s" % (heaviest, top) if top else heaviest
            print("| `%s` | %.0f [%.0f-%.0f] | %s |" % (module, statistics.median(totals), min(totals), max(totals),
                                                      top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
