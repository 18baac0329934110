"""Shared by the playbook benchmarks: a fresh sandbox, the collection from the checkout, timed ansible-playbook runs
and the audit log's requests of each run. Nothing here is a result; the scripts print what they measure."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ADMIN_USER = "sandbox-admin"  # the sandbox kubeconfig's user (docs/dev/contracts.md)
WRITES = ("POST", "PUT", "PATCH", "DELETE")
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
sys.path.insert(0, str(REPO))


def machine() -> dict:
    out = {"cores": os.cpu_count() or 0, "python": platform.python_version(), "platform": platform.platform(),
           "load_average": [round(x, 2) for x in os.getloadavg()]}
    with contextlib.suppress(ImportError):
        import ansible.release
        out["ansible-core"] = ansible.release.__version__
    manifest = (Path(sys.executable).parent.parent / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
                / "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json")
    with contextlib.suppress(OSError, ValueError, KeyError):
        out["kubernetes.core"] = json.loads(manifest.read_text())["collection_info"]["version"]
    return out


def print_header(script: str, info: dict, started: float, extra: str = "") -> None:
    """The report's first lines: the script, the time, the machine and the load at the start and the end."""
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print("## %s: %s" % (script, utc_now()))
    print()
    print("Machine: %d cores, Python %s, ansible-core %s, kubernetes.core %s; load average at start %s, at end %s; "
          "took %.0fs%s" % (info["cores"], info["python"], info.get("ansible-core"), info.get("kubernetes.core"),
                            info["load_average"][0], info["load_average_end"][0], time.perf_counter() - started,
                            extra))
    print()


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def is_discovery(path: str) -> bool:
    p = "/" + path.strip("/")
    if p in ("/api", "/apis", "/openapi", "/version") or p.startswith("/openapi/"):
        return True
    parts = p.strip("/").split("/")
    return (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) in (2, 3))


