"""Benchmark: mlops.k8s against kubernetes.core in real ansible-playbook runs on the sandbox.

It measures the two advantages the collection claims:

1. Client start-up and API discovery per task. A play of N read tasks (``--tasks``, default 20) cycling through
   a ConfigMap get (core ``v1``), a WorkflowTemplate get (``argoproj.io/v1alpha1``) and a SeldonDeployment
   list (``machinelearning.seldon.io/v1``), once with ``mlops.k8s.info`` and once with ``kubernetes.core.k8s_info``
   (same arguments); with ``--ops`` (default ``info,apply,wait``) the same is done for N re-applies of an
   unchanged ConfigMap (``mlops.k8s.apply`` / ``kubernetes.core.k8s`` server-side) and N waits for a condition
   already true (``mlops.k8s.wait`` / ``kubernetes.core.k8s_info`` with ``wait``), and the ratio of the per-task
   means is printed per operation and cache. Both clients keep discovery in a file across tasks:

   * mlops.k8s: ``$MLOPS_K8S_CACHE_DIR`` (else ``$XDG_CACHE_HOME/mlops.k8s/discovery``, see
     plugins/module_utils/client.py ``discovery_cache_file``);
   * kubernetes.core: ``$TMPDIR/k8srcp-<sha256>.json`` (its ``module_utils/client/discovery.py``).

   Every ansible-playbook run gets both variables pointing into a directory of its own, so a "cold" run starts
   without any cache file and the "warm" run right after it reuses what the cold run wrote. One untimed warm-up
   run per side comes first (disk caches, bytecode), then each repeat runs cold then warm per side, the order of
   the sides alternating between repeats. Per play: the ansible-playbook process's wall time, the play's
   duration and each task's duration (ansible.posix.json callback), and from the sandbox's audit log the
   requests the run made as the kubeconfig's user: discovery GETs (``/api``, ``/apis``, ``/api/<v>``,
   ``/apis/<group>``, ``/apis/<group>/<v>``, ``/openapi/...``), unauthenticated ``GET /version`` (server info,
   counted apart) and all others.

2. Waiting for a condition: watch against poll. A two-step Argo Workflow (``python:3.11`` steps running
   ``python -c`` that sleeps ``--step-seconds``, default 4; the sandbox runs them with the host's Python)
   submitted and waited for with ``mlops.k8s.argo_workflow`` (the wait watches the Workflow), against the usual
   kubernetes.core pattern:
   ``kubernetes.core.k8s`` creates it, then ``kubernetes.core.k8s_info`` with ``until: <phase is final>``,
   ``retries`` and ``delay: 5`` (``--delay``). Measured: from the start of the submitting task to the end of the
   task that saw the final phase (json callback timestamps), the workflow's own run time as the server recorded
   it (``status.finishedAt - metadata.creationTimestamp``, whole seconds), and the API requests of the run.

Setup (untimed): a fresh sandbox in a temporary directory, ``playbooks/install_platform.yml`` (Argo Workflows,
Seldon Core, Ambassador: CRDs and the controllers), then a namespace, a service account with the
``argo-workflow`` RBAC preset, a ConfigMap and a WorkflowTemplate. The collection is used from this checkout
through a temporary collections path (``ansible_collections/mlops/k8s -> repo``), as the integration tests do.

Usage:  .venv/bin/python benchmarks/bench_tasks.py [--tasks 20] [--repeats 3] [--quick] [--part all|reads|wait]
Prints a markdown table of the measurements (median [min-max] over the repeats) and the machine.
Not part of the test suite; ``--quick`` takes a few minutes on 2 cores, the default run longer.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAMESPACE = "bench-tasks"
SERVICE_ACCOUNT = "workflow"
ADMIN_USER = "sandbox-admin"  # the sandbox kubeconfig's user (docs/dev/contracts.md)
FINAL_PHASES = ("Succeeded", "Failed", "Error")
SIDES = ("mlops.k8s", "kubernetes.core")

# The read targets, cycled through by the N tasks: (api_version, kind, name or None for a list).
READ_TARGETS = (
    ("v1", "ConfigMap", "bench-config"),
    ("argoproj.io/v1alpha1", "WorkflowTemplate", "bench-template"),
    ("machinelearning.seldon.io/v1", "SeldonDeployment", None),
)



def workflow_spec(step_seconds: float = 0) -> dict:
    """Two sequential python:3.11 steps, each sleeping `step_seconds` then printing a line.

    No Argo {{...}} expressions: Ansible would template them (the playbooks are written as JSON, without the !unsafe
    tag).
    """
    code = "import time; time.sleep(%s); print('step %%s done')" % step_seconds
    return {
        "entrypoint": "main",
        "serviceAccountName": SERVICE_ACCOUNT,
        "templates": [
            {"name": "main", "steps": [[{"name": "one", "template": "step-one"}],
                                       [{"name": "two", "template": "step-two"}]]},
            *({"name": "step-%s" % n, "container": {"image": "python:3.11", "command": ["python", "-c", code % n]}}
              for n in ("one", "two")),
        ],
    }


# ----------------------------------------------------------------------------------------------- pure helpers
def is_discovery(path: str) -> bool:
    """A discovery request path: /api, /apis, /api/<v>, /apis/<group>, /apis/<group>/<v> or /openapi/..."""
    p = "/" + path.strip("/")
    if p in ("/api", "/apis", "/openapi") or p.startswith("/openapi/"):
        return True
    parts = p.strip("/").split("/")
    return (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) in (2, 3))


def count_requests(entries: list[dict], user: str = ADMIN_USER) -> dict:
    """Requests of one run from audit entries: by `user`, plus the unauthenticated GET /version (server info).

    The sandbox's own admin and health paths are left out; controllers and step pods act as other users.
    """
    counts = {"total": 0, "discovery": 0, "version": 0, "watch": 0, "other": 0}
    for e in entries:
        path = e.get("path") or ""
        if path.startswith("/sandbox/") or path.rstrip("/") in ("/healthz", "/readyz", "/livez"):
            continue
        if path.rstrip("/") == "/version":
            if e.get("user") in (None, user):
                counts["total"] += 1
                counts["version"] += 1
            continue
        if e.get("user") != user:
            continue
        counts["total"] += 1
        if e.get("method") == "GET" and is_discovery(path):
            counts["discovery"] += 1
        elif e.get("verb") == "watch":
            counts["watch"] += 1
        else:
            counts["other"] += 1
    return counts


def parse_time(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 UTC time as the json callback ('...Z') or Kubernetes writes it."""
    value = dt.datetime.fromisoformat(text.rstrip("Z"))
    return value.replace(tzinfo=dt.UTC).timestamp()


