"""The network rule on the real control plane: nothing it dials may leave 127.0.0.0/8.

`hack/test.sh kube` runs these tests inside a private network namespace with only loopback (MLOPS_SEALED_NETNS=1);
the API server always runs with --enable-aggregator-routing=true, so it dials a webhook at its Service's
endpoints, and with no endpoints it fails at once instead of dialling the ClusterIP."""

from __future__ import annotations

import errno
import json
import os
import socket
import time

import pytest

pytestmark = pytest.mark.kube
sealed = pytest.mark.skipif(os.environ.get("MLOPS_SEALED_NETNS") != "1",
                            reason="needs the private network namespace that `hack/test.sh kube` makes as root")


@sealed
def test_only_loopback_exists():
    names = [name for _index, name in socket.if_nameindex()]  # this network namespace's interfaces (not sysfs's)
    assert names == ["lo"], names


@sealed
def test_a_cluster_ip_cannot_be_dialled():
    with socket.socket() as s:
        s.settimeout(2)
        t0 = time.monotonic()
        code = s.connect_ex(("10.96.0.1", 443))
        assert code in (errno.ENETUNREACH, errno.EHOSTUNREACH), os.strerror(code)
        assert time.monotonic() - t0 < 1.0


def test_aggregator_routing_is_on(kube):
    with open(os.path.join(kube.dir, "sandbox.json"), encoding="utf-8") as f:
        pid = json.load(f)["processes"]["kube-apiserver"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().split(b"\0")
    assert b"--enable-aggregator-routing=true" in args
    assert b"--advertise-address=127.0.0.1" in args and b"--bind-address=127.0.0.1" in args


def test_webhook_without_endpoints_fails_at_once(kube):
    """A validating webhook whose Service has no endpoints: the write fails at once with the real server's
    `no endpoints available for service` error (it is never dialled at the ClusterIP)."""
    ns = "sealed-webhook"
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("label", "namespace", ns, "sealed-check=yes")
    kube.kubectl("-n", ns, "create", "service", "clusterip", "hook", "--tcp=443:8443")
    hook = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "sealed-check"},
        "webhooks": [{
            "name": "sealed-check.mlops.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "timeoutSeconds": 5,
            "namespaceSelector": {"matchLabels": {"sealed-check": "yes"}},
            "clientConfig": {"service": {"namespace": ns, "name": "hook", "port": 443, "path": "/validate"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["configmaps"]}]}]}
    kube.kubectl("apply", "-f", "-", input=json.dumps(hook))
    try:
        out = kube.kubectl("-n", ns, "create", "configmap", "x", "--from-literal=a=b", check=False)
        assert out.returncode != 0
        assert "no endpoints available for service" in out.stderr, out.stderr
    finally:
        kube.kubectl("delete", "validatingwebhookconfiguration", "sealed-check")
