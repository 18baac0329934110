"""The status a create returns: the registry strategies reset it (PrepareForCreate), and Go encodes the status
fields without `omitempty` even at zero (k8s.io/api apps/v1 and batch/v1 types)."""

from __future__ import annotations

import pytest
from sbx import call

pytestmark = pytest.mark.sandbox

TEMPLATE = {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}}
SPEC = {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}

CASES = [
    ("apis/apps/v1", "statefulsets", "StatefulSet", {**SPEC, "serviceName": "x", "replicas": 0},
     {"replicas": 0, "availableReplicas": 0}),
    ("apis/apps/v1", "daemonsets", "DaemonSet", SPEC,
     {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
    ("apis/apps/v1", "replicasets", "ReplicaSet", {**SPEC, "replicas": 0}, {"replicas": 0}),
    ("apis/apps/v1", "deployments", "Deployment", {**SPEC, "replicas": 0}, {}),
    ("apis/batch/v1", "jobs", "Job", {"suspend": True, "template": {**TEMPLATE, "spec": {
        **TEMPLATE["spec"], "restartPolicy": "Never"}}}, {}),
]


@pytest.mark.parametrize(("prefix", "plural", "kind", "spec", "expected"), CASES, ids=[c[2] for c in CASES])
def test_status_returned_on_create(sandbox, ns, prefix, plural, kind, spec, expected):
    body = {"apiVersion": prefix.removeprefix("apis/"), "kind": kind, "metadata": {"name": "x"}, "spec": spec,
            # whatever a client sends as status is dropped on create
            "status": {"replicas": 7, "observedGeneration": 9}}
    code, out = call(sandbox, "POST", f"/{prefix}/namespaces/{ns}/{plural}", body)
    assert code == 201, out
    assert out["status"] == expected
    # the server's zero fields are nobody's: the creator owns no status field
    for entry in out["metadata"].get("managedFields") or []:
        assert "f:status" not in (entry.get("fieldsV1") or {}), entry