def task_timings(data: dict) -> list[tuple[str, float, float]]:
    """(task name, start, end) of every task of every play in ansible.posix.json callback output."""
    out = []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            info = task.get("task", {})
            duration = info.get("duration", {})
            if duration.get("start") and duration.get("end"):
                out.append((info.get("name", ""), parse_time(duration["start"]), parse_time(duration["end"])))
    return out


def play_seconds(data: dict) -> float:
    plays = [p["play"]["duration"] for p in data.get("plays", []) if p.get("play", {}).get("duration", {}).get("end")]
    return sum(parse_time(d["end"]) - parse_time(d["start"]) for d in plays)


def span(timings: list[tuple[str, float, float]], first: str, last: str) -> float:
    """From the start of task `first` to the end of task `last`."""
    starts = {name: start for name, start, _ in timings}
    ends = {name: end for name, _, end in timings}
    return ends[last] - starts[first]


def summary(values: list[float], digits: int = 2) -> str:
    """'median [min-max]' (just the value when there is one, or all are equal)."""
    if not values:
        return "n/a"
    fmt = "%%.%df" % digits
    med, lo, hi = statistics.median(values), min(values), max(values)
    if len(values) == 1 or lo == hi:
        return fmt % med
    return "%s [%s-%s]" % (fmt % med, fmt % lo, fmt % hi)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

# The per-task operations of part 1: `info` cycles through READ_TARGETS, `apply` re-applies the unchanged
# ConfigMap of the setup (server-side apply, one object), `wait` waits for a condition that is already true.
OPS = ("info", "apply", "wait")
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench-config", "namespace": NAMESPACE},
          "data": {"hello": "world"}}
