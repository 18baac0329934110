"""Throughput of the sandbox API server: GET, LIST and server-side apply with N client threads.

Usage: .venv/bin/python benchmarks/bench_apiserver.py [--threads 1,4,16] [--requests 2000]
Starts a fresh sandbox in a temporary directory, runs a bounded number of requests on loopback, prints a table
and stops the sandbox.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sandbox import cli

NS = "bench"


class Client:
    def __init__(self, info: dict):
        u = urlsplit(info["server"])
        self.conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=60,
                                                context=ssl.create_default_context(cafile=info["ca_file"]))
        self.auth = {"Authorization": f"Bearer {info['token']}"}

    def do(self, method: str, path: str, body: dict | None = None, ctype: str = "application/json") -> int:
        headers = dict(self.auth, **({"Content-Type": ctype} if body is not None else {}))
        self.conn.request(method, path, json.dumps(body).encode() if body is not None else None, headers)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status


def run(info: dict, threads: int, total: int, make_request) -> dict:
    per_thread = max(1, total // threads)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures = [0] * threads
    barrier = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        c = Client(info)
        barrier.wait()
        for n in range(per_thread):
            t0 = time.perf_counter()
            status = make_request(c, i, n)
            latencies[i].append(time.perf_counter() - t0)
            failures[i] += status >= 400

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - start
    flat = sorted(x for lat in latencies for x in lat)
    return {"requests": len(flat), "seconds": elapsed, "rps": len(flat) / elapsed,
            "p50_ms": statistics.median(flat) * 1000, "p99_ms": flat[int(len(flat) * 0.99) - 1] * 1000,
            "errors": sum(failures)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,4,16")
    ap.add_argument("--requests", type=int, default=2000, help="requests per scenario and thread count")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        info = cli.start(d, snapshot=False)
        try:
            setup = Client(info)
            setup.do("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
            for i in range(50):
                setup.do("POST", f"/api/v1/namespaces/{NS}/configmaps",
                         {"metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}}, "data": {"i": str(i)}})

            def get(c, i, n):
                return c.do("GET", f"/api/v1/namespaces/{NS}/configmaps/cm-{n % 50}")

            def list_(c, i, n):
                return c.do("GET", f"/api/v1/namespaces/{NS}/configmaps?labelSelector=bench%3Dyes")

            def ssa(c, i, n):
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"ssa-{i}-{n % 20}"},
                        "data": {"n": str(n), "thread": str(i)}}
                return c.do("PATCH", f"/api/v1/namespaces/{NS}/configmaps/ssa-{i}-{n % 20}?fieldManager=bench"
                                     f"&force=true", body, "application/apply-patch+yaml")

            rows = []
            for name, fn, share in (("GET configmap", get, 1), ("LIST 50 configmaps", list_, 4),
                                    ("server-side apply", ssa, 2)):
                for threads in (int(t) for t in args.threads.split(",")):
                    r = run(info, threads, max(threads, args.requests // share), fn)
                    rows.append((name, threads, r))
        finally:
            cli.stop(d)
    print(f"{'scenario':<22}{'threads':>8}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, threads, r in rows:
        print(f"{name:<22}{threads:>8}{r['requests']:>10}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
              f"{r['errors']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
