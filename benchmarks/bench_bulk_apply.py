"""Bulk apply: N mixed objects in one ``mlops.k8s.apply`` task against ``kubectl apply --server-side -f``.

For each size (``--sizes``, default 1,10,100,200,1000; 200 is the goal's size in issue #16) a directory of
manifests is written: a namespace, a CRD and objects of it, then ConfigMaps, Secrets, Services and Deployments in
turn up to N objects (N counts every object, the namespace and the CRD included, from 10 up; size 1 is one
ConfigMap in ``default``). Each side gets its own namespace and the CRD its own group, on one fresh sandbox.
kubectl cannot map a custom object whose CRD comes in the same call, so its side is what a user runs: the namespace
and CRD first, ``kubectl wait`` for Established, then the whole directory (all three timed). Measured per side and
size: the first apply (creates), an unchanged re-apply, and the writes (POST/PUT/PATCH/DELETE not in dry-run) and
reads of the re-apply in the sandbox audit log (also written as JSON, ``--json``, for ``plot.py``).
mlops.k8s runs as one task of a real ``ansible-playbook`` (its wall time includes
ansible's start-up, as a user sees it); kubectl is the binary on PATH. Nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def crd(group: str) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets." + group},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def objects(n: int, namespace: str, group: str) -> list[dict]:
    """N manifests: namespace and CRD first, then about a tenth custom objects, the rest four kinds in turn."""
    if n == 1:
        return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": namespace, "namespace": "default"},
                 "data": {"i": "0"}}]
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, crd(group)]
    widgets = max(1, n // 10)
    for i in range(widgets):
        out.append({"apiVersion": group + "/v1", "kind": "Widget",
                    "metadata": {"name": "w%d" % i, "namespace": namespace}, "spec": {"size": i}})
    i = 0
    while len(out) < n:
        meta = {"name": "o%d" % i, "namespace": namespace, "labels": {"app": "o%d" % i}}
        kind = i % 4
        if kind == 0:
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"i": str(i)}})
        elif kind == 1:
            out.append({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"i": str(i)}})
        elif kind == 2:
            out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                        "spec": {"selector": {"app": "o%d" % i}, "ports": [{"port": 80}]}})
        else:
            out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
                "replicas": 1, "selector": {"matchLabels": {"app": "o%d" % i}},
                "template": {"metadata": {"labels": {"app": "o%d" % i}},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
        i += 1
    return out[:n]


def write_dir(path: Path, manifests: list[dict]) -> Path:
    path.mkdir(parents=True)
    for i, obj in enumerate(manifests):
        (path / ("%05d.json" % i)).write_text(json.dumps(obj))
    return path


def count(entries: list[dict], user: str) -> dict:
    mine = [e for e in entries if e.get("user") == user and not e.get("dry_run")]
    return {"writes": sum(e.get("method") in WRITES for e in mine),
            "reads": sum(e.get("method") == "GET" for e in mine)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="1,10,100,200,1000")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "bulk_apply.json"),
                    help="write the measurements there too (default benchmarks/results/bulk_apply.json; '' : not)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    from sandbox import cli
    from sandbox.pytest_plugin import SandboxHandle

    workdir = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    rows = []
    try:
        handle = SandboxHandle(cli.start(str(workdir / "sandbox"), snapshot=False))
        root = workdir / "collections"
        (root / "ansible_collections" / "mlops").mkdir(parents=True)
        (root / "ansible_collections" / "mlops" / "k8s").symlink_to(REPO, target_is_directory=True)
        env = dict(os.environ)
        env.update(handle.env)
        env.update(ANSIBLE_COLLECTIONS_PATH=str(root), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   K8S_AUTH_KUBECONFIG=str(handle.kubeconfig), KUBECONFIG=str(handle.kubeconfig),
                   MLOPS_K8S_CACHE_DIR=str(workdir / "cache"), KUBECACHEDIR=str(workdir / "kubectl-cache"),
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        user = "sandbox-admin"
        for n in sizes:
            for side in ("mlops.k8s", "kubectl"):
                tag = "%s-%d" % ("m" if side == "mlops.k8s" else "k", n)
                manifests = objects(n, "bulk-" + tag, tag + ".bench.example")
                src = write_dir(workdir / tag, manifests)
                if side == "mlops.k8s":
                    play = workdir / (tag + ".yml")
                    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
                        {"mlops.k8s.apply": {"src": str(src)}}]}]))
                    cmds = [[str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                             str(play)]]
                else:  # kubectl cannot map a custom object whose CRD is in the same call: CRDs first, as users do
                    cmds = [["kubectl", "apply", "--server-side", "-f", str(src)]]
                    first = [m for m in manifests if m["kind"] in ("Namespace", "CustomResourceDefinition")]
                    if any(m["kind"] == "CustomResourceDefinition" for m in first):
                        crd_name = next(m for m in first if m["kind"] == "CustomResourceDefinition")["metadata"]["name"]
                        first_dir = write_dir(workdir / (tag + "-first"), first)
                        cmds[:0] = [["kubectl", "apply", "--server-side", "-f", str(first_dir)],
                                    ["kubectl", "wait", "--for", "condition=Established", "--timeout", "60s",
                                     "customresourcedefinition/" + crd_name]]
                times, counts = [], None
                for _ in ("create", "re-apply"):
                    mark = handle.audit_mark()
                    t0 = time.perf_counter()
                    for cmd in cmds:
                        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
                        if proc.returncode != 0:
                            print("%s %d failed: %s" % (side, n, (proc.stdout + proc.stderr)[-800:]), file=sys.stderr)
                            break
                    times.append(time.perf_counter() - t0 if proc.returncode == 0 else float("nan"))
                    counts = count(handle.audit(mark), user)
                rows.append((n, side, times[0], times[1], counts["writes"], counts["reads"]))
                print("  %s n=%d: %.2fs, re-apply %.2fs" % (side, n, times[0], times[1]), file=sys.stderr)
    finally:
        cli.stop(str(workdir / "sandbox"))
        shutil.rmtree(workdir, ignore_errors=True)

    print("## bench_bulk_apply.py: %s, %d cores, load average %.2f" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count() or 0, os.getloadavg()[0]))
    print()
    print("| objects | client | apply s | unchanged re-apply s | re-apply writes | re-apply GETs |")
    print("|---|---|---|---|---|---|")
    for n, side, first, again, writes, reads in rows:
        print("| %d | %s | %.2f | %.2f | %d | %d |" % (n, side, first, again, writes, reads))
    print()
    by = {(n, side): first for n, side, first, *_ in rows}
    for n in sizes:
        print("- %d objects: mlops.k8s / kubectl = %.2f" % (n, by[(n, "mlops.k8s")] / by[(n, "kubectl")]))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": os.cpu_count() or 0,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "rows": [{"n": n, "side": side, "apply": round(first, 3), "reapply": round(again, 3), "writes": writes,
                      "reads": reads} for n, side, first, again, writes, reads in rows]}, indent=1) + "\n")
        print("- results: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