WAIT_TARGET = {"api_version": "apps/v1", "kind": "Deployment", "name": "seldon-controller-manager",
               "namespace": "seldon-system"}  # installed by playbooks/install_platform.yml, Available


def op_tasks(side: str, op: str, n: int) -> list[dict]:
    """N tasks of one operation for `side`, the same request with both collections."""
    if op == "info":
        return read_tasks(side, n)
    if op == "apply":
        if side == "mlops.k8s":
            task = {"mlops.k8s.apply": {"definition": CONFIG}}
        else:
            task = {"kubernetes.core.k8s": {"state": "present", "definition": CONFIG,
                                            "server_side_apply": {"field_manager": "mlops.k8s"}}}
    elif op == "wait":
        condition = {"type": "Available", "status": "True"}
        if side == "mlops.k8s":
            task = {"mlops.k8s.wait": dict(WAIT_TARGET, condition=condition, timeout=60)}
        else:
            task = {"kubernetes.core.k8s_info": dict(WAIT_TARGET, wait=True, wait_condition=condition,
                                                     wait_timeout=60)}
    else:
        raise ValueError("unknown operation %r" % op)
    return [dict(task, name="%s %d" % (op, i)) for i in range(n)]


def read_tasks(side: str, n: int, namespace: str = NAMESPACE) -> list[dict]:
    """N read tasks for `side`, cycling through READ_TARGETS; the same arguments for both modules."""
    module = "mlops.k8s.info" if side == "mlops.k8s" else "kubernetes.core.k8s_info"
    tasks = []
    for i in range(n):
        api_version, kind, name = READ_TARGETS[i % len(READ_TARGETS)]
        args = {"api_version": api_version, "kind": kind, "namespace": namespace}
        if name:
            args["name"] = name
        tasks.append({"name": "read %d %s" % (i, kind), module: args})
    return tasks


def wait_tasks(side: str, name: str, delay: int, retries: int, namespace: str = NAMESPACE,
               step_seconds: float = 0) -> list[dict]:
    """Submit the workflow and wait for a final phase: one task (mlops.k8s) or create + poll (kubernetes.core)."""
    spec = workflow_spec(step_seconds)
    if side == "mlops.k8s":
        return [{"name": "submit", "mlops.k8s.argo_workflow": {
            "name": name, "namespace": namespace, "spec": spec, "wait": True, "wait_timeout": 600},
            "register": "wf"}]
    definition = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                  "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return [
        {"name": "submit", "kubernetes.core.k8s": {"state": "present", "definition": definition}},
        {"name": "poll", "kubernetes.core.k8s_info": {
            "api_version": "argoproj.io/v1alpha1", "kind": "Workflow", "name": name, "namespace": namespace},
         "register": "wf", "retries": retries, "delay": delay,
         "until": "wf.resources | length > 0 and (wf.resources[0].status.phase | default('')) in %s"
                  % list(FINAL_PHASES)},
    ]


