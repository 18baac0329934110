"""The Argo step-pod executor (sandbox/argo/executor.py) on its own: pods made here as the workflow controller makes
them (docs/dev/argo.md: labels, annotations, `main` + `wait`, ARGO_TEMPLATE, ...) but owned by no Workflow, so the
controller leaves them alone; asserts on pod status, container logs and the WorkflowTaskResult."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from argo_helpers import EXECUTOR_IMAGE, GROUP, call, submit, wait_phase
from sbx import wait_for

from sandbox.argo import common
from sandbox.argo.executor import apply_patch

pytestmark = pytest.mark.sandbox
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def step_pod(ns: str, template: dict, main: dict, *, sa: str = "default", volumes=(), deadline=None) -> dict:
    """Create a step pod for `template` (container/script/resource) with `main` as its main container."""
    wf = "hand-" + uuid.uuid4().hex[:6]          # no such Workflow: the controller does not touch the pod
    node_name = f"{wf}[0].{template['name']}"
    node_id = common.node_id(wf, node_name)
    name = common.pod_name(wf, node_name, template["name"])
    env = [{"name": common.ENV_TEMPLATE, "value": json.dumps(template)},
           {"name": common.ENV_NODE_ID, "value": node_id}, {"name": common.ENV_POD_NAME, "value": name},
           {"name": common.ENV_WORKFLOW_NAME, "value": wf}]
    main = dict(main, name="main", env=[*env, *main.get("env", [])])
    spec = {"restartPolicy": "Never", "serviceAccountName": sa, "volumes": list(volumes),
            "containers": [{"name": "wait", "image": EXECUTOR_IMAGE, "command": ["argoexec", "wait"], "env": env},
                           main]}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    pod = {"metadata": {"name": name, "labels": {common.LABEL_WORKFLOW: wf, common.LABEL_COMPLETED: "false"},
                        "annotations": {common.ANN_NODE_ID: node_id, common.ANN_NODE_NAME: node_name}},
           "spec": spec}
    return pod


def create(sandbox, ns: str, pod: dict) -> dict:
    code, out = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert code == 201, out
    return out


def pod_get(sandbox, ns, name) -> dict:
    return call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods/{name}")[1]


def finished(sandbox, ns, name, timeout=60) -> dict:
    def done():
        p = pod_get(sandbox, ns, name)
        return p if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None
    return wait_for(done, timeout, what=f"pod {ns}/{name} to finish")


def logs(sandbox, ns, name, container="main") -> str:
    code, _, out = sandbox.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}/log?container={container}")
    assert code == 200, out
    return out.decode()


def task_result(sandbox, ns, pod) -> dict:
    node_id = pod["metadata"]["annotations"][common.ANN_NODE_ID]
    code, out = call(sandbox, "GET", f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/workflowtaskresults/{node_id}")
    assert code == 200, out
    return out


def states(pod: dict) -> dict:
    return {c["name"]: c["state"] for c in pod["status"]["containerStatuses"]}


def params(result: dict) -> dict:
    return {p["name"]: p["value"] for p in result["outputs"].get("parameters") or []}


def allow(sandbox, ns, resources, verbs=("get", "create", "patch", "update", "delete")):
    name = "allow-" + uuid.uuid4().hex[:6]
    call(sandbox, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
        "metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": list(resources), "verbs": list(verbs)}]})
    call(sandbox, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})


def container_template(name, outputs=None, **container):
    return {"name": name, "container": container, "outputs": outputs or {}}


# ---------------------------------------------------------------------------------------------------------------------
def test_python_container_writes_an_output_file_on_a_pvc(sandbox, argo_ns):
    ns = argo_ns
    call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cfg"}, "data": {"lr": "0.1"}})
    code, _ = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
        "metadata": {"name": "work"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                              "resources": {"requests": {"storage": "1Gi"}}}})
    assert code == 201
    code_py = ("import os, sys; open('/mnt/work/model.txt', 'w').write('lr=' + os.environ['LR'] + '\\n'); "
               "print('trained in', os.environ['POD'], 'by', sys.executable)")
    outputs = {"parameters": [{"name": "model", "valueFrom": {"path": "/mnt/work/model.txt"}},
                              {"name": "missing", "valueFrom": {"path": "/tmp/nothing", "default": "none"}}]}
    main = {"image": "python:3.11-slim", "command": ["python", "-c", code_py],
            "volumeMounts": [{"name": "work", "mountPath": "/mnt/work"}],
            "env": [{"name": "LR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "lr"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    mark = sandbox.audit_mark()
    pod = create(sandbox, ns, step_pod(ns, container_template("train", outputs, **main), main,
                                       volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "work"}}]))
    name = pod["metadata"]["name"]
    done = finished(sandbox, ns, name)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    st = states(done)
    assert st["main"]["terminated"]["exitCode"] == 0 and st["main"]["terminated"]["reason"] == "Completed"
    assert st["wait"]["terminated"]["exitCode"] == 0
    # the sandbox's own interpreter is `python` in the container
    # (compared here, not through the container's env: values under /tmp are mapped into the pod's root there)
    assert f"trained in {name} by {sys.executable}" in logs(sandbox, ns, name)

    result = task_result(sandbox, ns, pod)
    assert params(result) == {"model": "lr=0.1", "missing": "none"}
    assert result["outputs"]["exitCode"] == "0" and "result" not in result["outputs"]
    assert result["metadata"]["labels"] == {common.LABEL_WORKFLOW: pod["metadata"]["labels"][common.LABEL_WORKFLOW],
                                            common.LABEL_REPORT_OUTPUTS_COMPLETED: "true"}
    assert result["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    assert f"reported WorkflowTaskResult {ns}/{result['metadata']['name']}" in logs(sandbox, ns, name, "wait")
    # created as the pod's service account
    creates = [e for e in sandbox.audit(mark) if e["method"] == "POST" and "workflowtaskresults" in e["path"]]
    assert [e["user"] for e in creates] == [f"system:serviceaccount:{ns}:default"]
    # the file is on the claim's volume
    pvc = call(sandbox, "GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/work")[1]
    pv = call(sandbox, "GET", f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}")[1]
    with open(os.path.join(pv["spec"]["hostPath"]["path"], "model.txt"), encoding="utf-8") as f:
        assert f.read() == "lr=0.1\n"


def test_script_template_result_is_stdout(sandbox, argo_ns):
    source = "import json\nopen('/tmp/n.txt', 'w').write('7')\nprint(json.dumps({'answer': 6 * 7}))\n"
    template = {"name": "calc", "script": {"image": "python:3.11", "command": ["python"], "source": source},
                "outputs": {"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n.txt"}}]}}
    main = {"image": "python:3.11", "command": ["python"], "args": ["/argo/staging/script"]}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, template, main))
    done = finished(sandbox, argo_ns, pod["metadata"]["name"])
    assert done["status"]["phase"] == "Succeeded", done["status"]
    result = task_result(sandbox, argo_ns, pod)
    assert result["outputs"]["result"] == '{"answer": 42}'
    assert params(result) == {"n": "7"}


def test_loaded_image_after_err_image_pull(sandbox, argo_ns, tmp_path):
    ref = f"registry.example.com/team/greeter-{uuid.uuid4().hex[:6]}:v1"
    src = tmp_path / "image"
    src.mkdir()
    # paths inside the image's own code are not mapped: it opens files relative to its workingDir
    (src / "app.py").write_text("import os\nprint(os.environ['GREETING'], open('data.txt').read())\n"
                                "open('out.txt', 'w').write('ok')\n")
    (src / "data.txt").write_text("from the image")
    (src / "image.json").write_text(json.dumps({"workingDir": "/app", "entrypoint": ["python"], "cmd": ["app.py"],
                                                "env": {"GREETING": "hello"}}))
    outputs = {"parameters": [{"name": "cwd", "valueFrom": {"path": "/app/out.txt"}}]}
    main = {"image": ref}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, container_template("greet", outputs, **main), main))
    name = pod["metadata"]["name"]

    def pulling():
        p = pod_get(sandbox, argo_ns, name)
        w = (states(p).get("main") or {}).get("waiting") if (p.get("status") or {}).get("containerStatuses") else None
        return w if w and w.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None
    waiting = wait_for(pulling, 30, what="ErrImagePull")
    assert f"image {ref} is not loaded in the sandbox (python -m sandbox load-image {ref} DIR)" in waiting["message"]
    assert pod_get(sandbox, argo_ns, name)["status"]["phase"] == "Pending"

    out = subprocess.run([sys.executable, "-m", "sandbox", "load-image", ref, str(src), "--dir", sandbox.dir],
                         capture_output=True, text=True, cwd=REPO, check=True)
    assert json.loads(out.stdout)["image"] == ref
    listed = subprocess.run([sys.executable, "-m", "sandbox", "images", "--dir", sandbox.dir],
                            capture_output=True, text=True, cwd=REPO, check=True)
    assert ref in [i["image"] for i in json.loads(listed.stdout)["images"]]

    done = finished(sandbox, argo_ns, name, timeout=60)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert "hello from the image" in logs(sandbox, argo_ns, name)
    assert params(task_result(sandbox, argo_ns, pod)) == {"cwd": "ok"}


def test_non_zero_exit_fails_the_step(sandbox, argo_ns):
    main = {"image": "alpine:3.19", "command": ["sh", "-c", "echo about to fail; echo boom >&2; exit 3"]}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, container_template("fail", **main), main))
    done = finished(sandbox, argo_ns, pod["metadata"]["name"])
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["reason"] == "Error" and done["status"]["message"] == "exit code 3"
    term = states(done)["main"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    text = logs(sandbox, argo_ns, pod["metadata"]["name"])
    assert "about to fail" in text and "boom" in text
    assert task_result(sandbox, argo_ns, pod)["outputs"]["exitCode"] == "3"


def test_missing_output_without_default_fails_wait(sandbox, argo_ns):
    outputs = {"parameters": [{"name": "x", "valueFrom": {"path": "/tmp/never-written"}}]}
    main = {"image": "busybox", "command": ["true"]}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, container_template("noout", outputs, **main), main))
    done = finished(sandbox, argo_ns, pod["metadata"]["name"])
    assert done["status"]["phase"] == "Failed"
    st = states(done)
    assert st["main"]["terminated"]["exitCode"] == 0
    assert st["wait"]["terminated"]["exitCode"] == 1
    assert "/tmp/never-written" in st["wait"]["terminated"]["message"]


def test_active_deadline_kills_the_process(sandbox, argo_ns):
    main = {"image": "python:3.11", "command": ["python", "-c", "import time; print('sleeping', flush=True); "
                                                                "time.sleep(60)"]}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, container_template("slow", **main), main, deadline=2))
    t0 = time.monotonic()
    done = finished(sandbox, argo_ns, pod["metadata"]["name"], timeout=30)
    assert time.monotonic() - t0 < 20
    assert done["status"]["phase"] == "Failed" and done["status"]["reason"] == "DeadlineExceeded"
    assert "sleeping" in logs(sandbox, argo_ns, pod["metadata"]["name"])


def test_deleting_a_running_pod_kills_its_process(sandbox, argo_ns, tmp_path):
    main = {"image": "python:3.11", "command": ["python", "-c", "import os, time; "
                                                                "open('/mnt/h/pid', 'w').write(str(os.getpid())); "
                                                                "time.sleep(120)"],
            "volumeMounts": [{"name": "h", "mountPath": "/mnt/h"}]}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, container_template("sleep", **main), main,
                                            volumes=[{"name": "h", "hostPath": {"path": str(tmp_path)}}]))
    pid = int(wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), 30,
                       what="the step process to start"))
    call(sandbox, "DELETE", f"/api/v1/namespaces/{argo_ns}/pods/{pod['metadata']['name']}?gracePeriodSeconds=0")

    def gone():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:   # a zombie of the sandbox counts as gone
            return f.read().split(")")[-1].split()[0] == "Z"
    wait_for(gone, 20, what=f"process {pid} to end")


# -- resource templates ------------------------------------------------------------------------------------------------
def resource_template(name, action, manifest, outputs=None, **extra):
    return {"name": name, "resource": {"action": action, "manifest": manifest, **extra}, "outputs": outputs or {}}


def resource_main():
    return {"image": EXECUTOR_IMAGE, "command": ["argoexec", "resource", "apply"]}


def test_resource_apply_configmap_with_success_condition(sandbox, argo_ns):
    allow(sandbox, argo_ns, ["configmaps"])
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made-by-step\ndata:\n  state: Available\n"
    outputs = {"parameters": [{"name": "name", "valueFrom": {"jsonPath": "{.metadata.name}"}},
                              {"name": "state", "valueFrom": {"jqFilter": ".data.state"}}]}
    template = resource_template("mk", "apply", manifest, outputs, successCondition="data.state == Available",
                                 failureCondition="data.state == Broken")
    mark = sandbox.audit_mark()
    pod = create(sandbox, argo_ns, step_pod(argo_ns, template, resource_main()))
    done = finished(sandbox, argo_ns, pod["metadata"]["name"])
    assert done["status"]["phase"] == "Succeeded", done["status"]
    cm = call(sandbox, "GET", f"/api/v1/namespaces/{argo_ns}/configmaps/made-by-step")[1]
    assert cm["data"] == {"state": "Available"}
    writes = [e for e in sandbox.audit(mark) if e["method"] in ("POST", "PATCH") and "/configmaps" in e["path"]]
    assert writes and {e["user"] for e in writes} == {f"system:serviceaccount:{argo_ns}:default"}
    assert params(task_result(sandbox, argo_ns, pod)) == {"name": "made-by-step", "state": "Available"}
    assert "configmap/made-by-step created" in logs(sandbox, argo_ns, pod["metadata"]["name"])

    # apply again (now it exists) with a failure condition that holds
    manifest2 = manifest.replace("Available", "Broken")
    template2 = resource_template("mk2", "apply", manifest2, successCondition="data.state == Available",
                                  failureCondition="data.state == Broken")
    pod2 = create(sandbox, argo_ns, step_pod(argo_ns, template2, resource_main()))
    done2 = finished(sandbox, argo_ns, pod2["metadata"]["name"])
    assert done2["status"]["phase"] == "Failed"
    assert done2["status"]["message"] == "failure condition 'data.state==Broken' evaluated true"
    assert states(done2)["main"]["terminated"]["exitCode"] == 1


def test_resource_apply_removes_what_the_manifest_no_longer_has(sandbox, argo_ns):
    """As `kubectl apply`: fields of the last applied configuration missing from the new manifest are removed;
    fields someone else set are kept."""
    allow(sandbox, argo_ns, ["configmaps"])
    first = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels: {a: x, b: y}\n"
             "data:\n  keep: '1'\n  drop: '2'\n")
    pod = create(sandbox, argo_ns, step_pod(argo_ns, resource_template("a1", "apply", first), resource_main()))
    assert finished(sandbox, argo_ns, pod["metadata"]["name"])["status"]["phase"] == "Succeeded"
    call(sandbox, "PATCH", f"/api/v1/namespaces/{argo_ns}/configmaps/applied", {"data": {"theirs": "3"}},
         content_type="application/merge-patch+json")
    second = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels: {a: x}\ndata:\n  keep: '1'\n"
    pod2 = create(sandbox, argo_ns, step_pod(argo_ns, resource_template("a2", "apply", second), resource_main()))
    assert finished(sandbox, argo_ns, pod2["metadata"]["name"])["status"]["phase"] == "Succeeded"
    cm = call(sandbox, "GET", f"/api/v1/namespaces/{argo_ns}/configmaps/applied")[1]
    assert cm["data"] == {"keep": "1", "theirs": "3"}
    assert cm["metadata"]["labels"] == {"a": "x"}


def test_apply_patch_nulls_what_was_applied_before_and_is_gone():
    last = {"metadata": {"labels": {"a": "x", "b": "y"}}, "data": {"keep": "1", "drop": "2"}, "list": [1, 2]}
    new = {"metadata": {"labels": {"a": "x"}}, "data": {"keep": "1"}, "list": [1]}
    assert apply_patch(last, new) == {"metadata": {"labels": {"a": "x", "b": None}},
                                      "data": {"keep": "1", "drop": None}, "list": [1]}
    assert apply_patch({}, new) == new


def test_resource_waits_until_the_success_condition_holds(sandbox, argo_ns):
    allow(sandbox, argo_ns, ["configmaps"])
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\ndata:\n  phase: Pending\n"
    pod = create(sandbox, argo_ns, step_pod(argo_ns, resource_template("w", "create", manifest,
                                                                       successCondition="data.phase in (Done,Ok)"),
                                            resource_main()))
    name = pod["metadata"]["name"]
    wait_for(lambda: call(sandbox, "GET", f"/api/v1/namespaces/{argo_ns}/configmaps/later")[0] == 200, 30,
             what="the ConfigMap to be created")
    time.sleep(1.5)
    assert pod_get(sandbox, argo_ns, name)["status"]["phase"] == "Running"
    call(sandbox, "PATCH", f"/api/v1/namespaces/{argo_ns}/configmaps/later", {"data": {"phase": "Done"}},
         content_type="application/merge-patch+json")
    assert finished(sandbox, argo_ns, name)["status"]["phase"] == "Succeeded"


def test_resource_owned_by_its_workflow(sandbox, argo_ns):
    """Through the workflow controller: setOwnerReference makes the Workflow the owner of what the step creates."""
    allow(sandbox, argo_ns, ["configmaps"])
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\ndata:\n  a: b\n"
    wf = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Workflow", "metadata": {"name": "owner"},
          "spec": {"entrypoint": "mk", "templates": [
              {"name": "mk", "resource": {"action": "create", "manifest": manifest, "setOwnerReference": True}}]}}
    created = submit(sandbox, argo_ns, wf)
    assert wait_phase(sandbox, argo_ns, "owner")["status"]["phase"] == "Succeeded"
    cm = call(sandbox, "GET", f"/api/v1/namespaces/{argo_ns}/configmaps/owned")[1]
    assert [(r["kind"], r["name"], r["uid"]) for r in cm["metadata"]["ownerReferences"]] == [
        ("Workflow", "owner", created["metadata"]["uid"])]


# -- service accounts without RBAC -------------------------------------------------------------------------------------
def test_service_account_without_rbac(sandbox, argo_ns):
    code, _ = call(sandbox, "POST", f"/api/v1/namespaces/{argo_ns}/serviceaccounts", {"metadata": {"name": "nobody"}})
    assert code == 201
    # a container step: main succeeds, reporting the outputs is forbidden
    main = {"image": "bash", "command": ["bash", "-c", "echo hi"]}
    pod = create(sandbox, argo_ns, step_pod(argo_ns, container_template("hi", **main), main, sa="nobody"))
    done = finished(sandbox, argo_ns, pod["metadata"]["name"])
    assert done["status"]["phase"] == "Failed"
    forbidden = (f'User "system:serviceaccount:{argo_ns}:nobody" cannot create resource "workflowtaskresults" '
                 f'in API group "argoproj.io" in the namespace "{argo_ns}"')
    assert forbidden in done["status"]["message"]
    assert forbidden in states(done)["wait"]["terminated"]["message"]
    assert states(done)["main"]["terminated"]["exitCode"] == 0
    assert forbidden in logs(sandbox, argo_ns, pod["metadata"]["name"], "wait")

    # a resource step: the action itself is forbidden
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-allowed\ndata: {}\n"
    pod2 = create(sandbox, argo_ns, step_pod(argo_ns, resource_template("r", "create", manifest), resource_main(),
                                             sa="nobody"))
    done2 = finished(sandbox, argo_ns, pod2["metadata"]["name"])
    assert done2["status"]["phase"] == "Failed"
    assert (f'User "system:serviceaccount:{argo_ns}:nobody" cannot create resource "configmaps" in API group "" '
            f'in the namespace "{argo_ns}"') in done2["status"]["message"]
    assert call(sandbox, "GET", f"/api/v1/namespaces/{argo_ns}/configmaps/not-allowed")[0] == 404
