"""The sandbox's MinIO pod runner (sandbox/objectstore.py), its NodePorts (sandbox/gateway/nodeports.py) and the
resolution of a Service's cluster DNS name for the storage initializer (sandbox.gateway.resolve_service_url)."""

from __future__ import annotations

import pathlib
import types

import pytest

from sandbox import objectstore
from sandbox.gateway import NoUpstream, resolve_service_url
from sandbox.gateway.nodeports import NodePorts

ROOT = pathlib.Path(__file__).resolve().parents[3] / "sandbox"


@pytest.mark.parametrize(("image", "args", "expected"), [
    ("quay.io/minio/minio:RELEASE.2024-05-10T01-41-38Z", ["server", "/data"], True),
    ("minio/minio", ["server", "/data"], True),
    ("registry.local:5000/minio/minio@sha256:" + "0" * 64, ["server", "/data"], True),
    ("quay.io/minio/minio:RELEASE.2024-05-10T01-41-38Z", ["gateway", "s3"], False),
    ("quay.io/minio/mc:latest", ["server"], False),
    ("bitnami/minio-client", ["server"], False),
    ("example.com/notminio/minio:1", ["server"], False),
])
def test_minio_container_is_recognised(image, args, expected):
    assert objectstore.is_minio_container({"image": image, "args": args}) is expected


def test_the_runner_takes_only_pods_whose_containers_are_all_minio():
    runner = objectstore.MinioRunner(types.SimpleNamespace())
    minio = {"name": "minio", "image": "quay.io/minio/minio:RELEASE.2024-05-10T01-41-38Z", "args": ["server", "/d"]}
    assert runner.matches({"spec": {"containers": [minio]}})
    assert not runner.matches({"spec": {"containers": [minio, {"name": "side", "image": "busybox"}]}})
    assert not runner.matches({"spec": {"containers": []}})


@pytest.mark.parametrize(("container", "port"), [
    ({"args": ["server", "/data", "--address", ":9100"]}, 9100),
    ({"args": ["server", "/data", "--address=0.0.0.0:9200"]}, 9200),
    ({"args": ["server", "/data"], "ports": [{"name": "console", "containerPort": 9001},
                                             {"name": "api", "containerPort": 9300}]}, 9300),
    ({"args": ["server", "/data"]}, 9000),
])
def test_s3_port(container, port):
    assert objectstore.s3_port(container) == port


def test_objectstore_does_not_import_the_emulator():
    text = (ROOT / "objectstore.py").read_text(encoding="utf-8")
    assert "apiserver" not in text


class _Store:
    def __init__(self, services):
        self.services = services

    def list(self, key, namespace=None):
        return self.services, "1"


def _svc(name, stype, ports, deleting=False):
    meta = {"name": name, "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T00:00:00Z"
    return {"metadata": meta, "spec": {"type": stype, "ports": ports}}


def test_nodeports_wanted_lists_only_node_ports():
    gw = types.SimpleNamespace(store=_Store([
        _svc("a", "NodePort", [{"port": 9000, "nodePort": 31000}, {"port": 53, "nodePort": 31001, "protocol": "UDP"}]),
        _svc("b", "ClusterIP", [{"port": 80}]),
        _svc("c", "LoadBalancer", [{"port": 80, "nodePort": 31002}]),
        _svc("d", "NodePort", [{"port": 80, "nodePort": 31003}], deleting=True),
    ]))
    assert NodePorts(gw).wanted() == {("ns", "a", 9000, 31000), ("ns", "c", 80, 31002)}


def test_resolve_service_url_leaves_other_urls_alone():
    sb = types.SimpleNamespace()
    for url in ("http://127.0.0.1:9000", "https://s3.amazonaws.com", "http://minio:9000"):
        assert resolve_service_url(sb, url) == url


def test_resolve_service_url_maps_a_cluster_name_to_a_backend():
    calls = []

    class _Gw:
        _rr = iter(range(100))

        def backends(self, mp):
            calls.append((mp.service, mp.namespace))
            return [("http", "127.0.0.1", 40123)]

    sb = types.SimpleNamespace(gateway=_Gw())
    assert resolve_service_url(sb, "http://minio.store.svc.cluster.local:9000/models?x=1") == \
        "http://127.0.0.1:40123/models?x=1"
    assert resolve_service_url(sb, "http://minio.store.svc:9000") == "http://127.0.0.1:40123"
    assert calls == [("minio.store:9000", "store"), ("minio.store:9000", "store")]


def test_resolve_service_url_refuses_an_unknown_cluster_name_without_dns():
    with pytest.raises(NoUpstream):
        resolve_service_url(types.SimpleNamespace(), "http://a.b.c.svc.cluster.local:9000")
    with pytest.raises(NoUpstream):
        resolve_service_url(types.SimpleNamespace(), "http://minio.store.svc:9000")   # no gateway