# ------------------------------------------------------------------------------------------- running things
class Bench:
    def __init__(self, workdir: Path, sandbox, verbose: bool = False):
        self.workdir = workdir
        self.sandbox = sandbox
        self.verbose = verbose
        root = workdir / "collections"
        (root / "ansible_collections" / "mlops").mkdir(parents=True)
        (root / "ansible_collections" / "mlops" / "k8s").symlink_to(REPO, target_is_directory=True)
        self.env = dict(os.environ)
        self.env.update(sandbox.env)
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=str(root),
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_CALLBACK_RESULT_FORMAT="json",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            K8S_AUTH_KUBECONFIG=str(sandbox.kubeconfig),
        )
        self.playbook_bin = str(Path(sys.executable).parent / "ansible-playbook")
        self.count = 0
        # runs without a cache directory of their own (the setup) keep theirs here too, not in ~/.cache or /tmp
        self.env.update(self.cache_dirs("setup"))

    def cache_dirs(self, label: str) -> dict:
        """A directory of its own for both clients' discovery cache files (no file in it yet)."""
        base = self.workdir / "caches" / label
        (base / "mlops").mkdir(parents=True)
        (base / "tmp").mkdir()
        return {"MLOPS_K8S_CACHE_DIR": str(base / "mlops"), "TMPDIR": str(base / "tmp"), "XDG_CACHE_HOME": str(base)}

    def run(self, tasks_or_path, cache_env: dict | None = None, title: str = "bench") -> dict:
        """Run a playbook; returns wall seconds, the json callback data and this run's audit entries."""
        self.count += 1
        if isinstance(tasks_or_path, (str, Path)):
            path = Path(tasks_or_path)
        else:
            path = self.workdir / ("play-%03d.yml" % self.count)
            play = [{"name": title, "hosts": "localhost", "gather_facts": False, "tasks": tasks_or_path}]
            path.write_text(json.dumps(play, indent=1))  # JSON is YAML
        mark = self.sandbox.audit_mark()
        t0 = time.perf_counter()
        proc = subprocess.run([self.playbook_bin, "-i", "localhost,", "-c", "local", str(path)], capture_output=True,
                              text=True, env={**self.env, **(cache_env or {})}, cwd=REPO, timeout=1200, check=False)
        wall = time.perf_counter() - t0
        entries = self.sandbox.audit(mark)
        try:
            data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            data = {}
        if proc.returncode != 0:
            raise RuntimeError("%s failed (rc %d):\n%s\n%s" % (path, proc.returncode, proc.stdout[-6000:],
                                                                proc.stderr[-3000:]))
        if self.verbose:
            print("  %-40s %6.2fs  %d requests" % (title, wall, len(entries)), file=sys.stderr)
            seen = collections.Counter(e["path"] for e in entries if e.get("user") == ADMIN_USER
                                       and e.get("method") == "GET" and is_discovery(e.get("path") or ""))
            if seen:
                print("    discovery: %s" % ", ".join("%s x%d" % kv for kv in sorted(seen.items())), file=sys.stderr)
        return {"wall": wall, "data": data, "requests": count_requests(entries)}


def setup(bench: Bench) -> None:
    t0 = time.perf_counter()
    bench.run(REPO / "playbooks" / "install_platform.yml", title="install_platform")
    print("setup: install_platform.yml took %.1fs" % (time.perf_counter() - t0), file=sys.stderr)
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
                "metadata": {"name": "bench-template", "namespace": NAMESPACE}, "spec": workflow_spec()}
    bench.run([
        {"name": "namespace", "mlops.k8s.namespace": {"name": NAMESPACE}},
        {"name": "service account", "mlops.k8s.service_account": {
            "name": SERVICE_ACCOUNT, "namespace": NAMESPACE, "preset": "argo-workflow"}},
        {"name": "objects to read", "mlops.k8s.apply": {"definition": [CONFIG, template]}},
        {"name": "wait target", "mlops.k8s.wait": dict(WAIT_TARGET, condition={"type": "Available"}, timeout=300)},
    ], title="setup objects")


def bench_reads(bench: Bench, n: int, repeats: int, op: str = "info") -> tuple[list[dict], dict]:
    """Returns the result rows and, per side, a warm cache environment for later runs."""
    samples = {(side, temp): [] for side in SIDES for temp in ("cold", "warm")}
    warm_env = {}
    for side in SIDES:  # untimed warm-up: disk caches, bytecode; its own cache directory, then thrown away
        bench.run(op_tasks(side, op, n), bench.cache_dirs("warmup-%s-%s" % (op, side)), title="warm-up %s" % side)
    for r in range(repeats):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        for side in order:
            env = bench.cache_dirs("%s-%d-%s" % (op, r, side.replace(".", "-")))
            for temp in ("cold", "warm"):
                res = bench.run(op_tasks(side, op, n), env, title="%s %s %s #%d" % (op, side, temp, r + 1))
                if temp == "cold":
                    res["cache_files"] = sorted(
                        str(p.relative_to(bench.workdir)) for key in ("MLOPS_K8S_CACHE_DIR", "TMPDIR")
                        for p in Path(env[key]).glob("*.json"))
                samples[(side, temp)].append(res)
            warm_env[side] = env
    rows = []
    for (side, temp), runs in samples.items():
        timings = [task_timings(r["data"]) for r in runs]
        rows.append({
            "op": op, "side": side, "cache": temp,
            "wall": [r["wall"] for r in runs],
            "play": [play_seconds(r["data"]) for r in runs],
            "task_mean": [statistics.mean(e - s for _, s, e in t) for t in timings],
            "first_task": [t[0][2] - t[0][1] for t in timings],
            "discovery": [r["requests"]["discovery"] for r in runs],
            "version": [r["requests"]["version"] for r in runs],
            "other": [r["requests"]["other"] + r["requests"]["watch"] for r in runs],
            "cache_files": runs[0].get("cache_files"),
        })
    return rows, warm_env


