"""Every built-in resource of kube-apiserver v1.37 in the emulator's discovery, and one object of each of the kinds
with no controller created, read, listed and printed as the real server prints it. The references were read from the
real control plane (sandbox/kube): data/discovery_v1.37.json (GET /api/v1, /apis, /apis/<gv>) and
data/tables_v1.37.json (as=Table lists after `kubectl create -f data/builtin_samples.yaml`)."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from sbx import call, wait_for

pytestmark = pytest.mark.sandbox

DATA = os.path.join(os.path.dirname(__file__), "data")


def _read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


REAL = json.loads(_read("discovery_v1.37.json"))
TABLES = json.loads(_read("tables_v1.37.json"))["tables"]
SAMPLES = [d for d in yaml.safe_load_all(_read("builtin_samples.yaml")) if d]

# not served by the emulator, with the reason
NOT_SERVED = {
    "v1": {"pods/attach", "pods/exec", "pods/portforward",  # streaming: pods are local processes
           "pods/ephemeralcontainers", "pods/resize"},
}

# table cells that a controller of the real control plane fills in; the emulator runs none for these kinds
CONTROLLER_CELLS = {("FlowSchema", "MissingPL"): "the API priority and fairness controller sets `Dangling`",
                    ("StorageVersionMigration", "Status"): "kube-controller-manager runs the migration"}


def _path(gv: str) -> str:
    return "/api/v1" if gv == "v1" else f"/apis/{gv}"


def test_discovery_serves_every_real_resource(sandbox):
    code, groups = call(sandbox, "GET", "/apis")
    assert code == 200
    real_names = {g[0] for g in REAL["groups"]}  # (CRDs of other tests add groups)
    assert [[g["name"], [v["version"] for v in g["versions"]], g["preferredVersion"]["version"]]
            for g in groups["groups"] if g["name"] in real_names] == REAL["groups"]
    for gv, resources in REAL["resources"].items():
        code, doc = call(sandbox, "GET", _path(gv))
        assert code == 200, gv
        ours = {r["name"]: r for r in doc["resources"]}
        missing = set(resources) - set(ours) - NOT_SERVED.get(gv, set())
        assert not missing, (gv, missing)
        assert not set(ours) - set(resources), (gv, "served but not by the real server")
        for name, real in resources.items():
            if name not in ours:
                continue
            keys = (set(real) | set(ours[name])) - {"name"}  # (the key of the reference)
            assert {k: ours[name].get(k) for k in keys} == {k: real.get(k) for k in keys}, (gv, name)


def test_kubectl_api_resources_lists_the_new_kinds(sandbox):
    out = sandbox.kubectl("api-resources", "--no-headers").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["replicationcontrollers"][1:] == ["rc", "v1", "true", "ReplicationController"]
    assert rows["horizontalpodautoscalers"][1:] == ["hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"]
    assert rows["networkpolicies"][1:] == ["netpol", "networking.k8s.io/v1", "true", "NetworkPolicy"]
    assert rows["controllerrevisions"][1:] == ["apps/v1", "true", "ControllerRevision"]
    assert rows["validatingadmissionpolicies"][1:] == ["admissionregistration.k8s.io/v1", "false",
                                                       "ValidatingAdmissionPolicy"]


def _plural(doc: dict) -> tuple[str, str, dict]:
    gv = doc["apiVersion"]
    real = next(r for name, r in REAL["resources"][gv].items() if "/" not in name and r["kind"] == doc["kind"])
    return gv, next(n for n, r in REAL["resources"][gv].items() if r is real), real


@pytest.mark.parametrize("doc", SAMPLES, ids=lambda d: f"{d['kind']}.{d['apiVersion']}")
def test_create_get_list_and_table(sandbox, doc):
    gv, plural, real = _plural(doc)
    doc = json.loads(json.dumps(doc))
    ns = "default" if real["namespaced"] else None
    if ns is None:
        doc["metadata"].pop("namespace", None)
    base = _path(gv) + (f"/namespaces/{ns}" if ns else "") + f"/{plural}"
    name = doc["metadata"]["name"]
    call(sandbox, "DELETE", f"{base}/{name}")
    code, created = call(sandbox, "POST", base, doc)
    assert code == 201, json.dumps(created)
    assert created["kind"] == doc["kind"] and created["apiVersion"] == gv and created["metadata"]["uid"]
    code, got = call(sandbox, "GET", f"{base}/{name}")
    assert code == 200 and got["metadata"]["uid"] == created["metadata"]["uid"]
    code, listed = call(sandbox, "GET", base)
    assert code == 200 and listed["kind"] == doc["kind"] + "List"
    assert name in [o["metadata"]["name"] for o in listed["items"]]
    code, _, body = sandbox.request("GET", base, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    table = json.loads(body)
    want = TABLES[f"{'' if gv == 'v1' else gv.split('/')[0]}/{gv.split('/')[-1]}/{plural}"]
    assert [[c["name"], c["type"], c["format"], c["priority"]] for c in table["columnDefinitions"]] == \
        want["columns"]
    row = next(r["cells"] for r in table["rows"] if r["object"]["metadata"]["name"] == name)
    ages = {i for i, c in enumerate(want["columns"])
            if c[0] in ("Age", "Created At") or (doc["kind"], c[0]) in CONTROLLER_CELLS}
    strip = lambda cells: [c for i, c in enumerate(cells[:len(want["columns"])]) if i not in ages]  # noqa: E731
    assert strip(row) == strip(want["rows"][name])
    assert call(sandbox, "DELETE", f"{base}/{name}")[0] == 200


def test_kubectl_autoscale_and_the_v1_view(sandbox, ns):
    sandbox.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:1")
    sandbox.kubectl("-n", ns, "autoscale", "deployment", "web", "--min=2", "--max=3", "--cpu-percent=50")  # protobuf
    out = sandbox.kubectl("-n", ns, "get", "hpa", "web", "--no-headers").stdout.split()
    assert out[:6] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "2", "3"]
    code, v2 = call(sandbox, "GET", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web")
    assert code == 200 and v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]
    code, v1 = call(sandbox, "GET", f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers/web")
    assert v1["apiVersion"] == "autoscaling/v1" and v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert v1["metadata"]["uid"] == v2["metadata"]["uid"] and "metrics" not in v1["spec"]


def test_local_apiservices_and_componentstatuses(sandbox):
    rows = sandbox.kubectl("get", "apiservices", "--no-headers").stdout.splitlines()
    names = [r.split()[0] for r in rows]
    assert names[:2] == ["v1.", "v1.admissionregistration.k8s.io"] and "v2.autoscaling" in names
    assert all(r.split()[1:3] == ["Local", "True"] for r in rows)
    out = sandbox.kubectl("get", "componentstatuses", "--no-headers").stdout
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["controller-manager", "Healthy", "ok"], ["etcd-0", "Healthy", "ok"], ["scheduler", "Healthy", "ok"]]


def test_legacy_bindings_resource_is_the_pod_binding(sandbox, ns):
    """POST .../bindings is pods/<name>/binding (the sandbox's kubelet binds pods at once: a second binding is the
    real 409)."""
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
    assert call(sandbox, "POST", f"/api/v1/namespaces/{ns}/pods", pod)[0] == 201
    node = wait_for(lambda: call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods/p")[1]["spec"].get("nodeName"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node",
                                                                                          "name": "n1"}}
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/bindings", binding)
    assert code == 409 and body["message"] == \
        f'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "{node}"'
    binding["metadata"]["name"] = "nope"
    code, body = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/bindings", binding)
    assert code == 404 and body["message"] == 'pods "nope" not found'


def test_kubectl_certificate_approve(sandbox):
    """kubectl certificate approve: a protobuf PUT of the approval subresource, which changes only the conditions."""
    doc = json.loads(json.dumps(next(d for d in SAMPLES if d["kind"] == "CertificateSigningRequest")))
    doc["metadata"]["name"] = "csr-approve"
    base = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    call(sandbox, "DELETE", f"{base}/csr-approve")
    assert call(sandbox, "POST", base, doc)[0] == 201
    sandbox.kubectl("certificate", "approve", "csr-approve")
    csr = call(sandbox, "GET", f"{base}/csr-approve")[1]
    (cond,) = csr["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Approved", "True", "KubectlApprove")
    assert cond["message"] == "This CSR was approved by kubectl certificate approve."
    assert cond["lastUpdateTime"] and csr["spec"]["request"] == doc["spec"]["request"]
    assert csr["spec"]["username"] == "sandbox-admin" and csr["spec"]["signerName"] == "example.com/signer"
    row = sandbox.kubectl("get", "csr", "csr-approve", "--no-headers").stdout.split()
    assert row[-1] == "Approved"
    code, _ = call(sandbox, "GET", f"{base}/csr-approve/approval")
    assert code == 200
