"""Build (once) the model-server virtual environments of the sandbox.

Each prepackaged "image" of the sandbox runs from its own venv, never from the main venv:

* ``seldon``   - seldon-core 1.18.2 (Seldon protocol) + scikit-learn + xgboost
* ``mlserver`` - mlserver 1.7.1 + mlserver-sklearn + mlserver-xgboost (V2 protocol)

A venv lives in ``<cache>/<name>-<hash>`` where ``<cache>`` is ``$MLOPS_SANDBOX_CACHE/servers``
(or ``<repo>/.cache/servers``) and ``<hash>`` is taken over the requirements file, its lock and
the Python version, so a changed pin builds a new venv and an unchanged one is a quick no-op.
A venv is built in a temporary directory and renamed into place when complete, so a failed or
interrupted build never leaves a venv that looks usable.

Usage (from the repo root, with the main venv's python; ``uv`` must be on PATH)::

    python -m sandbox.servers.build               # build every venv that is missing
    python -m sandbox.servers.build seldon        # only one
    python -m sandbox.servers.build --check       # exit 1 if one is missing (builds nothing)
    python -m sandbox.servers.build --path seldon # print the venv directory
    python -m sandbox.servers.build --compile     # re-lock requirements-*.lock with uv pip compile
    python -m sandbox.servers.build --prune       # also delete venvs of older requirement hashes
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
VENV_NAMES = ("seldon", "mlserver")
PYTHON_VERSION = "3.11"
OVERRIDES = HERE / "overrides.txt"
MARKER = ".mlops-sandbox-venv.json"
# Bump when the build procedure itself changes so existing venvs are rebuilt.
BUILD_REVISION = "2"


class BuildError(RuntimeError):
    """A server venv could not be built; ``offline`` tells whether the package index was unreachable."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def cache_root() -> Path:
    env = os.environ.get("MLOPS_SANDBOX_CACHE")
    if env:
        return Path(env).expanduser().resolve() / "servers"
    return REPO_ROOT / ".cache" / "servers"


def requirements_file(name: str) -> Path:
    return HERE / f"requirements-{name}.txt"


def lock_file(name: str) -> Path:
    return HERE / f"requirements-{name}.lock"


def requirements_hash(name: str) -> str:
    if name not in VENV_NAMES:
        raise ValueError(f"unknown server venv {name!r}; known: {', '.join(VENV_NAMES)}")
    digest = hashlib.sha256()
    digest.update(f"python{PYTHON_VERSION};build{BUILD_REVISION};".encode())
    for path in (requirements_file(name), lock_file(name), OVERRIDES):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def venv_dir(name: str) -> Path:
    """Where the venv for ``name`` lives for the current requirements (it may not exist yet)."""
    return cache_root() / f"{name}-{requirements_hash(name)}"


def venv_bin(name: str, executable: str = "python") -> Path:
    return venv_dir(name) / "bin" / executable


def is_built(name: str) -> bool:
    marker = venv_dir(name) / MARKER
    if not marker.is_file():
        return False
    try:
        data = json.loads(marker.read_text())
    except ValueError:
        return False
    return data.get("hash") == requirements_hash(name) and (venv_dir(name) / "bin" / "python").exists()


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    raise BuildError("`uv` is not on PATH (install it in the main venv: pip install uv)")


_OFFLINE_HINTS = (
    "failed to fetch",
    "error sending request",
    "dns error",
    "connection refused",
    "network is unreachable",
    "temporary failure in name resolution",
    "timed out",
    "tcp connect error",
)


