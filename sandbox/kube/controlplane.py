"""The real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, built from the Kubernetes project's Go modules by hack/kube/build.sh.

`ControlPlane(DIR).start()` starts them as child processes (data under DIR/etcd, logs under DIR/logs, PKI under
DIR/pki), waits until the API server is ready and kube-controller-manager works (the `default` ServiceAccount
exists), and writes DIR/kubeconfig for an admin identity. `stop()` ends exactly the processes it started.

Sealed network: the API server dials webhooks and aggregated APIs at their Service's endpoints
(`--enable-aggregator-routing=true`), never at a ClusterIP, and every address it advertises is loopback.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import logging
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import yaml

from .pki import ensure_pki

log = logging.getLogger("sandbox.kube")
ADMIN_USER = "sandbox-admin"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service's ClusterIP: never dialled (aggregator routing, sealed netns)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*"]},
        # the components' heartbeats would drown the requests that tests count
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "Metadata"},
    ],
}


class ControlPlaneError(RuntimeError):
    pass


def bin_dir() -> str:
    """Where hack/kube/build.sh puts (or has put) the binaries; MLOPS_KUBE_BIN overrides it."""
    if os.environ.get("MLOPS_KUBE_BIN"):
        return os.environ["MLOPS_KUBE_BIN"]
    out = subprocess.run(["bash", os.path.join(REPO, "hack", "kube", "build.sh"), "--print-bin"],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip().splitlines()[-1]


def built() -> bool:
    try:
        d = bin_dir()
    except (OSError, subprocess.SubprocessError):
        return False
    return all(os.access(os.path.join(d, n), os.X_OK) for n in ("etcd", "kube-apiserver", "kube-controller-manager",
                                                                 "kube-scheduler"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """A child that outlives its supervisor (SIGKILLed) would hold ports and etcd's data: PR_SET_PDEATHSIG."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class ControlPlane:
    def __init__(self, directory: str, port: int = 0, binaries: str | None = None):
        self.dir = os.path.abspath(directory)
        self.bin = binaries or bin_dir()
        self.port = port or free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.pki = ensure_pki(self.dir, SERVICE_IP)
        self.token = self._admin_token()
        self.env: dict[str, str] = {}

    # -- files --
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.dir, "kubeconfig")

    def _admin_token(self) -> str:
        path = os.path.join(self.dir, "pki", "tokens.csv")
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f'{secrets.token_urlsafe(32)},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        with open(path, encoding="ascii") as f:
            return f.read().split(",", 1)[0]

    def _write_kubeconfig(self, path: str, user: dict, name: str) -> str:
        with open(self.pki["ca.crt"], "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
               "clusters": [{"name": "sandbox", "cluster": {"server": self.server,
                                                           "certificate-authority-data": ca}}],
               "users": [{"name": name, "user": user}],
               "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": name,
                                                            "namespace": "default"}}],
               "current-context": "sandbox"}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        return path

    def _cert_kubeconfig(self, stem: str, name: str) -> str:
        return self._write_kubeconfig(os.path.join(self.dir, "pki", f"{stem}.kubeconfig"),
                                      {"client-certificate": self.pki[f"{stem}.crt"],
                                       "client-key": self.pki[f"{stem}.key"]}, name)

    # -- processes --
    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        out = open(os.path.join(self.logs, f"{name}.log"), "ab")  # noqa: SIM115 - the child keeps it
        try:
            proc = subprocess.Popen([os.path.join(self.bin, name), *args], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.dir, preexec_fn=_die_with_parent)  # noqa: PLW1509
        finally:
            out.close()
        self.procs[name] = proc
        log.info("started %s (pid %d)", name, proc.pid)
        return proc

    def _wait(self, name: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise ControlPlaneError(f"{name} exited with {proc.returncode}: {self._tail(name)}")
            with contextlib.suppress(OSError, ValueError):
                if check():
                    return
            time.sleep(0.1)
        raise ControlPlaneError(f"{name} was not ready after {timeout:.0f}s: {self._tail(name)}")

    def _tail(self, name: str, lines: int = 8) -> str:
        with contextlib.suppress(OSError), open(os.path.join(self.logs, f"{name}.log"), "rb") as f:
            return " | ".join(f.read().decode(errors="replace").splitlines()[-lines:])
        return ""

    def _get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=self.pki["ca.crt"])
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})  # noqa: S310
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:  # noqa: S310 - https, loopback
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def start(self, timeout: float = 90.0) -> None:
        t0 = time.monotonic()
        etcd_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self._spawn("etcd", [
            "--name", "sandbox", "--data-dir", os.path.join(self.dir, "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"sandbox={peer}", "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}",
            "--unsafe-no-fsync", "--quota-backend-bytes", str(4 << 30), "--log-level", "warn"])

        def etcd_ok() -> bool:
            with urllib.request.urlopen(f"{etcd_url}/health", timeout=1) as r:  # noqa: S310 - loopback
                return json.load(r).get("health") == "true"
        self._wait("etcd", etcd_ok, timeout)

        policy = os.path.join(self.dir, "pki", "audit-policy.yaml")
        with open(policy, "w", encoding="utf-8") as f:
            yaml.safe_dump(AUDIT_POLICY, f)
        self._spawn("kube-apiserver", [
            f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", f"--cert-dir={os.path.join(self.dir, 'pki')}",
            f"--tls-cert-file={self.pki['apiserver.crt']}", f"--tls-private-key-file={self.pki['apiserver.key']}",
            f"--client-ca-file={self.pki['ca.crt']}",
            f"--token-auth-file={os.path.join(self.dir, 'pki', 'tokens.csv')}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.pki['sa.pub']}",
            f"--service-account-signing-key-file={self.pki['sa.key']}",
            f"--kubelet-client-certificate={self.pki['apiserver-kubelet-client.crt']}",
            f"--kubelet-client-key={self.pki['apiserver-kubelet-client.key']}",
            "--kubelet-preferred-address-types=InternalIP",
            # webhooks, conversion webhooks and aggregated APIs are dialled at endpoints, never at a ClusterIP
            "--enable-aggregator-routing=true",
            # the `kubernetes` Service would need a non-loopback endpoint: no reconciler (as envtest runs it)
            "--endpoint-reconciler-type=none", "--allow-privileged=true",
            f"--audit-policy-file={policy}", f"--audit-log-path={os.path.join(self.logs, 'audit.jsonl')}",
            "--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=0",
            "--profiling=false", "--v=1"])
        self._wait("kube-apiserver", lambda: self._get("/readyz")[0] == 200, timeout)
        self._write_kubeconfig(self.kubeconfig, {"token": self.token}, ADMIN_USER)
        self._write_kubeconfig(os.path.join(self.dir, "kubeconfig-x509"),
                               {"client-certificate": self.pki["admin.crt"], "client-key": self.pki["admin.key"]},
                               ADMIN_USER)

        self._spawn("kube-controller-manager", [
            f"--kubeconfig={self._cert_kubeconfig('kube-controller-manager', 'system:kube-controller-manager')}",
            f"--authentication-kubeconfig={self.pki['kube-controller-manager.crt'][:-4]}.kubeconfig",
            f"--authorization-kubeconfig={self.pki['kube-controller-manager.crt'][:-4]}.kubeconfig",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--controllers=*,-node-ipam-controller",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki['sa.key']}", f"--root-ca-file={self.pki['ca.crt']}",
            f"--cluster-signing-cert-file={self.pki['ca.crt']}", f"--cluster-signing-key-file={self.pki['ca.key']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false", "--v=1"])
        self._spawn("kube-scheduler", [
            f"--kubeconfig={self._cert_kubeconfig('kube-scheduler', 'system:kube-scheduler')}",
            f"--authentication-kubeconfig={self.pki['kube-scheduler.crt'][:-4]}.kubeconfig",
            f"--authorization-kubeconfig={self.pki['kube-scheduler.crt'][:-4]}.kubeconfig",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--leader-elect=false", "--profiling=false", "--v=1"])
        # kube-controller-manager works once it has made the `default` namespace's ServiceAccount
        self._wait("kube-controller-manager",
                   lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, timeout)
        self.env["KUBECONFIG"] = self.kubeconfig
        log.info("control plane ready in %.1fs at %s", time.monotonic() - t0, self.server)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM in reverse start order, SIGKILL what is left after `timeout`, reap everything."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def version(self) -> dict:
        code, body = self._get("/version")
        return json.loads(body) if code == 200 else {}
