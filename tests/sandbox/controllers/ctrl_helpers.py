"""Fixtures for the controller / S3 / gateway / faults tests (the session `sandbox` comes from the plugin)."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml


class Kube:
    """Tiny JSON helpers over sandbox.request for one namespace."""

    def __init__(self, sandbox, ns: str):
        self.sb, self.ns = sandbox, ns

    def req(self, method, path, obj=None, content_type="application/json"):
        body = json.dumps(obj).encode() if obj is not None else None
        code, _, data = self.sb.request(method, path, body, content_type=content_type)
        try:
            return code, json.loads(data) if data else None
        except ValueError:
            return code, data.decode(errors="replace")

    def get(self, path):
        code, body = self.req("GET", path)
        return body if code == 200 else None

    def apply(self, manifest: str):
        return self.sb.kubectl("apply", "-n", self.ns, "-f", "-", input=manifest)

    def kubectl(self, *args, **kw):
        return self.sb.kubectl("-n", self.ns, *args, **kw)

    def json(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def events(self, name: str | None = None) -> list[dict]:
        items = self.json("events")["items"]
        return [e for e in items if name is None or e["involvedObject"]["name"] == name]


@pytest.fixture
def kube(sandbox, ns):
    return Kube(sandbox, ns)


@pytest.fixture
def fresh_ns(sandbox):
    """A namespace the test deletes itself."""
    name = "n-" + uuid.uuid4().hex[:8]
    sandbox.kubectl("create", "namespace", name)
    yield name
    sandbox.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25", annotations: dict | None = None) -> str:
    tpl_meta: dict = {"labels": {"app": name}}
    if annotations:
        tpl_meta["annotations"] = annotations
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": tpl_meta, "spec": {"containers": [
                     {"name": "main", "image": image, "ports": [{"containerPort": 8080, "name": "http"}]}]}}}})
