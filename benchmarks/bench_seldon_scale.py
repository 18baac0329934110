"""N SeldonDeployments in one play, each waited Available: mlops.k8s against kubernetes.core.

For each size N (``--sizes``, default 1,10,100) and side, N SeldonDeployments in a namespace of their own:

* mlops.k8s: one ``mlops.k8s.apply`` task with ``wait: true`` (a SeldonDeployment is ready when its
  ``status.state`` is Available for its generation); the waits of one kind and namespace share one list and one
  watch (``waiter.wait_for_all``).
* kubernetes.core: one ``kubernetes.core.k8s`` task with the N documents in ``definition`` (its own ``wait`` only
  knows ``status.conditions``, and the Seldon operator writes none, so it cannot wait for ``state``), then the usual
  poll: one ``kubernetes.core.k8s_info`` listing them by label with ``until`` all N are Available,
  ``retries``/``delay`` (``--delay``, default 5 s). One list per attempt is the cheapest kubernetes.core form
  (a loop of one ``k8s_info`` per object would add a module run per object).

Each SeldonDeployment is one predictor with one custom-image node: ``bench/echo:0.1``, a directory loaded into
the sandbox whose class ``Echo`` returns its input, run by the sandbox's Seldon runner as a real
``seldon-core-microservice`` process (no model download: the cheapest real model server the sandbox has). The
sandbox Seldon operator keeps upstream's readiness probe delays (real time), so the floor of a wait is about
20 s whatever the client.

Setup (untimed): one fresh sandbox with enough simulated nodes for the largest size (``--nodes``; by default one per
14 SeldonDeployments: upstream's executor container requests 500m CPU and a sandbox node has 8, so a cluster needs
that many nodes too, else the scheduler leaves the pods Pending with "Insufficient cpu"), then
``playbooks/install_platform.yml`` with Seldon Core only. Between runs the namespace of the previous run is deleted
and its model servers stopped. Measured per size and side: the ansible-playbook wall time; from the sandbox audit
log the writes, object reads, watches, discovery requests and SeldonDeployment lists (one per poll on the
kubernetes.core side); the model server processes and their memory once all are Available: resident (RSS, which
counts the pages forked workers share once per process) and proportional (PSS, each shared page divided among the
processes that map it: what the servers take of the machine). A size whose model servers would need more than
``--max-memory`` (0.6) of the available memory, estimated from the proportional memory per SeldonDeployment at the
previous sizes, is not run, and the output says so. The sides alternate which goes first per size. Results also go
to ``benchmarks/results/seldon_scale.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

SIDES = ("mlops.k8s", "kubernetes.core")
PER_NODE = 14  # model pods a sandbox node fits: 8 CPUs, 500m requested by each pod's executor, room for the operator
IMAGE = "bench/echo:0.1"
ECHO = '''class Echo:
    """Returns its input (the cheapest model server: nothing to load)."""

    def predict(self, X, features_names=None):
        return X
'''


def sdep(name: str, namespace: str, label: str) -> dict:
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"bench": label}},
            "spec": {"predictors": [{
                "name": "default", "replicas": 1,
                "componentSpecs": [{"spec": {"containers": [{"name": "echo", "image": IMAGE}]}}],
                "graph": {"name": "echo", "type": "MODEL"}}]}}


def plays(side: str, n: int, namespace: str, label: str, delay: int, timeout: int) -> list[dict]:
    docs = [sdep("echo-%d" % i, namespace, label) for i in range(n)]
    if side == "mlops.k8s":
        tasks = [{"name": "apply and wait", "mlops.k8s.apply": {
            "definition": docs, "wait": True, "wait_timeout": timeout}}]
    else:
        tasks = [
            {"name": "apply", "kubernetes.core.k8s": {"state": "present", "definition": docs}},
            {"name": "wait", "kubernetes.core.k8s_info": {
                "api_version": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "namespace": namespace,
                "label_selectors": ["bench=" + label]},
             "register": "sdeps", "delay": delay, "retries": max(1, timeout // delay),
             "until": "sdeps.resources | selectattr('status.state', 'defined') "
                      "| selectattr('status.state', 'equalto', 'Available') | list | length == %d" % n},
        ]
    return [{"name": "%d SeldonDeployments, %s" % (n, side), "hosts": "localhost", "gather_facts": False,
             "tasks": tasks}]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--delay", type=int, default=5, help="kubernetes.core until delay in seconds (default 5)")
    ap.add_argument("--timeout", type=int, default=1500, help="wait timeout per run in seconds (default 1500)")
    ap.add_argument("--max-memory", type=float, default=0.6,
                    help="skip a size whose model servers would need more than this fraction of the available "
                         "memory, estimated from their proportional memory at the previous sizes (default 0.6)")
    ap.add_argument("--nodes", type=int, default=None,
                    help="simulated nodes (default: one per %d SeldonDeployments of the largest size)" % PER_NODE)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    nodes = args.nodes or max(1, math.ceil(max(sizes) / PER_NODE))
    info = benchlib.machine()
    started = time.perf_counter()
    rows, skipped = [], []
    with benchlib.Bench("bench-seldon-scale-", nodes=nodes) as bench:
        # a custom image is a directory <sandbox>/images/<name>/<tag>/ (sandbox/servers/README.md)
        image = bench.sandbox_dir / "images" / "echo" / "0.1"
        (image / ".s2i").mkdir(parents=True)
        (image / "Echo.py").write_text(ECHO)
        (image / ".s2i" / "environment").write_text("MODEL_NAME=Echo\nSERVICE_TYPE=MODEL\n")
        bench.playbook(benchlib.REPO / "playbooks" / "install_platform.yml", {"platform_components": ["seldon_core"]},
                       title="setup: install_platform.yml (seldon_core)")
        per_sdep_mb = None  # proportional memory (PSS) of one SeldonDeployment's model servers, measured
        for k, n in enumerate(sizes):
            available = benchlib.mem_available_mb()
            if per_sdep_mb and per_sdep_mb * n > args.max_memory * available:
                why = ("%d model servers would need about %.0f MB (%.0f MB of proportional memory each, measured "
                       "at the previous sizes), more than %.0f%% of the %.0f MB available" % (
                           n, per_sdep_mb * n, per_sdep_mb, 100 * args.max_memory, available))
                print("n=%d not run: %s" % (n, why), file=sys.stderr)
                skipped += [{"side": side, "n": n, "why": why} for side in SIDES]
                continue
            for side in (SIDES if k % 2 == 0 else SIDES[::-1]):
                tag = "%s-%d" % ("m" if side == "mlops.k8s" else "c", n)
                namespace = "scale-" + tag
                bench.playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
                    {"mlops.k8s.namespace": {"name": namespace}}]}], title="setup namespace %s" % namespace)
                load_before = benchlib.os.getloadavg()[0]
                try:
                    res = bench.playbook(plays(side, n, namespace, tag, args.delay, args.timeout),
                                         timeout=args.timeout + 300, title="%s n=%d" % (side, n))
                except Exception as exc:  # noqa: BLE001 - report and go on with the next size
                    print("%s n=%d failed: %s" % (side, n, str(exc)[-1500:]), file=sys.stderr)
                    skipped.append({"side": side, "n": n, "why": str(exc).splitlines()[0]})
                    res = None
                if res is not None:
                    req = res["requests"]
                    sdep_lists = sum(1 for e in res["entries"] if e.get("user") == benchlib.ADMIN_USER
                                     and e.get("verb") == "list" and "seldondeployments" in (e.get("path") or ""))
                    rows.append({"n": n, "side": side, "wall": round(res["wall"], 2),
                                 "writes": req["writes"], "reads": req["reads"], "sdep_lists": sdep_lists,
                                 "watches": req["watches"], "watch_paths": sorted(set(req["watch_paths"])),
                                 "discovery": req["discovery"], "load_before": round(load_before, 2)})
                    procs, rss, pss = benchlib.descendants_memory_mb("seldon-core-microservice")
                    rows[-1].update(server_processes=procs, server_rss_mb=round(rss), server_pss_mb=round(pss))
                    per_sdep_mb = max(per_sdep_mb or 0, pss / n)
                bench.playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
                    {"mlops.k8s.namespace": {"name": namespace, "state": "absent", "wait": True,
                                             "wait_timeout": 600}}]}], title="cleanup %s" % namespace)
    benchlib.print_header("bench_seldon_scale.py", info, started, ". Model server per SeldonDeployment: %s (custom "
                          "class Echo, seldon-core-microservice); %d simulated nodes." % (IMAGE, nodes))
    print(benchlib.table(
        ["SeldonDeployments", "client", "ansible-playbook wall s (apply + wait)", "writes", "object reads",
         "of which SeldonDeployment lists", "watches", "discovery", "model server processes (RSS / PSS MB)",
         "load before"],
        [[r["n"], r["side"], "%.2f" % r["wall"], r["writes"], r["reads"],
          r["sdep_lists"], r["watches"], r["discovery"],
          "%s (%s / %s)" % (r.get("server_processes", "-"), r.get("server_rss_mb", "-"),
                             r.get("server_pss_mb", "-")), r["load_before"]]
         for r in rows]))
    print()
    by = {(r["n"], r["side"]): r for r in rows}
    for n in sizes:
        a, b = by.get((n, "mlops.k8s")), by.get((n, "kubernetes.core"))
        if a and b:
            print("- %d SeldonDeployments: mlops.k8s / kubernetes.core wall = %.2f; mlops.k8s watches: %s" % (
                n, a["wall"] / b["wall"], ", ".join(a["watch_paths"]) or "none"))
    for s in skipped:
        print("- not measured: %s n=%d: %s" % (s["side"], s["n"], s["why"]))
    path = benchlib.write_json("seldon_scale.json", {"date": benchlib.utc_now(), "machine": info, "rows": rows,
                                                      "skipped": skipped, "delay": args.delay, "nodes": nodes,
                                                      "model_server": IMAGE + " (Echo, seldon-core-microservice)"})
    print("- results: %s" % path.relative_to(benchlib.REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
