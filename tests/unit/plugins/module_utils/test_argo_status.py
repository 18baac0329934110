"""Argo Workflows status: outputs, nodes and pod names, durations, the finished check, failure explanations."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils import argo_status
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError


def test_pod_names_like_argo_v2():
    node = {"name": "wf-abc.train", "templateName": "train"}
    assert argo_status.fnv32a("") == 0x811C9DC5
    assert argo_status.pod_name_of("wf-abc", node) == "wf-abc-train-%d" % argo_status.fnv32a("wf-abc.train")
    assert argo_status.pod_name_of("wf-abc", {"name": "wf-abc", "templateName": "main"}) == "wf-abc"
    long_name = argo_status.pod_name_of("w" * 60, {"name": "x.y", "templateName": "t"})
    assert len(long_name) <= 63 and long_name.endswith("-%d" % argo_status.fnv32a("x.y"))
    assert argo_status.pod_name_of("wf", {"name": "wf.s", "templateRef": {"name": "lib", "template": "step"}}) \
        .startswith("wf-step-")


def finished_workflow(phase="Succeeded"):
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "models", "uid": "u1"},
            "status": {
                "phase": phase, "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:12.5Z",
                "progress": "1/2", "message": "child 'wf-2' failed" if phase != "Succeeded" else None,
                "outputs": {"parameters": [{"name": "uri", "value": "s3://m/1"}]},
                "nodes": {
                    "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps", "templateName": "main",
                           "phase": phase, "startedAt": "2026-01-01T00:00:00Z", "children": ["wf-1"]},
                    "wf-1": {"id": "wf-1", "name": "wf[0]", "displayName": "[0]", "type": "StepGroup",
                             "phase": phase, "startedAt": "2026-01-01T00:00:01Z", "children": ["wf-2", "wf-3"]},
                    "wf-2": {"id": "wf-2", "name": "wf[0].train", "displayName": "train", "type": "Pod",
                             "templateName": "train", "phase": "Failed" if phase != "Succeeded" else phase,
                             "message": "Error (exit code 1)" if phase != "Succeeded" else None,
                             "startedAt": "2026-01-01T00:00:02Z",
                             "outputs": {"parameters": [{"name": "uri", "value": "s3://m/1"}], "exitCode": "0"}},
                    "wf-3": {"id": "wf-3", "name": "wf[0].other", "displayName": "other", "type": "Pod",
                             "templateName": "other", "phase": "Succeeded", "startedAt": "2026-01-01T00:00:03Z"},
                }}}


def test_outputs_nodes_duration():
    wf = finished_workflow()
    pods = [{"metadata": {"name": "wf-train-pod", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}}}]
    assert argo_status.outputs_of(wf) == {"uri": "s3://m/1"}
    assert argo_status.duration_of(wf) == 12.0
    assert argo_status.duration_of({"status": {"startedAt": "2026-01-01T00:00:00Z"}}) is None
    nodes = argo_status.nodes_of(wf, pods)
    assert [n["display_name"] for n in nodes] == ["wf", "[0]", "train", "other"]
    train = nodes[2]
    assert train == {"id": "wf-2", "name": "wf[0].train", "display_name": "train", "type": "Pod",
                     "phase": "Succeeded", "message": None, "template": "train", "pod_name": "wf-train-pod",
                     "outputs": {"uri": "s3://m/1"}, "exit_code": "0", "started_at": "2026-01-01T00:00:02Z",
                     "finished_at": None}
    assert nodes[3]["pod_name"] == argo_status.pod_name_of("wf", {"name": "wf[0].other", "templateName": "other"})
    assert nodes[0]["pod_name"] is None


def test_describe_and_finished_check():
    running = {"metadata": {"name": "wf", "namespace": "models", "uid": "u1"},
               "status": {"phase": "Running", "progress": "0/1", "nodes": {
                   "a": {"name": "wf.train", "displayName": "train", "type": "Pod", "phase": "Pending",
                         "message": "ImagePullBackOff"}}}}
    done, detail = argo_status.workflow_finished("u1")(running)
    assert not done and detail == "phase Running (progress 0/1); still running: train (Pending: ImagePullBackOff)"
    assert argo_status.workflow_finished("u1")(finished_workflow())[0] is True
    assert argo_status.workflow_finished("other")(finished_workflow()) == (
        False, "the Workflow was replaced by another one with the same name")
    assert "no status yet" in argo_status.describe_workflow({"metadata": {"namespace": "x"}})


class LogClient:
    """explain() needs find_resource/list (events) and logs (patched)."""

    def __init__(self, events=()):
        self.events = list(events)

    def find_resource(self, api_version, kind):
        return object() if kind == "Event" else None

    def list(self, resource, namespace=None, **kwargs):
        return {"items": self.events}


def test_explain_failed_leaf_with_container_state_and_log(monkeypatch):
    wf = finished_workflow("Failed")
    pod = {"metadata": {"name": "wf-train-1", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}},
           "status": {"phase": "Failed", "containerStatuses": [
               {"name": "main", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}},
               {"name": "wait", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}
    monkeypatch.setattr(argo_status, "read_pod_log",
                        lambda client, ns, name, container, tail: "a\n\nb\nTraceback\nboom\n")
    events = [{"type": "Warning", "reason": "BackOff", "message": "restarting",
               "involvedObject": {"kind": "Pod", "name": "wf-train-1"}},
              {"type": "Warning", "reason": "Other", "involvedObject": {"kind": "Pod", "name": "unrelated"}}]
    expl = argo_status.explain(LogClient(events), wf, [pod], log_lines=3)
    assert [s["display_name"] for s in expl["steps"]] == ["train"]  # the leaf, not the Steps / StepGroup
    step = expl["steps"][0]
    assert step["issues"] == ["container main terminated with exit code 1 (Error)"]
    assert step["log"] == ["b", "Traceback", "boom"]
    assert expl["events"] == ["Pod wf-train-1: BackOff: restarting"]
    assert expl["summary"] == (
        "phase Failed: child 'wf-2' failed. failed step train (pod wf-train-1): Error (exit code 1); container main "
        "terminated with exit code 1 (Error); last log lines: b | Traceback | boom. recent warnings: Pod wf-train-1: "
        "BackOff: restarting")


def test_explanation_does_not_repeat_itself(monkeypatch):
    wf = {"metadata": {"name": "wf", "namespace": "models"}, "status": {
        "phase": "Error", "message": "ErrImagePull: image x:1 is not loaded",
        "nodes": {"wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Pod", "templateName": "main",
                         "phase": "Error", "message": "ErrImagePull: image x:1 is not loaded"}}}}
    pod = {"metadata": {"name": "wf", "annotations": {"workflows.argoproj.io/node-id": "wf"}},
           "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "state": {"waiting": {
               "reason": "ErrImagePull", "message": "image x:1 is not loaded"}}}]}}
    events = [{"type": "Warning", "reason": "WorkflowNodeError", "message": "Error node wf",
               "involvedObject": {"kind": "Workflow", "name": "wf"}},
              {"type": "Warning", "reason": "Failed", "message": "Failed to pull image",
               "involvedObject": {"kind": "Pod", "name": "wf"}}]
    monkeypatch.setattr(argo_status, "read_pod_log", lambda *a: "")
    expl = argo_status.explain(LogClient(events), wf, [pod])
    assert expl["summary"] == ("phase Error. failed step wf (template main, pod wf): ErrImagePull: image x:1 is not "
                               "loaded; container main ErrImagePull. recent warnings: Pod wf: Failed: Failed to "
                               "pull image")
    exited = {"status": {"phase": "Failed", "reason": "Error", "message": "exit code 3", "containerStatuses": [
        {"name": "main", "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": "exit code 3"}}}]}}
    assert argo_status.container_issues(exited, "exit code 3") == ["container main terminated with exit code 3 (Error)"]
    evicted = {"status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}}
    assert argo_status.container_issues(evicted, "pod deleted") == ["pod Evicted: low on memory"]


def test_explain_finds_the_failed_step_of_a_later_step_group(monkeypatch):
    """Argo hangs step group N+1 below the nodes of group N: the failed step is below a succeeded one."""
    nodes = {
        "wf": {"id": "wf", "name": "wf", "type": "Steps", "phase": "Failed", "children": ["g0"]},
        "g0": {"id": "g0", "name": "wf[0]", "type": "StepGroup", "phase": "Succeeded", "children": ["ok"]},
        "ok": {"id": "ok", "name": "wf[0].ok", "displayName": "ok", "type": "Pod", "phase": "Succeeded",
               "children": ["g1"]},
        "g1": {"id": "g1", "name": "wf[1]", "type": "StepGroup", "phase": "Failed", "children": ["bad"]},
        "bad": {"id": "bad", "name": "wf[1].bad", "displayName": "bad", "type": "Pod", "phase": "Failed",
                "message": "Error (exit code 3)"},
    }
    monkeypatch.setattr(argo_status, "read_pod_log", lambda *a: "")
    wf = {"metadata": {"name": "wf", "namespace": "models"}, "status": {"phase": "Failed", "nodes": nodes}}
    expl = argo_status.explain(LogClient(), wf, [])
    assert [s["display_name"] for s in expl["steps"]] == ["bad"]


def test_explain_timeout_lists_running_steps(monkeypatch):
    wf = {"metadata": {"name": "wf", "namespace": "models"},
          "status": {"phase": "Running", "nodes": {"wf-9": {
              "id": "wf-9", "name": "wf.pull", "displayName": "pull", "type": "Pod", "templateName": "pull",
              "phase": "Pending"}}}}
    pod = {"metadata": {"name": "wf-pull-9", "annotations": {"workflows.argoproj.io/node-id": "wf-9"}},
           "status": {"phase": "Pending", "containerStatuses": [{"name": "main", "state": {"waiting": {
               "reason": "ImagePullBackOff", "message": "image nope:1 is not loaded in the sandbox"}}}]}}
    monkeypatch.setattr(argo_status, "read_pod_log", lambda *a: "")
    expl = argo_status.explain(LogClient(), wf, [pod], timed_out=True)
    assert expl["summary"] == (
        "phase Running; still running: pull (Pending). running step pull (pod wf-pull-9): container main "
        "ImagePullBackOff: image nope:1 is not loaded in the sandbox")


def test_explain_never_raises_on_unreadable_logs(monkeypatch):
    def no_log(*_args):
        raise K8sError("403 Forbidden")

    monkeypatch.setattr(argo_status, "read_pod_log", no_log)
    wf = finished_workflow("Error")
    pod = {"metadata": {"name": "p", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}}, "status": {}}
    expl = argo_status.explain(LogClient(), wf, [pod])
    assert expl["notes"] == ["cannot read the log of pod p: 403 Forbidden"]
