"""In-process components started after the API server (controllers, S3, gateway, ...).

Each entry is "package.module:factory". A factory is called with the running `sandbox.server.Sandbox`
and returns an object with `start()` and `stop()`. It may add `export` lines by updating `sandbox.env`
before `start()` returns, and it uses `sandbox.store.watch(...)` / `sandbox.objects` to act like a controller.
Components start in this order and stop in reverse.
"""

from __future__ import annotations

COMPONENTS: list[str] = [
    "sandbox.faults:component",        # POST/DELETE /sandbox/v1/faults (request hook)
    "sandbox.controllers:component",   # kubelet, deployments, statefulsets, jobs, endpoints, volumes, pod logs
    "sandbox.s3:component",            # moto S3 -> AWS_ENDPOINT_URL ...
    "sandbox.gateway:component",       # Ambassador-like gateway -> AMBASSADOR_URL
    "sandbox.seldon:component",        # Seldon Core v1 operator + model pod runner -> SANDBOX_SELDON_OPERATOR
    "sandbox.webhooks:component",      # emissary-apiext's CRD conversion webhook (pod runner)
    "sandbox.objectstore:component",   # quay.io/minio/minio pods as local S3 servers (pod runner)
    "sandbox.argo:component",          # Argo Workflows: controllers + step pod executor -> SANDBOX_ARGO_CONTROLLER
]
