"""`python -m sandbox start|stop|status|serve --dir DIR [--control-plane emulator|kube] [--nodes N]`,
`load-image REF SRC_DIR --dir DIR` (a directory as a container image on the sandbox's node, like
`kind load docker-image`) and `images --dir DIR` (the loaded ones)."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import time
import urllib.request


def _info(directory: str) -> dict | None:
    try:
        with open(os.path.join(directory, "sandbox.json"), encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def write_info(directory: str, env: dict, info: dict) -> None:
    """DIR/env (`export` lines) and DIR/sandbox.json, which `start`/`running` read; written by either backend."""
    with open(os.path.join(directory, "env"), "w", encoding="utf-8") as f:
        f.writelines(f"export {k}={shlex.quote(str(v))}\n" for k, v in env.items())
    tmp = os.path.join(directory, "sandbox.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    os.replace(tmp, os.path.join(directory, "sandbox.json"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_serve(pid: int, directory: str) -> bool:
    """Guard against a recycled pid: only signal our own `sandbox serve --dir DIR` process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return b"sandbox" in args and b"serve" in args and directory.encode() in args


def _is_named(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0]).decode(errors="replace") == name
    except OSError:
        return False


def ready(info: dict, timeout: float = 2.0) -> bool:
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    try:
        with urllib.request.urlopen(info["server"] + "/readyz", context=ctx, timeout=timeout) as r:  # noqa: S310
            return r.status == 200
    except OSError:
        return False


def running(directory: str) -> dict | None:
    info = _info(directory)
    if info and _alive(int(info.get("pid", 0))) and ready(info):
        return info
    return None


CONTROL_PLANES = ("emulator", "kube")


