"""The Argo Workflow controller alone (sandbox/argo/workflow.py): an in-process sandbox with the core controllers,
the WorkflowController and a fake step runner instead of the real executor.

The fake runner reads the pod's ``ARGO_TEMPLATE`` and the main container's env: ``EXIT_CODE`` (default 0),
``SLEEP`` seconds (default 0.2), ``FAIL_UNTIL`` with ``RETRY`` (fail while RETRY < FAIL_UNTIL), ``OUT_<name>`` for
output parameter values; a script's result is its source. It writes the WorkflowTaskResult as argoexec's wait would.
An image named ``missing/...`` never pulls (ErrImagePull)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from argo_helpers import (
    EXECUTOR_IMAGE,
    GROUP,
    KINDS,
    apply,
    call,
    controller_deployment,
    crd,
    submit,
    wait_phase,
    workflow_path,
)
from sbx import wait_for

from sandbox.argo import common
from sandbox.controllers.runtime import ContainerStatus, RunStatus

pytestmark = pytest.mark.sandbox
IMAGE = "python:3.12"


class FakeStepRunner:
    def __init__(self, sb):
        self.sb = sb
        self.started: dict[str, float] = {}
        self.reported: set[str] = set()
        self.lock = threading.Lock()

    def matches(self, pod):
        return common.LABEL_WORKFLOW in (pod["metadata"].get("labels") or {})

    def start(self, pod, ctx):
        with self.lock:
            self.started[pod["metadata"]["uid"]] = time.monotonic()

    @staticmethod
    def _main(pod):
        main = next(c for c in pod["spec"]["containers"] if c["name"] == "main")
        env = {e["name"]: e.get("value", "") for e in main.get("env") or []}
        return main, env, json.loads(env[common.ENV_TEMPLATE])

    def status(self, pod):
        main, env, tmpl = self._main(pod)
        if main["image"].startswith("missing/"):
            return RunStatus("Pending", containers=[
                ContainerStatus("wait", "running"),
                ContainerStatus("main", "waiting", reason="ErrImagePull", message=f"image {main['image']} not loaded")])
        elapsed = time.monotonic() - self.started.get(pod["metadata"]["uid"], time.monotonic())
        if elapsed < float(env.get("SLEEP", "0.2")):
            return RunStatus("Running", True)
        code = int(env.get("EXIT_CODE", "0"))
        if "FAIL_UNTIL" in env and int(env.get("RETRY", "0")) < int(env["FAIL_UNTIL"]):
            code = 1
        self._report(pod, env, tmpl, code)
        return RunStatus("Succeeded" if code == 0 else "Failed", containers=[
            ContainerStatus("wait", "terminated", exit_code=0, reason="Completed"),
            ContainerStatus("main", "terminated", exit_code=code, reason="Completed" if code == 0 else "Error")])

    def _report(self, pod, env, tmpl, code):
        node_id = env[common.ENV_NODE_ID]
        if node_id in self.reported:
            return
        self.reported.add(node_id)
        outputs = {"exitCode": str(code)}
        params = [{"name": p["name"], "value": env.get("OUT_" + p["name"], "")}
                  for p in (tmpl.get("outputs") or {}).get("parameters") or []]
        if params:
            outputs["parameters"] = params
        if "script" in tmpl:
            outputs["result"] = tmpl["script"]["source"].strip()
        m = pod["metadata"]
        body = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "WorkflowTaskResult",
                "metadata": {"name": node_id, "namespace": m["namespace"],
                             "labels": {common.LABEL_WORKFLOW: m["labels"][common.LABEL_WORKFLOW],
                                        common.LABEL_REPORT_OUTPUTS_COMPLETED: "true"},
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": m["name"],
                                                  "uid": m["uid"]}]},
                "outputs": outputs}
        kind = self.sb.objects.kind_for_key(common.TASK_RESULTS)
        self.sb.objects.create(kind, m["namespace"], body, self.sb.admin_ctx)

    def stop(self, pod):
        with self.lock:
            self.started.pop(pod["metadata"]["uid"], None)


@pytest.fixture(scope="module")
def argo_sb(tmp_path_factory):
    """(SandboxHandle, Sandbox, FakeStepRunner): a private in-process sandbox with the workflow controller."""
    from sandbox.argo.workflow import WorkflowController
    from sandbox.pytest_plugin import SandboxHandle
    from sandbox.server import Sandbox
    sb = Sandbox(str(tmp_path_factory.mktemp("argo-wf")), snapshot=False,
                 component_specs=["sandbox.controllers:component"])
    sb.start()
    ctrl = WorkflowController(sb)
    ctrl.start()
    sb.controllers[ctrl.name] = ctrl  # for SandboxHandle.reconciles
    runner = FakeStepRunner(sb)
    sb.pod_runners.register(runner, priority=100)
    handle = SandboxHandle(sb.info())
    try:
        for kind, plural, scope in KINDS:
            apply(handle, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd(kind, plural, scope))
        wait_for(lambda: all(call(handle, "GET", f"/apis/{GROUP}/v1alpha1/{p}")[0] == 200 for _, p, _ in KINDS),
                 10, what="CRDs")
        call(handle, "POST", "/api/v1/namespaces", {"metadata": {"name": "argo"}})
        call(handle, "POST", "/api/v1/namespaces/argo/serviceaccounts", {"metadata": {"name": "argo"}})
        apply(handle, "/apis/apps/v1/namespaces/argo/deployments", controller_deployment())
        wait_for(lambda: ctrl.config_for("x") is not None, 30, what="the controller Deployment to be Available")
        yield handle, sb, runner
    finally:
        sb.pod_runners.unregister(runner)
        ctrl.stop()
        sb.stop()


@pytest.fixture
def env(argo_sb):
    handle, sb, _runner = argo_sb
    ns = "wf-" + uuid.uuid4().hex[:6]
    assert call(handle, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    return handle, sb, ns


def wf(name, entrypoint, templates, **spec):
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"entrypoint": entrypoint, "templates": templates, **spec}}


def container(name, *, env=None, outputs=None, inputs=None, image=IMAGE, **extra):
    t = {"name": name, "container": {"image": image, "command": ["true"],
                                     "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}, **extra}
    if outputs:
        t["outputs"] = {"parameters": [{"name": o, "valueFrom": {"path": f"/tmp/{o}"}} for o in outputs]}
    if inputs:
        t["inputs"] = {"parameters": [{"name": i} for i in inputs]}
    return t


def pods_of(sb, ns, name):
    return [p for p in sb.store.list(("", "pods"), ns)[0]
            if (p["metadata"].get("labels") or {}).get(common.LABEL_WORKFLOW) == name]


def main_template(pod):
    main = next(c for c in pod["spec"]["containers"] if c["name"] == "main")
    return json.loads(next(e["value"] for e in main["env"] if e["name"] == common.ENV_TEMPLATE))


def by_display(w):
    return {n["displayName"]: n for n in w["status"]["nodes"].values()}


def events(handle, ns, name):
    _, out = call(handle, "GET", f"/api/v1/namespaces/{ns}/events")
    return [e for e in out.get("items") or [] if e["involvedObject"].get("name") == name]


def test_steps_pass_outputs_and_make_pods_as_documented(env):
    handle, sb, ns = env
    body = wf("steps", "main", [
        {"name": "main", "steps": [[{"name": "gen", "template": "gen"}],
                                   [{"name": "use", "template": "use", "arguments": {"parameters": [
                                       {"name": "msg", "value": "{{steps.gen.outputs.parameters.msg}}"}]}}]],
         "outputs": {"parameters": [{"name": "final", "valueFrom": {"parameter": "{{steps.use.outputs.result}}"}}]}},
        container("gen", env={"OUT_msg": "hello"}, outputs=["msg"]),
        {"name": "use", "inputs": {"parameters": [{"name": "msg"}]},
         "script": {"image": IMAGE, "command": ["python"], "source": "{{ inputs.parameters.msg }} from {{pod.name}}"}}],
        arguments={"parameters": [{"name": "p", "value": "v"}]})
    submit(handle, ns, body)
    w = wait_phase(handle, ns, "steps")
    st = w["status"]
    assert st["phase"] == "Succeeded", st.get("message")
    assert st["progress"] == "2/2"
    assert w["metadata"]["labels"][common.LABEL_PHASE] == "Succeeded"
    assert w["metadata"]["labels"][common.LABEL_COMPLETED] == "true"
    assert st["startedAt"] and st["finishedAt"]
    assert {c["type"]: c["status"] for c in st["conditions"]} == {"PodRunning": "False", "Completed": "True"}
    nodes = by_display(w)
    assert nodes["steps"]["type"] == "Steps"
    assert nodes["steps"]["id"] == "steps"
    assert nodes["[0]"]["type"] == "StepGroup"
    use = nodes["use"]
    assert use["type"] == "Pod" and use["inputs"] == {"parameters": [{"name": "msg", "value": "hello"}]}
    assert use["id"] == common.node_id("steps", "steps[1].use")
    use_pod = common.pod_name("steps", "steps[1].use", "use")
    assert use["outputs"]["result"] == f"hello from {use_pod}"
    assert st["outputs"] == {"parameters": [{"name": "final", "value": f"hello from {use_pod}"}]}
    pods = {p["metadata"]["name"]: p for p in pods_of(sb, ns, "steps")}
    pod = pods[use_pod]
    assert pod["metadata"]["labels"][common.LABEL_COMPLETED] == "true"
    assert pod["metadata"]["annotations"][common.ANN_NODE_ID] == use["id"]
    assert pod["metadata"]["annotations"][common.ANN_NODE_NAME] == "steps[1].use"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Workflow"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["serviceAccountName"] == "default"
    wait, main = pod["spec"]["containers"]
    assert (wait["name"], wait["image"], wait["command"]) == ("wait", EXECUTOR_IMAGE, ["argoexec", "wait"])
    assert main["command"] == ["python"] and main["args"] == ["/argo/staging/script"]
    assert {e["name"] for e in main["env"]} >= {"ARGO_TEMPLATE", "ARGO_NODE_ID", "ARGO_POD_NAME", "ARGO_WORKFLOW_NAME"}
    assert main_template(pod)["inputs"]["parameters"][0]["value"] == "hello"
    reasons = {e["reason"] for e in events(handle, ns, "steps")}
    assert {"WorkflowRunning", "WorkflowSucceeded", "WorkflowNodeRunning", "WorkflowNodeSucceeded"} <= reasons


def test_dag_depends_when_and_omitted(env):
    handle, _, ns = env
    body = wf("dag", "main", [
        {"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "ok"},
            {"name": "b", "template": "ok", "dependencies": ["a"]},
            {"name": "c", "template": "ok", "depends": "a && b"},
            {"name": "d", "template": "ok", "depends": "a.Failed"},
            {"name": "e", "template": "ok", "depends": "c", "when": "{{tasks.c.status}} == Failed"},
            {"name": "f", "template": "echo", "depends": "b",
             "arguments": {"parameters": [{"name": "x", "value": "{{tasks.a.outputs.parameters.out}}"}]}}]}},
        container("ok", env={"OUT_out": "A"}, outputs=["out"]),
        container("echo", inputs=["x"], env={"X": "{{inputs.parameters.x}}"})])
    submit(handle, ns, body)
    w = wait_phase(handle, ns, "dag")
    assert w["status"]["phase"] == "Succeeded", w["status"].get("message")
    nodes = by_display(w)
    assert nodes["dag"]["type"] == "DAG"
    assert nodes["c"]["phase"] == "Succeeded"
    assert (nodes["d"]["phase"], nodes["d"]["type"]) == ("Omitted", "Skipped")
    assert nodes["e"]["phase"] == "Skipped" and "evaluated false" in nodes["e"]["message"]
    assert nodes["f"]["inputs"]["parameters"][0]["value"] == "A"
    assert nodes["c"]["id"] in nodes["b"]["children"]


def test_failing_step_fails_workflow_and_exit_handler_sees_status(env):
    handle, sb, ns = env
    body = wf("fail", "main", [
        {"name": "main", "steps": [[{"name": "boom", "template": "boom"}], [{"name": "never", "template": "ok"}]]},
        container("boom", env={"EXIT_CODE": "3"}),
        container("ok"),
        container("exit", env={"STATUS": "{{workflow.status}}"})], onExit="exit")
    submit(handle, ns, body)
    w = wait_phase(handle, ns, "fail")
    st = w["status"]
    nodes = by_display(w)
    assert st["phase"] == "Failed"
    assert st["message"] == f"child '{nodes['boom']['id']}' failed"
    assert nodes["boom"]["message"] == "Error (exit code 3)"
    assert nodes["boom"]["outputs"]["exitCode"] == "3"
    assert "never" not in nodes
    assert nodes["fail.onExit"]["phase"] == "Succeeded"
    exit_pod = next(p for p in pods_of(sb, ns, "fail") if p["metadata"]["annotations"][common.ANN_NODE_NAME]
                    == "fail.onExit")
    assert {"name": "STATUS", "value": "Failed"} in main_template(exit_pod)["container"]["env"]
    assert any(e["reason"] == "WorkflowFailed" for e in events(handle, ns, "fail"))


@pytest.mark.parametrize(("spec", "message"), [
    ({"entrypoint": ""}, "invalid spec: spec.entrypoint is required"),
    ({"entrypoint": "nope"}, "invalid spec: template name 'nope' undefined"),
    ({"entrypoint": "needs"}, "invalid spec: templates.needs inputs.parameters.x was not supplied"),
    ({"entrypoint": "main", "templates": [{"name": "main", "steps": [[{"name": "s", "template": "gone"}]]}]},
     "invalid spec: templates.main.steps[0].s template name 'gone' undefined"),
    ({"entrypoint": "bad"}, "invalid spec: templates.bad: failed to resolve {{inputs.parameters.y}}"),
])
def test_invalid_spec_fails_without_pods(env, spec, message):
    handle, sb, ns = env
    templates = [container("needs", inputs=["x"]),
                 container("bad", env={"Y": "{{inputs.parameters.y}}"})]
    body = wf("invalid", spec.get("entrypoint"), spec.get("templates") or templates)
    submit(handle, ns, body)
    w = wait_phase(handle, ns, "invalid")
    assert (w["status"]["phase"], w["status"]["message"]) == ("Failed", message)
    assert pods_of(sb, ns, "invalid") == []


def test_retries_loops_and_aggregated_outputs(env):
    handle, _, ns = env
    body = wf("loops", "main", [
        {"name": "main", "steps": [
            [{"name": "fan", "template": "echo", "withItems": [{"k": "a"}, {"k": "b"}],
              "arguments": {"parameters": [{"name": "x", "value": "{{item.k}}"}]}},
             {"name": "flaky", "template": "flaky"},
             {"name": "hopeless", "template": "hopeless", "continueOn": {"failed": True}}],
            [{"name": "param", "template": "echo", "withParam": "{{steps.fan.outputs.parameters}}",
              "arguments": {"parameters": [{"name": "x", "value": "{{item.out}}"}]}}]]},
        container("echo", inputs=["x"], env={"OUT_out": "got-{{inputs.parameters.x}}"}, outputs=["out"]),
        container("flaky", env={"FAIL_UNTIL": "2", "RETRY": "{{retries}}"}, retryStrategy={"limit": 3}),
        container("hopeless", env={"EXIT_CODE": "1"}, retryStrategy={"limit": "1", "retryPolicy": "Always"})])
    submit(handle, ns, body)
    w = wait_phase(handle, ns, "loops")
    assert w["status"]["phase"] == "Succeeded", w["status"].get("message")
    nodes = by_display(w)
    assert nodes["flaky"]["type"] == "Retry" and nodes["flaky"]["phase"] == "Succeeded"
    assert len(nodes["flaky"]["children"]) == 3
    assert [nodes[f"flaky({i})"]["phase"] for i in range(3)] == ["Failed", "Failed", "Succeeded"]
    assert (nodes["hopeless"]["phase"], nodes["hopeless"]["message"]) == ("Failed", "No more retries left")
    assert nodes["fan(0:k:a)"]["outputs"]["parameters"] == [{"name": "out", "value": "got-a"}]
    params = sorted(n["inputs"]["parameters"][0]["value"] for d, n in nodes.items() if d.startswith("param("))
    assert params == ["got-a", "got-b"]


def test_image_pull_error_and_deadlines_and_shutdown(env):
    handle, sb, ns = env
    submit(handle, ns, wf("pull", "main", [container("main", image="missing/thing:1")]))
    submit(handle, ns, wf("slow", "main", [container("main", env={"SLEEP": "60"})], activeDeadlineSeconds=2))
    submit(handle, ns, wf("tmpl-deadline", "main", [container("main", env={"SLEEP": "60"}, activeDeadlineSeconds=1)]))
    submit(handle, ns, wf("stopme", "main", [container("main", env={"SLEEP": "60"})]))
    w = wait_phase(handle, ns, "pull", timeout=30)
    node = by_display(w)["pull"]
    assert (w["status"]["phase"], node["phase"]) == ("Error", "Error")
    assert node["message"] == "ErrImagePull: image missing/thing:1 not loaded"
    for name in ("slow", "tmpl-deadline"):
        w = wait_phase(handle, ns, name, timeout=30)
        assert w["status"]["phase"] == "Failed"
        assert by_display(w)[name]["message"] == "Step exceeded its deadline"
    wait_for(lambda: (call(handle, "GET", workflow_path(ns, "stopme"))[1].get("status") or {}).get("progress")
             == "0/1", what="stopme running")
    code, _ = call(handle, "PATCH", workflow_path(ns, "stopme"), {"spec": {"shutdown": "Terminate"}},
                   content_type="application/merge-patch+json")
    assert code == 200
    w = wait_phase(handle, ns, "stopme", timeout=30)
    assert (w["status"]["phase"], w["status"]["message"]) == ("Failed", "Stopped with strategy 'Terminate'")
    wait_for(lambda: not [p for p in pods_of(sb, ns, "stopme") if not p["metadata"].get("deletionTimestamp")],
             what="the running pod deleted")


def test_templates_refs_volumes_gc_and_ttl(env):
    handle, sb, ns = env
    apply(handle, f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/workflowtemplates", {
        "apiVersion": f"{GROUP}/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "lib"},
        "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "who", "value": "lib"}]},
                 "templates": [{"name": "main", "steps": [[{"name": "hi", "template": "hi"}]]},
                               container("hi", env={"WHO": "{{workflow.parameters.who}}"})]}})
    submit(handle, ns, {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Workflow", "metadata": {"name": "fromref"},
                        "spec": {"workflowTemplateRef": {"name": "lib"},
                                 "arguments": {"parameters": [{"name": "who", "value": "me"}]}}})
    w = wait_phase(handle, ns, "fromref")
    assert w["status"]["phase"] == "Succeeded", w["status"].get("message")
    pod = pods_of(sb, ns, "fromref")[0]
    assert {"name": "WHO", "value": "me"} in main_template(pod)["container"]["env"]

    body = wf("vols", "main", [
        {"name": "main", "steps": [[{"name": "hold", "template": "hold"},
                                    {"name": "ref", "templateRef": {"name": "lib", "template": "hi"}}],
                                   [{"name": "res", "template": "res"}]]},
        container("hold", env={"SLEEP": "2"}),
        {"name": "res", "resource": {"action": "create", "manifest": "kind: ConfigMap\nname: {{workflow.name}}"}}],
        volumeClaimTemplates=[{"metadata": {"name": "work"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                                      "resources": {"requests": {"storage": "1Mi"}}}}],
        serviceAccountName="runner", arguments={"parameters": [{"name": "who", "value": "vols"}]})
    # the account the steps run as must exist (ServiceAccount admission refuses their pods otherwise)
    call(handle, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "runner"}})
    submit(handle, ns, body)

    def pvc():
        return sb.store.get(("", "persistentvolumeclaims"), ns, "vols-work")
    wait_for(pvc, what="the claim of the volumeClaimTemplate")
    assert pvc()["metadata"]["ownerReferences"][0]["name"] == "vols"
    w = wait_phase(handle, ns, "vols")
    assert w["status"]["phase"] == "Succeeded", [n.get("message") for n in w["status"]["nodes"].values()]
    assert w["status"]["persistentVolumeClaims"] == [{"name": "work", "persistentVolumeClaim":
                                                      {"claimName": "vols-work"}}]
    res_pod = next(p for p in pods_of(sb, ns, "vols") if "-res-" in p["metadata"]["name"])
    main = res_pod["spec"]["containers"][1]
    assert (main["image"], main["command"]) == (EXECUTOR_IMAGE, ["argoexec", "resource", "create"])
    assert main_template(res_pod)["resource"]["manifest"].endswith("name: vols")
    assert res_pod["spec"]["serviceAccountName"] == "runner"
    assert {"name": "work", "persistentVolumeClaim": {"claimName": "vols-work"}} in res_pod["spec"]["volumes"]
    wait_for(lambda: pvc() is None or pvc()["metadata"].get("deletionTimestamp"), what="the claim deleted")

    submit(handle, ns, wf("gc", "main", [container("main")], podGC={"strategy": "OnPodSuccess"}))
    assert wait_phase(handle, ns, "gc")["status"]["phase"] == "Succeeded"
    wait_for(lambda: not [p for p in pods_of(sb, ns, "gc") if not p["metadata"].get("deletionTimestamp")],
             what="the pod garbage-collected")
    submit(handle, ns, wf("ttl", "main", [container("main")], ttlStrategy={"secondsAfterCompletion": 1}))
    wait_for(lambda: call(handle, "GET", workflow_path(ns, "ttl"))[0] == 404, 20, what="ttl deletion")


def test_gating_on_the_controller_deployment_scope(env):
    handle, _, ns = env
    apply(handle, "/apis/apps/v1/namespaces/argo/deployments",
          controller_deployment(["--namespaced", "--managed-namespace", "elsewhere"]))
    try:
        submit(handle, ns, wf("ignored", "main", [container("main")]))
        wait_for(lambda: handle.reconciles("argo-workflow-controller", ns, "ignored"), 30,
                 what="the workflow controller to look at the Workflow")
        assert not call(handle, "GET", workflow_path(ns, "ignored"))[1].get("status")
    finally:
        apply(handle, "/apis/apps/v1/namespaces/argo/deployments", controller_deployment())
    assert wait_phase(handle, ns, "ignored", timeout=40)["status"]["phase"] == "Succeeded"
