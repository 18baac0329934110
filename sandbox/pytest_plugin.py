"""pytest plugin: a session-scoped `sandbox` fixture (one emulated cluster per test session / xdist worker), and
`running_sandbox(..., control_plane="kube")` for the real control plane (`sandbox/kube`)."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import urllib.parse
import urllib.request

import pytest

from . import cli

# The real API server's audit verbs, as the HTTP methods the emulator's audit log records.
_VERB_METHODS = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}


class EmulatorOnly(AssertionError):
    """A test asked for something only the emulator offers (fault injection, controller knobs, ...)."""


class SandboxHandle:
    def __init__(self, info: dict):
        self.control_plane = info.get("control_plane", "emulator")
        self.audit_log = info.get("audit_log")
        self._audit_pos, self._audit_lines, self._audit_entries = 0, 0, []  # the audit log read so far (kube)
        self.dir = info["dir"]
        self.kubeconfig = info["kubeconfig"]
        self.server = info["server"]
        self.token = info["token"]
        self.ca_file = info["ca_file"]
        self.env = dict(info["env"])
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    @property
    def is_kube(self) -> bool:
        return self.control_plane == "kube"

    # -- audit (contracts.md) --
    def audit(self, since: int = 0) -> list[dict]:
        if self.is_kube:
            return [e for e in self._kube_audit() if e["seq"] > since]
        return self._get(f"/sandbox/v1/audit?since={int(since)}")["items"]

    def audit_mark(self) -> int:
        if self.is_kube:
            entries = self._kube_audit()
            return entries[-1]["seq"] if entries else 0
        return self._get("/sandbox/v1/audit?since=999999999999")["last"]

    def _kube_audit(self) -> list[dict]:
        """The real API server's audit log (JSON lines, stage ResponseComplete) in the emulator's entry shape:
        seq (line number), user, verb, method, path, query, dry_run, status. Read on from where the last call
        stopped: a line still being written is left for the next call."""
        with open(self.audit_log, "rb") as f:
            f.seek(self._audit_pos)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._audit_pos += len(complete)
        for line in complete.splitlines():
            self._audit_lines += 1
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("stage") not in ("ResponseComplete", "Panic"):
                continue
            url = urllib.parse.urlsplit(ev.get("requestURI", ""))
            query = urllib.parse.parse_qs(url.query)
            # the identity the server authorized: a component impersonated by the admin counts as itself
            user = (ev.get("impersonatedUser") or ev.get("user") or {}).get("username")
            self._audit_entries.append({
                "seq": self._audit_lines, "user": user, "verb": ev.get("verb"),
                "method": _VERB_METHODS.get(ev.get("verb"), "GET"), "path": url.path, "query": url.query,
                "dry_run": "All" in query.get("dryRun", []), "status": ev.get("responseStatus", {}).get("code"),
                "impersonated": bool(ev.get("impersonatedUser"))})
        return self._audit_entries

    def writes(self, since: int, user: str | None = "sandbox-admin") -> list[dict]:
        """Writes by `user` (default: the kubeconfig's admin, i.e. the test client; None: everyone, controllers
        included - they write as system:serviceaccount:kube-system:<name>-controller, kubelet, ...)."""
        return [e for e in self.audit(since) if e["method"] in ("POST", "PUT", "PATCH", "DELETE")
                and not e["dry_run"] and not e["path"].startswith("/sandbox/")
                and (user is None or e.get("user") == user)]

    # -- faults and controller knobs (sandbox/faults.py, sandbox/controllers/__init__.py) --
    def _admin(self, method: str, path: str, body: dict | None = None) -> dict:
        if self.is_kube:
            raise EmulatorOnly(f"{method} {path}: only the emulator has this knob; mark the test emulator_only")
        code, _, data = self.request(method, path, json.dumps(body).encode() if body is not None else None)
        if code >= 300:
            raise AssertionError(f"{method} {path} -> {code}: {data[:500]!r}")
        return json.loads(data)

    def fault(self, path_regex: str = "", status: int = 503, *, method: str | list = "*", count: int = 1,
              retry_after: int | None = None, drop: bool = False, user: str | None = None) -> dict:
        """The next `count` requests matching answer `status` (429 gets Retry-After) or are dropped."""
        return self._admin("POST", "/sandbox/v1/faults", {
            "path_regex": path_regex, "status": status, "method": method, "count": count,
            "retry_after": retry_after, "drop": drop, "user": user})

    def faults(self) -> list[dict]:
        return self._admin("GET", "/sandbox/v1/faults")["items"]

    def clear_faults(self) -> None:
        self._admin("DELETE", "/sandbox/v1/faults")

    def controller(self, name: str, **settings) -> dict:
        """Read or change a controller's settings, e.g. controller("deployment", delay=2.0)."""
        if settings:
            return self._admin("POST", f"/sandbox/v1/controllers/{name}", settings)
        return self._admin("GET", f"/sandbox/v1/controllers/{name}")

    def reconciled(self, controller: str, namespace: str, name: str) -> dict:
        """``{"reconciles": n, "resourceVersion": rv}``: how many reconcile calls of ``controller`` for the object
        have finished (namespace "" when cluster-scoped), and the newest resourceVersion of the object such a call
        began with. A test waits for them to know the controller has looked at a state of the object."""
        return self._admin("GET", f"/sandbox/v1/controllers/{controller}/{namespace or '-'}/{name}")

    def reconciles(self, controller: str, namespace: str, name: str) -> int:
        """How many reconcile calls of ``controller`` for the object have finished."""
        return self.reconciled(controller, namespace, name)["reconciles"]

    def register_endpoint(self, namespace: str, pod: str, container_port: int, port: int,
                          host: str = "127.0.0.1") -> None:
        """Tell the gateway that `pod`'s `container_port` really listens on host:port."""
        self._admin("POST", "/sandbox/v1/endpoints", {"namespace": namespace, "pod": pod,
                                                      "containerPort": container_port, "host": host, "port": port})

    # -- conveniences for tests --
    def _get(self, path: str) -> dict:
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})  # noqa: S310
        with urllib.request.urlopen(req, context=self._ssl, timeout=30) as r:  # noqa: S310 - https only
            return json.load(r)

    def request(self, method: str, path: str, body: bytes | None = None, *, content_type: str = "application/json",
                token: str | None = None, accept: str = "application/json", timeout: float = 30):
        """(status, headers, body bytes) for any request, errors included."""
        headers = {"Content-Type": content_type, "Accept": accept}
        tok = self.token if token is None else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        req = urllib.request.Request(self.server + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=timeout) as r:  # noqa: S310
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api_client(self, token: str | None = None):
        from kubernetes import client, config
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        if token is not None:
            cfg.api_key = {"BearerToken": f"Bearer {token}"}
            cfg.refresh_api_key_hook = None
        return client.ApiClient(cfg)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60,
                kubeconfig: str | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, KUBECONFIG=kubeconfig or self.kubeconfig,
                   KUBECACHEDIR=os.path.join(self.dir, "kubectl-cache"))
        proc = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


def control_plane() -> str:
    """The control plane the collection's tests run on: $MLOPS_CONTROL_PLANE, emulator by default."""
    return os.environ.get("MLOPS_CONTROL_PLANE", "emulator")


@contextlib.contextmanager
def running_sandbox(tmp_path_factory, name: str = "sandbox", control_plane: str = "emulator",
                    nodes: int | None = None):
    """A fresh sandbox in a new temporary directory, stopped on exit (for session fixtures of test trees
    that must not share cluster state with others; `nodes`: simulated nodes on the emulator)."""
    directory = str(tmp_path_factory.mktemp(name))
    info = cli.start(directory, snapshot=False, control_plane=control_plane, owner=os.getpid(), nodes=nodes)
    try:
        yield SandboxHandle(info)
    finally:
        cli.stop(directory)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with running_sandbox(tmp_path_factory) as handle:
        yield handle