def resource_of(path: str) -> str:
    """The resource (plural) of an API path: /api/v1/namespaces/x/secrets/y -> secrets."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    parts = parts[2:] if parts[0] == "api" else parts[3:]
    if len(parts) >= 3 and parts[0] == "namespaces":
        parts = parts[2:]
    return parts[0] if parts else path


def count(entries: list[dict], user: str = ADMIN_USER) -> dict:
    """The requests of one run made as the kubeconfig user (controllers and pods are other users): writes not in
    dry-run, reads of objects (GET and LIST, discovery apart), watches, discovery requests, and all of them."""
    out = {"writes": 0, "reads": 0, "watches": 0, "discovery": 0, "dry_run": 0, "total": 0, "watch_paths": [],
           "write_resources": {}, "read_resources": {}}
    for e in entries:
        path = e.get("path") or ""
        if path.startswith("/sandbox/") or path.rstrip("/") in ("/healthz", "/readyz", "/livez"):
            continue
        if e.get("user") != user and not (path.rstrip("/") == "/version" and e.get("user") is None):
            continue
        out["total"] += 1
        if e.get("dry_run"):
            out["dry_run"] += 1
        elif e.get("method") in WRITES:
            out["writes"] += 1
            kind = resource_of(path)
            out["write_resources"][kind] = out["write_resources"].get(kind, 0) + 1
        elif e.get("verb") == "watch":
            out["watches"] += 1
            out["watch_paths"].append(path)
        elif is_discovery(path):
            out["discovery"] += 1
        elif e.get("method") == "GET":
            out["reads"] += 1
            what = "%s %s" % (e.get("verb") or "get", resource_of(path))
            out["read_resources"][what] = out["read_resources"].get(what, 0) + 1
    return out


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


class Bench:
    """A fresh sandbox in a temporary directory and the collection from the checkout (ansible_collections/mlops/k8s
    -> the repository, as tests/integration/conftest.py does); kubernetes.core is the one installed in .venv."""

    def __init__(self, prefix: str, nodes: int | None = None):
        from sandbox import cli

        # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the sandbox and its model servers are stopped
        signal.signal(signal.SIGTERM, _raise_interrupt)
        from sandbox.pytest_plugin import SandboxHandle

        self._cli = cli
        # the model server venvs (built once, minutes): the checkout's .cache, else the main checkout's when this is
        # a git worktree; set before the sandbox starts, since its Seldon runner reads it from this process
        if "MLOPS_SANDBOX_CACHE" not in os.environ:
            for base in (REPO, REPO.parent / "main"):
                if (base / ".cache" / "servers").is_dir():
                    os.environ["MLOPS_SANDBOX_CACHE"] = str(base / ".cache")
                    break
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix))
        self.sandbox_dir = self.workdir / "sandbox"
        self.handle = SandboxHandle(cli.start(str(self.sandbox_dir), snapshot=False, nodes=nodes))
        root = self.workdir / "collections"
        (root / "ansible_collections" / "mlops").mkdir(parents=True)
        (root / "ansible_collections" / "mlops" / "k8s").symlink_to(REPO, target_is_directory=True)
        self.env = dict(os.environ)
        self.env.update(self.handle.env)
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=str(root), ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
            K8S_AUTH_KUBECONFIG=str(self.handle.kubeconfig), KUBECONFIG=str(self.handle.kubeconfig),
            MLOPS_K8S_CACHE_DIR=str(self.workdir / "cache" / "mlops"), TMPDIR=str(self.workdir / "cache" / "tmp"))
        (self.workdir / "cache" / "mlops").mkdir(parents=True)
        (self.workdir / "cache" / "tmp").mkdir()
        self.runs = 0

    def close(self) -> None:
        try:
            self._cli.stop(str(self.sandbox_dir))
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def playbook(self, path_or_plays, extra_vars: dict | None = None, timeout: float = 1800,
                 title: str = "", profile: int = 0) -> dict:
        """Run ansible-playbook; wall seconds, the audit entries' counts, stdout and, with ``profile``, the slowest
        tasks [(name, seconds)] (ansible.posix.profile_tasks, which adds nothing measurable). Raises on failure."""
        self.runs += 1
        if isinstance(path_or_plays, (str, Path)):
            path = Path(path_or_plays)
        else:
            path = self.workdir / ("play-%03d.yml" % self.runs)
            path.write_text(json.dumps(path_or_plays, indent=1))  # JSON is YAML
        cmd = [PLAYBOOK, "-i", "localhost,", "-c", "local", str(path)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        mark = self.handle.audit_mark()
        t0 = time.perf_counter()
        env = dict(self.env)
        if profile:
            env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                       PROFILE_TASKS_TASK_OUTPUT_LIMIT=str(profile))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, check=False)
        wall = time.perf_counter() - t0
        entries = self.handle.audit(mark)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (rc %d) after %.1fs:\n%s\n%s" % (
                title or path.name, proc.returncode, wall, proc.stdout[-5000:], proc.stderr[-2000:]))
        print("  %-50s %7.2fs  %d requests" % (title or path.name, wall, len(entries)), file=sys.stderr)
        recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)", proc.stdout)
        return {"wall": wall, "requests": count(entries), "stdout": proc.stdout, "entries": entries,
                "tasks_ok": int(recap.group(1)) if recap else None, "changed": int(recap.group(2)) if recap else None,
                "slowest": slowest_tasks(proc.stdout) if profile else []}


def slowest_tasks(stdout: str) -> list[tuple[str, float]]:
    """The profile_tasks summary at the end of ansible-playbook's output: [(task, seconds)], slowest first."""
    lines = stdout.splitlines()
    marks = [i for i, line in enumerate(lines) if set(line.strip()) == {"="} and len(line.strip()) > 20]
    out = []
    for line in lines[marks[-1] + 1:] if marks else []:
        m = re.match(r"^(.*?) -+ (\d+(?:\.\d+)?)s\s*$", line.strip())
        if m:
            out.append((m.group(1).strip(), float(m.group(2))))
    return out


def descendants_memory_mb(match: str) -> tuple[int, float, float]:
    """(number, total resident MB, total proportional MB) of this process's descendants whose command line
    contains ``match``.

    Resident memory counts a page shared by forked workers (and shared libraries) once per process; the
    proportional set size (``Pss`` in ``/proc/PID/smaps_rollup``) divides each shared page among the processes
    that map it, so its sum is what the processes take of the machine's memory.
    """
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmdlines[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
    todo, found = [os.getpid()], []
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            if match in cmdlines.get(child, ""):
                found.append(child)
    kib = {"Rss": 0, "Pss": 0}
    for pid in found:
        try:
            for line in Path("/proc/%d/smaps_rollup" % pid).read_text().splitlines():
                key, _, value = line.partition(":")
                if key in kib:
                    kib[key] += int(value.split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return len(found), kib["Rss"] / 1024, kib["Pss"] / 1024


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_json(name: str, data: dict) -> Path:
    path = RESULTS / name  # an absolute name stays as it is
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