def task_ratios(rows: list[dict]) -> list[tuple[str, str, float]]:
    """(operation, cache, median mlops.k8s per-task mean / median kubernetes.core per-task mean) per row pair."""
    by_key = {(r["op"], r["side"], r["cache"]): statistics.median(r["task_mean"]) for r in rows}
    return [(op, temp, by_key[(op, "mlops.k8s", temp)] / by_key[(op, "kubernetes.core", temp)])
            for op, side, temp in by_key if side == "mlops.k8s" and (op, "kubernetes.core", temp) in by_key]


def workflow_run_seconds(bench: Bench, name: str) -> float | None:
    code, _, body = bench.sandbox.request(
        "GET", "/apis/argoproj.io/v1alpha1/namespaces/%s/workflows/%s" % (NAMESPACE, name))
    if code != 200:
        return None
    wf = json.loads(body)
    finished = (wf.get("status") or {}).get("finishedAt")
    if not finished:
        return None
    return parse_time(finished) - parse_time(wf["metadata"]["creationTimestamp"])


def bench_wait(bench: Bench, repeats: int, delay: int, step_seconds: float, warm_env: dict) -> list[dict]:
    samples = {side: [] for side in SIDES}
    retries = max(1, int(600 / delay))
    for r in range(repeats):
        for side in (SIDES if r % 2 == 0 else SIDES[::-1]):
            name = "bench-%s-%d-%s" % ("mlops" if side == "mlops.k8s" else "core", r, os.urandom(2).hex())
            tasks = wait_tasks(side, name, delay, retries, step_seconds=step_seconds)
            if side not in warm_env:  # --part wait: warm this side's discovery cache first (untimed)
                warm_env[side] = bench.cache_dirs("wait-%s" % side.replace(".", "-"))
                bench.run(read_tasks(side, len(READ_TARGETS)), warm_env[side], title="warm-up %s" % side)
            env = warm_env[side]
            res = bench.run(tasks, env, title="wait %s #%d" % (side, r + 1))
            timings = task_timings(res["data"])
            last = timings[-1][0]
            result = res["data"]["plays"][0]["tasks"][-1]["hosts"]["localhost"]
            phase = result.get("phase") or (result.get("resources") or [{}])[0].get("status", {}).get("phase")
            if phase != "Succeeded":
                raise RuntimeError("workflow %s ended %s" % (name, phase))
            res.update(observed=span(timings, "submit", last), run=workflow_run_seconds(bench, name),
                       attempts=result.get("attempts", 1))
            samples[side].append(res)
    rows = []
    for side, runs in samples.items():
        rows.append({
            "side": side,
            "observed": [r["observed"] for r in runs],
            "run": [r["run"] for r in runs if r["run"] is not None],
            "wall": [r["wall"] for r in runs],
            "attempts": [r["attempts"] for r in runs],
            "total": [r["requests"]["total"] for r in runs],
            "watch": [r["requests"]["watch"] for r in runs],
            "discovery": [r["requests"]["discovery"] + r["requests"]["version"] for r in runs],
        })
    return rows


