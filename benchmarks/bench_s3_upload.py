"""Benchmark: artifact upload with mlops.k8s's S3 module_utils against a plain boto3 loop.

Starts a moto S3 server (moto.server.ThreadedMotoServer) on 127.0.0.1 on a free port, makes a data
set in a temporary directory (a few large files and many small ones), and uploads it

  (a) with a plain loop of boto3 ``upload_file`` calls (one file after the other; boto3 still
      splits each large file into parallel parts),
  (b) with ``upload_artifact`` from plugins/module_utils/s3.py at its default settings (parallel
      across files and parts, checksums stored as metadata), into a fresh bucket,
  (c) with ``upload_artifact`` again on the same data (everything is skipped: 0 bytes expected),

then prints a table. Both uploaders use a client from the same factory (``build_client``), so only
the upload strategy differs. By default the server runs in a child process so that it does not
share the client's interpreter lock; ``--in-process`` runs it in this process instead.

Usage:  .venv/bin/python benchmarks/bench_s3_upload.py [--size-mb 200] [--large 4] [--small-kb 100]
Not part of the test suite; finishes in well under two minutes at the default size on 2 cores.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024


def _import_s3_utils():
    """Import the collection's module_utils: from an ansible_collections tree, else via a temp symlink."""
    try:
        from ansible_collections.mlops.k8s.plugins.module_utils import s3
    except ImportError:
        base = tempfile.mkdtemp(prefix="bench-collections-")
        atexit.register(shutil.rmtree, base, True)
        os.makedirs(os.path.join(base, "ansible_collections", "mlops"))
        os.symlink(REPO, os.path.join(base, "ansible_collections", "mlops", "k8s"))
        sys.path.insert(0, base)
        from ansible_collections.mlops.k8s.plugins.module_utils import s3
    return s3


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quiet():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request


def _serve(port, ready, stop):
    from moto.server import ThreadedMotoServer

    _quiet()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    ready.set()
    stop.wait()
    server.stop()


class MotoServer:
    """ThreadedMotoServer on 127.0.0.1:<free port>, in a child process unless ``in_process``."""

    def __init__(self, in_process=False):
        self.port = _free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.in_process = in_process

    def __enter__(self):
        if self.in_process:
            from moto.server import ThreadedMotoServer

            _quiet()
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self.server.start()
        else:
            ctx = multiprocessing.get_context("spawn")
            self.ready, self.stop = ctx.Event(), ctx.Event()
            self.proc = ctx.Process(target=_serve, args=(self.port, self.ready, self.stop), daemon=True)
            self.proc.start()
            if not self.ready.wait(60):
                raise RuntimeError("moto server did not start")
        return self

    def cpu_seconds(self):
        """CPU time the server process has used so far (None when it runs in this process)."""
        if self.in_process:
            return None
        with open("/proc/%d/stat" % self.proc.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc):
        if self.in_process:
            self.server.stop()
        else:
            self.stop.set()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.terminate()


def _delta(after, before):
    return None if after is None else after - before


def make_dataset(root, size_mb, large, small_kb, seed=42):
    """``large`` files holding 3/4 of ``size_mb``, the rest as ``small_kb`` files in nested directories."""
    import random

    rng = random.Random(seed)
    total = size_mb * MIB
    large_total = total * 3 // 4 if large else 0
    block = rng.randbytes(MIB)
    for i in range(large):
        size = large_total // large
        with open(os.path.join(root, "weights-%d.bin" % i), "wb") as handle:
            written = 0
            while written < size:
                chunk = min(MIB, size - written)
                handle.write(block[:chunk] if written else rng.randbytes(chunk))  # distinct content per file
                written += chunk
    small_size = small_kb * 1024
    count = max(0, (total - large_total) // small_size)
    for i in range(count):
        sub = os.path.join(root, "shard-%02d" % (i % 16))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "part-%05d.npy" % i), "wb") as handle:
            handle.write(rng.randbytes(small_size))
    files = [os.path.join(d, f) for d, _dirs, names in os.walk(root) for f in names]
    return files, sum(os.path.getsize(f) for f in files)


class SentCounter:
    """Bytes in request bodies of PutObject/UploadPart calls made through one client (thread-safe)."""

    def __init__(self, client):
        self.lock = threading.Lock()
        self.bytes = 0
        self.requests = 0
        for op in ("PutObject", "UploadPart"):
            client.meta.events.register("before-call.s3.%s" % op, self._count)

    def _count(self, params, **_kwargs):
        body = params.get("body")
        size = len(body) if hasattr(body, "__len__") else 0
        with self.lock:
            self.bytes += size
            self.requests += 1

    def take(self):
        with self.lock:
            values = (self.bytes, self.requests)
            self.bytes = self.requests = 0
        return values