def start(directory: str, port: int = 0, timeout: float | None = None, snapshot: bool = True,
          control_plane: str = "emulator", owner: int | None = None, nodes: int | None = None) -> dict:
    """Start a sandbox in `directory` (or return the one running there). `control_plane`: "emulator" (the
    project's API server emulator with all simulated components) or "kube" (the real etcd, kube-apiserver,
    kube-controller-manager and kube-scheduler built by hack/kube/build.sh). `nodes`: how many simulated nodes
    the emulator hosts (default $MLOPS_SANDBOX_NODES, else 1; the real control plane has one)."""
    if control_plane not in CONTROL_PLANES:
        raise ValueError(f"control_plane must be one of {CONTROL_PLANES}, not {control_plane!r}")
    if control_plane == "kube" and (nodes or 1) > 1:
        raise ValueError("the real control plane has one node; --nodes is for the emulator")
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    if timeout is None:
        timeout = 30.0 if control_plane == "emulator" else 120.0
    with open(os.path.join(directory, ".start.lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent starts in one directory give one sandbox
        return _start_locked(directory, port, timeout, snapshot, control_plane, owner, nodes)


def _start_locked(directory: str, port: int, timeout: float, snapshot: bool, control_plane: str,
                  owner: int | None, nodes: int | None = None) -> dict:
    info = running(directory)
    if info:
        if info.get("control_plane", "emulator") != control_plane:
            raise RuntimeError(f"a sandbox with control plane {info.get('control_plane', 'emulator')!r} "
                               f"already runs in {directory}")
        return info
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(directory, "sandbox.json"))
    cmd = [sys.executable, "-m", "sandbox", "serve", "--dir", directory, "--port", str(port),
           "--control-plane", control_plane]
    if not snapshot:
        cmd.append("--no-snapshot")
    if nodes:
        cmd += ["--nodes", str(nodes)]
    if owner and control_plane == "kube":  # the real control plane stops when its owner (a test session) is gone
        cmd += ["--owner", str(owner)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    with open(os.path.join(directory, "logs", "serve.out"), "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env, cwd=directory)
    with open(os.path.join(directory, "sandbox.pid"), "w", encoding="ascii") as f:
        f.write(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}; see {directory}/logs/")
        info = _info(directory)
        if info and info.get("pid") == proc.pid and ready(info):
            return info
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"sandbox did not become ready in {timeout}s; see {directory}/logs/")


def stop(directory: str, timeout: float = 15.0) -> bool:
    directory = os.path.abspath(directory)
    pid = None
    info = _info(directory)
    if info:
        pid = int(info["pid"])
    else:
        try:
            with open(os.path.join(directory, "sandbox.pid"), encoding="ascii") as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return False
    if not _alive(pid) or not _is_serve(pid, directory):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    # whatever the sandbox started in its own process group (model servers, ...) goes with it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    # the real control plane's processes, by the pids the sandbox recorded (and only if they are still ours)
    for name, child in ((info or {}).get("processes") or {}).items():
        if _alive(child) and _is_named(child, name):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
    for name in ("sandbox.json", "sandbox.pid"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(directory, name))
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("start", "stop", "status", "serve"):
        sp = sub.add_parser(name)
        sp.add_argument("--dir", required=True)
        if name in ("start", "serve"):
            sp.add_argument("--port", type=int, default=0)
            sp.add_argument("--control-plane", choices=CONTROL_PLANES,
                            default=os.environ.get("MLOPS_CONTROL_PLANE", "emulator"),
                            help="emulator (default; $MLOPS_CONTROL_PLANE) or kube: the real etcd, kube-apiserver, "
                                 "kube-controller-manager and kube-scheduler built by hack/kube/build.sh")
            sp.add_argument("--no-snapshot", action="store_true", help="do not load/save DIR/snapshot.json")
            sp.add_argument("--nodes", type=int, default=None,
                            help="simulated nodes on the emulator (default $MLOPS_SANDBOX_NODES, else 1): "
                                 "sandbox-node, sandbox-node-2, ...")
            if name == "serve":
                sp.add_argument("--owner", type=int, default=None,
                                help="stop when the process with this pid is gone (the kube control plane)")
    sp = sub.add_parser("load-image", help="copy SRC_DIR to DIR/images/<registry/repository>/<tag>/ as image REF "
                                           "(optional SRC_DIR/image.json: workingDir, entrypoint, cmd, env)")
    sp.add_argument("ref")
    sp.add_argument("src_dir")
    sp.add_argument("--dir", required=True)
    sp = sub.add_parser("images", help="list the images load-image loaded")
    sp.add_argument("--dir", required=True)
    args = p.parse_args(argv)
    if args.cmd in ("load-image", "images"):
        return _images_cmd(args)
    if args.cmd == "serve":
        if args.control_plane == "kube":
            from .kube.supervisor import serve as serve_kube
            _log_to(args.dir, "supervisor.log")
            serve_kube(args.dir, args.port, args.owner)
            return 0
        from .server import serve
        serve(args.dir, args.port, snapshot=not args.no_snapshot, nodes=args.nodes)
        return 0
    if args.cmd == "start":
        try:
            info = start(args.dir, args.port, snapshot=not args.no_snapshot, control_plane=args.control_plane,
                         nodes=args.nodes)
        except (RuntimeError, ValueError) as e:
            print(f"sandbox: {e}", file=sys.stderr)
            return 1
        out = {k: info[k] for k in ("dir", "kubeconfig", "server", "token", "ca_file", "env")}
        out["control_plane"] = info.get("control_plane", "emulator")
        if info.get("processes"):
            out["processes"] = info["processes"]
        print(json.dumps(out, indent=2))
        return 0
    if args.cmd == "stop":
        print(json.dumps({"stopped": stop(args.dir)}))
        return 0
    info = running(os.path.abspath(args.dir))
    out = {"running": bool(info)}
    if info:
        out.update(server=info["server"], pid=info["pid"], control_plane=info.get("control_plane", "emulator"))
        if info.get("processes"):
            out["processes"] = {n: {"pid": p, "running": _alive(p) and _is_named(p, n)}
                                for n, p in info["processes"].items()}
    print(json.dumps(out))
    return 0 if info else 1


def _log_to(directory: str, name: str) -> None:
    import logging
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    logging.basicConfig(filename=os.path.join(directory, "logs", name), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _images_cmd(args) -> int:
    """Works whether or not the sandbox runs: a step pod resolves its image when it starts (and retries)."""
    from .argo import images
    directory = os.path.abspath(args.dir)
    if args.cmd == "images":
        print(json.dumps({"images": images.loaded(directory)}, indent=2))
        return 0
    try:
        dest = images.load(directory, args.ref, args.src_dir)
    except (images.ImageError, OSError, ValueError) as e:
        print(f"load-image: {e}", file=sys.stderr)
        return 1
    repo, tag = images.normalize(args.ref)
    print(json.dumps({"image": f"{repo}:{tag}", "dir": dest}))
    return 0
