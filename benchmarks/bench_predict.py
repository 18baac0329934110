"""The latency distribution of a batch of predictions against a model served on the sandbox.

Setup (untimed): a fresh sandbox, ``playbooks/install_platform.yml`` (Seldon Core and Ambassador), the iris model of
``examples/iris/train.py`` uploaded and deployed with the ``mlops.k8s.model_deployment`` role (SKLEARN_SERVER, the
Seldon protocol, one replica; the sandbox runs it as a real ``seldon-core-microservice`` process), reached through
the sandbox's Ambassador-like gateway.

Measured:

1. one ``mlops.k8s.model_predict`` task with ``count`` (``--count``, default 1000) and ``concurrency``
   (``--concurrency``, default 10), three iris rows per request: the latency percentiles, requests per second and
   errors it returns (the module returns percentiles, not each request's latency);
2. for the distribution, the same batch again from this process with the module's own batch code
   (``plugins/module_utils/predict_batch.run``, the same count, concurrency and body, a urllib3 pool on the
   gateway): each request's latency, its percentiles and a histogram (``plot.py``).

Results also go to ``benchmarks/results/predict.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

NAMESPACE, NAME = "bench-predict", "iris"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]
NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def main() -> int:  # noqa: PLR0915 - one step after another
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=10)
    args = ap.parse_args()
    info = benchlib.machine()
    with benchlib.Bench("bench-predict-") as bench:
        model = bench.workdir / "iris-v1"
        subprocess.run([sys.executable, str(benchlib.REPO / "examples" / "iris" / "train.py"), str(model)],
                       check=True, capture_output=True, timeout=300)
        bench.playbook(benchlib.REPO / "playbooks" / "install_platform.yml",
                       {"platform_components": ["ambassador", "seldon_core"]}, title="setup: install_platform.yml")
        gateway = bench.env["AMBASSADOR_URL"]
        kube = {"kubeconfig": str(bench.handle.kubeconfig)}
        bench.playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "namespace", "mlops.k8s.namespace": dict(kube, name=NAMESPACE)},
            {"name": "storage secret", "mlops.k8s.storage_secret": dict(
                kube, name="s3", namespace=NAMESPACE, endpoint_url=bench.env["AWS_ENDPOINT_URL"])},
            {"name": "deploy", "ansible.builtin.include_role": {"name": "mlops.k8s.model_deployment"}, "vars": {
                "model_deployment_name": NAME, "model_deployment_namespace": NAMESPACE,
                "model_deployment_model_dir": str(model), "model_deployment_s3_bucket": "models",
                "model_deployment_s3_create_bucket": True, "model_deployment_storage_secret": "s3",
                "model_deployment_s3_endpoint_url": bench.env["AWS_ENDPOINT_URL"],
                "model_deployment_gateway_url": gateway, "model_deployment_wait_timeout": 600}},
        ]}], title="setup: deploy the iris model")
        out = bench.workdir / "batch.json"
        res = bench.playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "batch", "mlops.k8s.model_predict": {
                "url": gateway, "name": NAME, "namespace": NAMESPACE, "data": ROWS, "names": NAMES,
                "count": args.count, "concurrency": args.concurrency, "expected": {"shape": [3, 3]}},
             "register": "batch"},
            {"name": "save", "ansible.builtin.copy": {"content": "{{ batch | to_json }}", "dest": str(out),
                                                      "mode": "0644"}},
        ]}], title="model_predict count=%d concurrency=%d" % (args.count, args.concurrency))
        task = json.loads(out.read_text())
        task_wall = res["wall"]

        # the same batch from this process, for each request's latency: the module's own batch code
        sys.path.insert(0, str(bench.workdir / "collections"))
        import urllib3
        from ansible_collections.mlops.k8s.plugins.module_utils import predict_batch

        url = "%s/seldon/%s/%s/api/v1.0/predictions" % (gateway.rstrip("/"), NAMESPACE, NAME)
        pool = urllib3.PoolManager(maxsize=args.concurrency, retries=False)
        body = json.dumps({"data": {"names": NAMES, "ndarray": ROWS}}).encode()

        def send(data: bytes):
            r = pool.request("POST", url, body=data, headers={"Content-Type": "application/json"}, timeout=30.0)
            return r.status, r.data

        send(body)  # warm-up, as the module's warm-up request
        records, elapsed, first_error = predict_batch.run(send, body, args.count, args.concurrency)
        summary = predict_batch.summarize(records, elapsed=elapsed)
    latencies = [r["ms"] for r in records]
    print("## bench_predict.py: %s" % benchlib.utc_now())
    print()
    print("Machine: %d cores, Python %s, ansible-core %s; load average at start %s, at end %s. Model: iris "
          "(examples/iris/train.py), SKLEARN_SERVER (seldon-core-microservice), one replica, through the gateway; "
          "%d requests, %d at a time, 3 rows each." % (
              info["cores"], info["python"], info.get("ansible-core"), info["load_average"][0],
              round(benchlib.os.getloadavg()[0], 2), args.count, args.concurrency))
    print()
    keys = ["min", "p50", "p95", "p99", "max", "mean"]
    lat_task, lat_raw = task.get("latency_ms") or {}, summary["latency_ms"]
    print(benchlib.table(
        ["batch", "requests", "failed", "seconds", "requests/s"] + ["%s ms" % k for k in keys],
        [["mlops.k8s.model_predict task", task.get("count"), task.get("failed"), task.get("elapsed"),
          task.get("requests_per_second")] + [lat_task.get(k, "-") for k in keys],
         ["predict_batch.run in this process", summary["count"], summary["failed"], summary.get("elapsed"),
          summary.get("requests_per_second")] + [lat_raw.get(k, "-") for k in keys]]))
    print()
    print("- the model_predict task's ansible-playbook wall time: %.2f s" % task_wall)
    if first_error:
        print("- first error of the in-process batch: %s" % first_error)
    path = benchlib.write_json("predict.json", {
        "date": benchlib.utc_now(), "machine": info, "count": args.count, "concurrency": args.concurrency,
        "task": {k: task.get(k) for k in ("count", "failed", "elapsed", "requests_per_second", "latency_ms",
                                          "errors_by_status")},
        "task_wall": round(task_wall, 3), "batch": {k: summary.get(k) for k in (
            "count", "failed", "elapsed", "requests_per_second", "latency_ms", "errors_by_status")},
        "latencies_ms": [round(x, 3) for x in latencies]})
    print("- results: %s" % path.relative_to(benchlib.REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