def run_plain(s3, server, params, files, data):
    """(a): one ``upload_file`` call per file, one after the other."""
    plain = s3.build_client(params)
    plain.create_bucket(Bucket="plain")
    counter = SentCounter(plain)
    cpu0, own0 = server.cpu_seconds(), time.process_time()
    t0 = time.perf_counter()
    for path in files:
        plain.upload_file(path, "plain", "model/" + os.path.relpath(path, data).replace(os.sep, "/"))
    elapsed = time.perf_counter() - t0
    cpu = (time.process_time() - own0, _delta(server.cpu_seconds(), cpu0))
    return ("(a) plain boto3 upload_file loop", elapsed, *counter.take(), *cpu)


def run_ours(s3, server, params, data, concurrency):
    """(b) and (c): ``upload_artifact`` twice on one shared client."""
    options = s3.UploadOptions(concurrency=concurrency or s3.DEFAULT_CONCURRENCY)
    ours = s3.build_client(params, max_pool_connections=options.concurrency)
    counter = SentCounter(ours)
    rows = []
    for label in ("(b) mlops.k8s upload_artifact", "(c) mlops.k8s re-run (unchanged)"):
        cpu0, own0 = server.cpu_seconds(), time.process_time()
        t0 = time.perf_counter()
        result = s3.upload_artifact(ours, "ours", "model", data, options=options, create_bucket_if_missing=True)
        elapsed = time.perf_counter() - t0
        cpu = (time.process_time() - own0, _delta(server.cpu_seconds(), cpu0))
        sent, requests = counter.take()
        assert result["bytes_sent"] == sent, (result["bytes_sent"], sent)
        rows.append((label, elapsed, sent, requests, *cpu))
    assert rows[-1][2] == 0, "the re-run sent bytes"
    return rows, s3.list_objects(ours, "ours", "model")


def print_table(rows, total):
    plain_seconds = rows[0][1]
    header = ("run", "seconds", "MB/s", "bytes sent", "PUT+part", "client CPU", "server CPU", "ours/plain")
    print("%-34s %8s %8s %11s %9s %11s %11s %11s" % header)
    print("-" * 110)
    for label, seconds, sent, requests, client_cpu, server_seconds in rows:
        server_cpu = "-" if server_seconds is None else "%.2f s" % server_seconds
        ratio = "-" if label.startswith("(a)") else "%.2f" % (seconds / plain_seconds)
        print(
            "%-34s %8.2f %8.1f %11d %9d %9.2f s %11s %11s"
            % (label, seconds, total / MIB / seconds, sent, requests, client_cpu, server_cpu, ratio)
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="total data set size (default 200)")
    parser.add_argument("--large", type=int, default=4, help="number of large files (default 4)")
    parser.add_argument("--small-kb", type=int, default=100, help="size of each small file (default 100)")
    parser.add_argument("--in-process", action="store_true", help="run the moto server in this process")
    parser.add_argument("--concurrency", type=int, default=None, help="for (b)/(c); default: the module's default")
    args = parser.parse_args(argv)

    s3 = _import_s3_utils()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull
    )
    workdir = tempfile.mkdtemp(prefix="bench-s3-")
    started = time.monotonic()
    try:
        data = os.path.join(workdir, "model")
        os.makedirs(data)
        files, total = make_dataset(data, args.size_mb, args.large, args.small_kb)
        print(
            "data set: %d files, %.1f MB (%d large, %d x %d KB)"
            % (len(files), total / MIB, args.large, len(files) - args.large, args.small_kb)
        )
        with MotoServer(in_process=args.in_process) as server:
            print("moto server: %s (%s)" % (server.url, "in process" if args.in_process else "child process"))
            params = {"endpoint_url": server.url, "access_key": "bench", "secret_key": "bench", "region": "us-east-1"}
            rows = [run_plain(s3, server, params, files, data)]
            ours_rows, listing = run_ours(s3, server, params, data, args.concurrency)
            rows += ours_rows
            assert len(listing) == len(files) and sum(o["size"] for o in listing.values()) == total
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print_table(rows, total)
    print()
    print("MB/s: data set size / seconds (for the re-run: data verified per second). ours/plain: time ratio,")
    print("below 1 is faster. client/server CPU: CPU time of this process (all threads) and of the moto")
    print("server process during the run. Total %.0f s." % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
