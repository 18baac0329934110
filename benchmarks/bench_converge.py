"""The demo converge (platform, model namespace, storage secret, S3 upload, SeldonDeployment, wait until Available):
mlops.k8s against kubernetes.core, each on a fresh sandbox.

* mlops.k8s: ``benchmarks/converge_mlops_k8s.yml`` (``mlops.k8s.install_platform`` and the demo's
  ``model_namespace`` and ``model_deployment`` roles with the demo's variables; no smoke prediction).
* kubernetes.core: ``benchmarks/converge_kubernetes_core.yml``, the same objects: the platform manifests our roles
  render (``tasks_from: render``; rendered before the timed run, untimed, as files a kubernetes.core user keeps),
  applied with ``kubernetes.core.k8s`` (``apply: true``), CRDs waited Established by the module, Deployments and
  the SeldonDeployment waited with ``kubernetes.core.k8s_info`` and ``until``/``retries``/``delay`` (``--delay``,
  default 5 s); the upload with amazon.aws (``s3_bucket``, ``s3_object`` per file).

Per side: the first converge and an unchanged re-run, ``ansible-playbook`` wall time each, and the re-run's requests
from the sandbox audit log as the kubeconfig user: writes (not dry-run), object reads (GET/LIST), watches, discovery,
and reads per object (objects: the rendered platform documents plus namespace, Secret and SeldonDeployment). The S3
requests are not in the audit log (moto). The model is ``examples/iris/train.py``'s (SKLEARN_SERVER, downloaded from
the sandbox's S3 by the storage initializer). The slowest tasks of each run come from ansible.posix.profile_tasks.
Results also go to ``benchmarks/results/converge.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent
SIDES = ("mlops.k8s", "kubernetes.core")
PLAYBOOKS = {"mlops.k8s": HERE / "converge_mlops_k8s.yml", "kubernetes.core": HERE / "converge_kubernetes_core.yml"}
COMPONENTS = {"ambassador": "ambassador_render_dir", "argo_workflows": "argo_workflows_render_dir",
              "seldon_core": "seldon_core_render_dir"}


def render(bench: benchlib.Bench, out: Path) -> tuple[int, float]:
    """Render the three platform roles' manifests into out/<role>/: (number of documents, seconds)."""
    tasks = [{"name": "render " + role, "ansible.builtin.include_role": {"name": "mlops.k8s." + role,
                                                                          "tasks_from": "render"},
              "vars": {var: str(out / role)}} for role, var in COMPONENTS.items()]
    res = bench.playbook([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                         title="setup: render manifests")
    import yaml

    return sum(1 for f in out.rglob("*.yaml") for doc in yaml.safe_load_all(f.read_text()) if doc), res["wall"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--delay", type=int, default=5, help="kubernetes.core until delay in seconds (default 5)")
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--json", default="converge.json", help="results file name in benchmarks/results/ or a path")
    ap.add_argument("--slowest", type=int, default=6, help="list this many slowest tasks per run (default 6)")
    args = ap.parse_args()
    sides = [s for s in args.sides.split(",") if s]
    info = benchlib.machine()
    started = time.perf_counter()
    rows = []
    for side in sides:
        with benchlib.Bench("bench-converge-") as bench:
            model = bench.workdir / "iris-v1"
            subprocess.run([sys.executable, str(benchlib.REPO / "examples" / "iris" / "train.py"), str(model)],
                           check=True, capture_output=True, timeout=300)
            render_dir = bench.workdir / "rendered"
            documents, render_s = render(bench, render_dir)
            objects = documents + 3  # + namespace, Secret, SeldonDeployment
            extra = {"converge_model_dir": str(model), "converge_render_dir": str(render_dir),
                     "converge_delay": args.delay}
            load_before = benchlib.os.getloadavg()[0]
            first = bench.playbook(PLAYBOOKS[side], extra, title="%s converge" % side, profile=args.slowest)
            again = bench.playbook(PLAYBOOKS[side], extra, title="%s re-run" % side, profile=args.slowest)
            req = again["requests"]
            rows.append({"side": side, "first": round(first["wall"], 2), "rerun": round(again["wall"], 2),
                         "objects": objects, "first_writes": first["requests"]["writes"],
                         "writes": req["writes"], "reads": req["reads"], "watches": req["watches"],
                         "discovery": req["discovery"], "reads_per_object": round(req["reads"] / objects, 2),
                         "load_before": round(load_before, 2), "render": round(render_s, 2),
                         "tasks_first": first["tasks_ok"], "tasks_rerun": again["tasks_ok"],
                         "changed_rerun": again["changed"],
                         "slowest_first": first["slowest"], "slowest_rerun": again["slowest"],
                         "rerun_write_resources": req["write_resources"],
                         "rerun_read_resources": req["read_resources"]})
    benchlib.print_header("bench_converge.py", info, started, "; kubernetes.core until delay %ds." % args.delay)
    print(benchlib.table(
        ["client", "first converge s", "tasks", "writes", "re-run s", "tasks", "changed", "re-run writes",
         "re-run object reads", "objects", "re-run reads / object", "re-run watches", "re-run discovery",
         "load before"],
        [[r["side"], "%.2f" % r["first"], r["tasks_first"], r["first_writes"], "%.2f" % r["rerun"], r["tasks_rerun"],
          r["changed_rerun"], r["writes"], r["reads"], r["objects"], "%.2f" % r["reads_per_object"], r["watches"],
          r["discovery"], r["load_before"]] for r in rows]))
    print()
    print("tasks: ok in the PLAY RECAP (changed ones included, a loop counts once); changed: changed in the recap. "
          "The kubernetes.core side's manifests were rendered before its timed runs (untimed: %s); the mlops.k8s "
          "roles render theirs in every run." % ", ".join("%.1f s" % r["render"] for r in rows
                                                         if r["side"] == "kubernetes.core"))
    by = {r["side"]: r for r in rows}
    if len(by) == 2:
        a, b = by["mlops.k8s"], by["kubernetes.core"]
        print()
        print("- first converge: mlops.k8s / kubernetes.core = %.2f (goal: at most 0.5)" % (a["first"] / b["first"]))
        print("- re-run: mlops.k8s / kubernetes.core = %.2f" % (a["rerun"] / b["rerun"]))
        print("- mlops.k8s re-run: %d writes (goal 0), %.2f reads per object (goal at most 1)" % (
            a["writes"], a["reads_per_object"]))
    for r in rows:
        if r["rerun_write_resources"]:
            print("- %s re-run writes by resource: %s" % (r["side"], ", ".join(
                "%s %d" % kv for kv in sorted(r["rerun_write_resources"].items()))))
        print("- %s re-run reads by verb and resource: %s" % (r["side"], ", ".join(
            "%s %d" % kv for kv in sorted(r["rerun_read_resources"].items()))))
        for key, what in (("slowest_first", "first converge"), ("slowest_rerun", "re-run")):
            if r[key]:
                print("- %s, %s, slowest tasks: %s" % (r["side"], what, "; ".join(
                    "%s %.1fs" % (name, sec) for name, sec in r[key])))
    path = benchlib.write_json(args.json, {"date": benchlib.utc_now(), "machine": info, "rows": rows,
                                                  "delay": args.delay})
    print("- results: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
