"""In-process controllers (component "sandbox.controllers:component"): the simulated nodes (a Node object and
its heartbeat Lease each: sandbox-node, sandbox-node-2, ... as many as `sandbox.nodes`), kubelet/scheduler, Deployment,
ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, Endpoints, PersistentVolume binder + hostpath provisioner, pod
logs. Runner/endpoint hooks for later components: sandbox/controllers/runtime.py.

Admin endpoints (admin token only):
  GET  /sandbox/v1/controllers                 -> {"items": [{"name", "delay", ...settings, "errors", "queued"}]}
  POST /sandbox/v1/controllers/<name>          {"delay": 2.0, "ready_delay": ...} -> the controller's settings
  GET  /sandbox/v1/controllers/<name>/<namespace>/<object>
                                               -> {"namespace", "name", "reconciles": finished reconcile calls,
                                                   "resourceVersion": the newest one such a call began with}
                                                  ("-" is the namespace of a cluster-scoped object)
  GET  /sandbox/v1/endpoints                   -> {"items": [{"namespace", "pod", "containerPort", "host", "port"}]}
  POST /sandbox/v1/endpoints                   {"namespace", "pod", "containerPort", "host", "port"}
  DELETE /sandbox/v1/endpoints/<ns>/<pod>
"""

from __future__ import annotations

import json
import logging

from ..machinery.errors import ApiError, bad_request
from .apps import DeploymentController, ReplicaSetController
from .base import VERSION
from .batch import CronJobController, JobController
from .daemonset import DaemonSetController
from .logs import PodLogs
from .network import EndpointsController
from .node import NodeAgent, node_names
from .pods import Kubelet
from .runtime import endpoints_registry, pod_runners
from .statefulset import StatefulSetController
from .storage import PersistentVolumeController

log = logging.getLogger("sandbox.controllers")
CONTROLLERS = (Kubelet, PersistentVolumeController, ReplicaSetController, DeploymentController,
               StatefulSetController, DaemonSetController, JobController, CronJobController, EndpointsController)


def _json(req) -> dict:
    try:
        data = json.loads(req.body or b"{}")
    except ValueError as e:
        raise bad_request(f"invalid JSON: {e}") from e
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object")
    return data


def _resp(code: int, body):
    from ..machinery.http import Response
    return Response(code, body)


class ControllerManager:
    def __init__(self, sandbox):
        self.sb = sandbox
        pod_runners(sandbox)
        endpoints_registry(sandbox)
        self.controllers = [c(sandbox, self) for c in CONTROLLERS]
        self.nodes = [NodeAgent(sandbox, name=n, version=VERSION) for n in node_names(getattr(sandbox, "nodes", 1))]
        sandbox.controllers = {c.name: c for c in self.controllers}

    def start(self) -> None:
        self.sb.app.pod_logs = PodLogs(self.sb)
        self.sb.app.dial = self._dial
        self.sb.app.admin_routes["/sandbox/v1/controllers"] = self._controllers_route
        self.sb.app.admin_routes["/sandbox/v1/endpoints"] = self._endpoints_route
        for node in self.nodes:   # registered before the scheduler looks for them
            node.start()
        for c in self.controllers:
            c.start()

    def stop(self) -> None:
        for c in reversed(self.controllers):
            try:
                c.stop()
            except Exception:
                log.exception("stopping %s", c.name)
        for node in self.nodes:
            node.stop()

    def _dial(self, namespace: str, pod: str, ip: str, port: int) -> tuple[str, int]:
        """Where a pod's port really listens: the runner's registered address, else the pod IP itself."""
        return (self.sb.endpoints_registry.lookup(namespace, pod, port) if pod else None) or (ip, port)

    def _controllers_route(self, req):
        parts = req.path.rstrip("/").split("/")[4:]
        if not parts:
            return _resp(200, {"items": [c.describe() for c in self.controllers]})
        c = self.sb.controllers.get(parts[0])
        if c is None:
            raise ApiError(404, f'controller "{parts[0]}" not found (known: {sorted(self.sb.controllers)})',
                           "NotFound")
        if req.method == "GET" and len(parts) == 3:
            ns = "" if parts[1] == "-" else parts[1]
            key = (ns, parts[2])
            return _resp(200, {"namespace": ns, "name": parts[2], "reconciles": c.reconciles.get(key, 0),
                               "resourceVersion": str(c.reconciled_versions.get(key, 0))})
        if req.method == "GET":
            return _resp(200, c.describe())
        if req.method not in ("POST", "PUT", "PATCH"):
            raise ApiError(405, "method not allowed", "MethodNotAllowed")
        try:
            return _resp(200, c.configure(_json(req)))
        except (TypeError, ValueError) as e:
            raise bad_request(str(e)) from e

    def _endpoints_route(self, req):
        reg = self.sb.endpoints_registry
        if req.method == "GET":
            return _resp(200, {"items": reg.items()})
        if req.method == "POST":
            d = _json(req)
            try:
                reg.register(str(d["namespace"]), str(d["pod"]), int(d["containerPort"]), str(d.get("host",
                                                                                                     "127.0.0.1")),
                             int(d["port"]))
            except (KeyError, TypeError, ValueError) as e:
                raise bad_request(f"need namespace, pod, containerPort, port (and host): {e}") from e
            return _resp(201, {"items": reg.items()})
        if req.method == "DELETE":
            parts = req.path.rstrip("/").split("/")[4:]
            if len(parts) != 2:
                raise bad_request("DELETE /sandbox/v1/endpoints/<namespace>/<pod>")
            reg.unregister_pod(parts[0], parts[1])
            return _resp(200, {"items": reg.items()})
        raise ApiError(405, "method not allowed", "MethodNotAllowed")


def component(sandbox) -> ControllerManager:
    return ControllerManager(sandbox)
