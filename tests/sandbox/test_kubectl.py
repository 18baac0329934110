"""Conformance with the real kubectl binary."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import yaml
from sbx import DATA

pytestmark = pytest.mark.sandbox

MULTI = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  key: s3cr3t
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env: [{name: A, value: "1"}]
        ports: [{containerPort: 8080}]
"""


def test_create_namespace_and_typed_creates(sandbox, ns):
    k = sandbox.kubectl
    k("-n", ns, "create", "configmap", "c1", "--from-literal=a=b")
    k("-n", ns, "create", "secret", "generic", "s1", "--from-literal=x=y")
    k("-n", ns, "create", "serviceaccount", "robot")
    k("-n", ns, "create", "deployment", "d1", "--image=nginx", "--replicas=3")
    token = k("-n", ns, "create", "token", "robot").stdout.strip()
    assert token.count(".") == 2
    secret = json.loads(k("-n", ns, "get", "secret", "s1", "-o", "json").stdout)
    assert secret["type"] == "Opaque" and secret["data"] == {"x": "eQ=="}
    deploy = json.loads(k("-n", ns, "get", "deploy", "d1", "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
def test_apply_multi_doc(sandbox, ns, tmp_path, server_side):
    f = tmp_path / "app.yaml"
    f.write_text(MULTI)
    args = ["-n", ns, "apply", "-f", str(f)] + (["--server-side"] if server_side else [])
    out = sandbox.kubectl(*args).stdout
    assert "configmap/settings" in out and "deployment.apps/web" in out
    again = sandbox.kubectl(*args).stdout
    assert ("unchanged" in again) or ("serverside-applied" in again)
    cm = json.loads(sandbox.kubectl("-n", ns, "get", "cm", "settings", "-o", "json", "--show-managed-fields").stdout)
    managers = {m["manager"] for m in cm["metadata"]["managedFields"]}
    assert managers == ({"kubectl"} if server_side else {"kubectl-client-side-apply"})
    # change one value and re-apply: the update is visible and generation follows spec changes
    f.write_text(MULTI.replace("replicas: 2", "replicas: 4").replace("mode: fast", "mode: slow"))
    sandbox.kubectl(*args)
    dep = yaml.safe_load(sandbox.kubectl("-n", ns, "get", "deploy", "web", "-o", "yaml").stdout)
    assert dep["spec"]["replicas"] == 4 and dep["metadata"]["generation"] == 2
    assert yaml.safe_load(sandbox.kubectl("-n", ns, "get", "cm", "settings", "-o", "yaml").stdout)["data"] == \
        {"mode": "slow"}


def test_get_output_formats(sandbox, ns, tmp_path):
    f = tmp_path / "app.yaml"
    f.write_text(MULTI)
    sandbox.kubectl("-n", ns, "apply", "-f", str(f))
    table = sandbox.kubectl("-n", ns, "get", "deploy,svc,cm,secret").stdout
    assert "READY" in table and "CLUSTER-IP" in table and "DATA" in table and "AGE" in table
    wide = sandbox.kubectl("-n", ns, "get", "deploy", "-o", "wide").stdout
    assert "IMAGES" in wide and "nginx:1.25" in wide and "app=web" in wide
    svc = json.loads(sandbox.kubectl("-n", ns, "get", "svc", "web", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["protocol"] == "TCP"
    names = sandbox.kubectl("-n", ns, "get", "cm", "-l", "app=web", "-o", "name").stdout.split()
    assert names == ["configmap/settings"]
    labels = sandbox.kubectl("-n", ns, "get", "cm", "--show-labels").stdout
    assert "app=web" in labels
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"}, "type": "Normal",
             "reason": "Tested", "message": "hello from the test", "involvedObject": {"kind": "Deployment",
                                                                                     "name": "web"}}
    sandbox.kubectl("-n", ns, "create", "-f", "-", input=json.dumps(event))
    events = sandbox.kubectl("-n", ns, "get", "events").stdout.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("deployment/web" in line and "hello from the test" in line for line in events[1:])
    assert "web.1" in sandbox.kubectl("-n", ns, "get", "events", "-o", "wide").stdout


def test_label_annotate_patch(sandbox, ns):
    k = sandbox.kubectl
    k("-n", ns, "create", "configmap", "c", "--from-literal=a=1")
    k("-n", ns, "create", "deployment", "d", "--image=nginx")
    k("-n", ns, "label", "cm", "c", "tier=gold")
    k("-n", ns, "annotate", "cm", "c", "note=hello")
    k("-n", ns, "patch", "cm", "c", "--type=merge", "-p", '{"data":{"b":"2"}}')
    k("-n", ns, "patch", "cm", "c", "--type=json", "-p", '[{"op":"remove","path":"/data/a"}]')
    k("-n", ns, "patch", "deploy", "d", "-p",
      '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}')
    cm = json.loads(k("-n", ns, "get", "cm", "c", "-o", "json").stdout)
    assert cm["metadata"]["labels"] == {"tier": "gold"}
    assert cm["metadata"]["annotations"] == {"note": "hello"}
    assert cm["data"] == {"b": "2"}
    d = json.loads(k("-n", ns, "get", "deploy", "d", "-o", "json").stdout)
    assert [c["image"] for c in d["spec"]["template"]["spec"]["containers"]] == ["nginx:2"]
    bad = k("-n", ns, "patch", "cm", "missing", "-p", '{"data":{}}', check=False)
    assert bad.returncode != 0 and "NotFound" in bad.stderr


def test_wait_for_condition_and_delete(sandbox, ns):
    k = sandbox.kubectl
    k("-n", ns, "create", "deployment", "d", "--image=nginx")

    def make_available():
        time.sleep(0.5)
        status = {"status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1, "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}}
        k("-n", ns, "patch", "deploy", "d", "--subresource=status", "--type=merge", "-p", json.dumps(status))

    t = threading.Thread(target=make_available)
    t.start()
    k("-n", ns, "wait", "--for=condition=Available", "deploy/d", "--timeout=20s")
    t.join()
    assert "1/1" in k("-n", ns, "get", "deploy", "d").stdout
    k("-n", ns, "create", "configmap", "gone", "--from-literal=a=1")
    k("-n", ns, "delete", "cm", "gone", "--wait")
    assert "NotFound" in k("-n", ns, "get", "cm", "gone", check=False).stderr
    k("-n", ns, "create", "configmap", "held", "--from-literal=a=1")
    k("-n", ns, "patch", "cm", "held", "--type=merge", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    k("-n", ns, "delete", "cm", "held", "--wait=false")
    waiter = threading.Thread(target=lambda: (time.sleep(0.5), k(
        "-n", ns, "patch", "cm", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')))
    waiter.start()
    k("-n", ns, "wait", "--for=delete", "cm/held", "--timeout=20s")
    waiter.join()


def test_api_resources_and_discovery(sandbox):
    out = sandbox.kubectl("api-resources").stdout
    for needle in ("deployments", "customresourcedefinitions", "leases", "selfsubjectaccessreviews",
                   "storageclasses", "ingresses", "rolebindings", "cronjobs"):
        assert needle in out
    namespaced = sandbox.kubectl("api-resources", "--namespaced=true", "-o", "name").stdout.split()
    assert "pods" in namespaced and "deployments.apps" in namespaced
    assert "namespaces" not in namespaced and "clusterroles.rbac.authorization.k8s.io" not in namespaced
    versions = sandbox.kubectl("api-versions").stdout.split()
    assert "apps/v1" in versions and "v1" in versions
    assert "Server Version" in sandbox.kubectl("version").stdout
    assert sandbox.kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"


def test_crd_with_kubectl(sandbox, ns):
    k = sandbox.kubectl
    k("apply", "-f", os.path.join(DATA, "crd.yaml"))
    k("wait", "--for=condition=Established", "crd/modeldeployments.example.mlops.io", "--timeout=20s")
    k("-n", ns, "apply", "-f", os.path.join(DATA, "cr.yaml"))
    table = k("-n", ns, "get", "mdep").stdout
    assert "MODEL" in table and "s3://models/iris" in table and "REPLICAS" in table
    explain = k("explain", "modeldeployment.spec").stdout
    assert "modelUri" in explain and "Where the model artifact lives" in explain
    k("-n", ns, "scale", "mdep", "iris", "--replicas=5")
    assert json.loads(k("-n", ns, "get", "mdep", "iris", "-o", "json").stdout)["spec"]["replicas"] == 5
    k("-n", ns, "patch", "mdep", "iris", "--subresource=status", "--type=merge", "-p",
      '{"status":{"state":"Available"}}')
    k("-n", ns, "wait", "--for=jsonpath={.status.state}=Available", "mdep/iris", "--timeout=10s")
    smp = k("-n", ns, "patch", "mdep", "iris", "-p", '{"spec":{"replicas":1}}', check=False)
    assert (smp.returncode != 0 and "UnsupportedMediaType" in smp.stderr) or "strategic" in smp.stderr
    k("-n", ns, "apply", "--server-side", "-f", os.path.join(DATA, "cr.yaml"), "--force-conflicts")
    assert "iris" in k("get", "all", "-n", ns).stdout