def versions() -> dict:
    """benchlib.machine() and the kubernetes Python package's version."""
    out = benchlib.machine()
    with contextlib.suppress(ImportError):
        import kubernetes
        out["kubernetes (Python)"] = kubernetes.__version__
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=20, help="read tasks per play (default 20)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of every measurement (default 3)")
    ap.add_argument("--delay", type=int, default=5, help="kubernetes.core until-loop delay in seconds (default 5)")
    ap.add_argument("--step-seconds", type=float, default=4,
                    help="each of the workflow's two steps sleeps this long (default 4; 0: steps end at once)")
    ap.add_argument("--quick", action="store_true", help="6 tasks, 1 repeat")
    ap.add_argument("--part", choices=("all", "reads", "wait"), default="all")
    ap.add_argument("--ops", default=",".join(OPS),
                    help="part 1's per-task operations, comma-separated (default %s)" % ",".join(OPS))
    ap.add_argument("--verbose", action="store_true", help="one line per ansible-playbook run on stderr")
    args = ap.parse_args()
    if args.quick:
        args.tasks, args.repeats = min(args.tasks, 6), 1
    if args.tasks < 1 or args.repeats < 1:
        ap.error("--tasks and --repeats must be at least 1")
    ops = [op for op in args.ops.split(",") if op]
    if not ops or set(ops) - set(OPS):
        ap.error("--ops takes %s" % ", ".join(OPS))

    from sandbox import cli
    from sandbox.pytest_plugin import SandboxHandle

    machine = versions()
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tasks-"))
    started = time.perf_counter()
    try:
        handle = SandboxHandle(cli.start(str(workdir / "sandbox"), snapshot=False))
        try:
            bench = Bench(workdir, handle, verbose=args.verbose)
            setup(bench)
            read_rows, warm_env = [], {}
            for op in ops if args.part != "wait" else ():
                rows, env = bench_reads(bench, args.tasks, args.repeats, op)
                read_rows += rows
                warm_env = warm_env or env
            wait_rows = [] if args.part == "reads" else bench_wait(bench, args.repeats, args.delay,
                                                                   args.step_seconds, warm_env)
        finally:
            cli.stop(str(workdir / "sandbox"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("## bench_tasks.py: %s" % dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    print()
    print("Machine: %d cores, Python %s, %s; ansible-core %s, kubernetes.core %s, kubernetes (Python) %s; "
          "load average at start %.2f, at end %.2f; benchmark took %.0fs." % (
              machine["cores"], machine["python"], machine["platform"], machine.get("ansible-core", "?"),
              machine.get("kubernetes.core", "?"), machine.get("kubernetes (Python)", "?"), load_before[0],
              os.getloadavg()[0], time.perf_counter() - started))
    print("Cells: median [min-max] over %d repeat(s)." % args.repeats)
    if read_rows:
        print()
        print("### 1. %d tasks per play and operation (info: ConfigMap get, WorkflowTemplate get, SeldonDeployment "
              "list; apply: the unchanged ConfigMap, server-side; wait: a Deployment already Available)" % args.tasks)
        print()
        print(markdown_table(
            ["operation", "client", "discovery cache", "ansible-playbook wall s", "play s", "per task s (mean)",
             "first task s", "discovery GETs / play", "GET /version / play", "other requests / play"],
            [[r["op"], r["side"], r["cache"], summary(r["wall"]), summary(r["play"]), summary(r["task_mean"], 3),
              summary(r["first_task"], 3), summary(r["discovery"], 0), summary(r["version"], 0),
              summary(r["other"], 0)] for r in read_rows]))
        print()
        for op, temp, ratio in task_ratios(read_rows):
            print("- %s, %s discovery: mlops.k8s per task / kubernetes.core per task = %.2f" % (op, temp, ratio))
        for r in read_rows:
            if r["cache"] == "cold" and r["op"] == read_rows[0]["op"]:
                print("- %s cold run wrote: %s" % (r["side"], ", ".join(r["cache_files"] or []) or "no cache file"))
    if wait_rows:
        print()
        print("### 2. Two-step Argo Workflow (each step sleeps %gs): submit until a final phase is observed "
              "(kubernetes.core: until/retries, delay %ds)" % (args.step_seconds, args.delay))
        print()
        print(markdown_table(
            ["client", "submit -> observed Succeeded s", "workflow run s (server, 1 s resolution)",
             "ansible-playbook wall s", "k8s_info attempts", "API requests", "of which watches",
             "of which discovery"],
            [[r["side"], summary(r["observed"]), summary(r["run"], 0), summary(r["wall"]),
              summary(r["attempts"], 0) if r["side"] == "kubernetes.core" else "-", summary(r["total"], 0),
              summary(r["watch"], 0), summary(r["discovery"], 0)] for r in wait_rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