def _run(cmd: list[str], log: list[str]) -> None:
    log.append("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    log.append(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).strip()
        offline = any(hint in text.lower() for hint in _OFFLINE_HINTS)
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{text[-4000:]}", offline=offline)


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = Path(root) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


@contextlib.contextmanager
def _build_lock(name: str):
    """Serialize builders of one venv (several test runs or sandboxes may start at once)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(name: str, *, force: bool = False, echo=print) -> Path:
    """Build the venv ``name`` unless it already exists for the current requirements. Returns its dir."""
    target = venv_dir(name)
    if not force and is_built(name):
        echo(f"[servers] {name}: up to date at {target}")
        return target
    with _build_lock(name):
        if not force and is_built(name):  # built by another process while we waited
            echo(f"[servers] {name}: up to date at {target}")
            return target
        return _build_locked(name, target, echo)


def _build_locked(name: str, target: Path, echo) -> Path:
    uv = _uv()
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    log: list[str] = []
    started = time.monotonic()
    echo(f"[servers] {name}: building {target} from {lock_file(name).name} ...")
    try:
        # --relocatable: the venv's scripts find their python relative to themselves, so the venv
        # can be built in a temporary directory and renamed into place.
        _run([uv, "venv", "--quiet", "--relocatable", "--python", sys.executable if _is_311() else PYTHON_VERSION,
              "--python-preference", "only-system", str(tmp)], log)
        # The lock is complete (uv pip compile output): sync installs exactly it, resolving nothing.
        # Byte-compiling now keeps the first server start as fast as the next ones.
        _run([uv, "pip", "sync", "--quiet", "--compile-bytecode", "--python", str(tmp / "bin" / "python"),
              str(lock_file(name))], log)
    except BuildError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    elapsed = time.monotonic() - started
    size = _du(tmp)
    (tmp / MARKER).write_text(json.dumps({
        "name": name, "hash": requirements_hash(name), "built_at": time.time(),
        "seconds": round(elapsed, 1), "bytes": size,
    }))
    if target.exists():  # an incomplete or --force'd one
        shutil.rmtree(target)
    tmp.rename(target)
    echo(f"[servers] {name}: built in {elapsed:.0f}s, {size / 2**20:.0f} MiB at {target}")
    return target


def _is_311() -> bool:
    return sys.version_info[:2] == (3, 11)


def ensure(names=VENV_NAMES, *, echo=print) -> dict[str, Path]:
    return {name: build(name, echo=echo) for name in names}


def prune(name: str, echo=print) -> None:
    keep = venv_dir(name).name
    root = cache_root()
    if not root.is_dir():
        return
    for path in root.glob(f"{name}-*"):
        if path.name != keep and path.is_dir():
            echo(f"[servers] {name}: removing old {path}")
            shutil.rmtree(path, ignore_errors=True)


def compile_locks(names=VENV_NAMES, echo=print) -> None:
    uv = _uv()
    for name in names:
        out = lock_file(name)
        cmd = [uv, "pip", "compile", "--quiet", "-p", PYTHON_VERSION, "--no-header",
               "--override", str(OVERRIDES.relative_to(REPO_ROOT)),
               str(requirements_file(name).relative_to(REPO_ROOT)), "-o", str(out.relative_to(REPO_ROOT))]
        subprocess.run(cmd, check=True, cwd=REPO_ROOT)
        body = out.read_text()
        out.write_text(
            "# Lock of requirements-%s.txt for Python %s; regenerate with:\n"
            "#    python -m sandbox.servers.build --compile   (uv pip compile -p %s)\n%s"
            % (name, PYTHON_VERSION, PYTHON_VERSION, body)
        )
        echo(f"[servers] {name}: wrote {out}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.servers.build", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"venvs to build (default all: {', '.join(VENV_NAMES)})")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--check", action="store_true", help="build nothing; exit 1 if a venv is missing")
    parser.add_argument("--path", metavar="NAME", choices=VENV_NAMES, help="print the venv dir of NAME")
    parser.add_argument("--compile", action="store_true", help="re-lock the requirements with uv pip compile")
    parser.add_argument("--prune", action="store_true", help="delete venvs built for older requirements")
    args = parser.parse_args(argv)
    names = args.names or list(VENV_NAMES)
    unknown = [n for n in names if n not in VENV_NAMES]
    if unknown:
        parser.error(f"unknown venv(s) {', '.join(unknown)}; known: {', '.join(VENV_NAMES)}")
    if args.path:
        print(venv_dir(args.path))
        return 0
    if args.compile:
        compile_locks(names)
        return 0
    if args.check:
        missing = [n for n in names if not is_built(n)]
        for n in names:
            print(f"[servers] {n}: {'missing' if n in missing else 'ok'} {venv_dir(n)}")
        return 1 if missing else 0
    try:
        for name in names:
            build(name, force=args.force)
            if args.prune:
                prune(name)
    except BuildError as exc:
        print(f"[servers] build failed{' (package index unreachable)' if exc.offline else ''}: {exc}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
