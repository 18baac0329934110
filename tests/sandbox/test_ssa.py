"""Server-side apply over HTTP: field managers, conflicts (409 with causes), force, dry-run, status."""

from __future__ import annotations

import pytest
import yaml
from sbx import APPLY, MERGE, call

pytestmark = pytest.mark.sandbox


def _apply(sandbox, ns, manager, data, force=False, dry=False, name="cfg"):
    body = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    q = f"?fieldManager={manager}" + ("&force=true" if force else "") + ("&dryRun=All" if dry else "")
    return call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/{name}{q}", raw=body.encode(),
                content_type=APPLY)


def test_apply_creates_then_updates(sandbox, ns):
    code, obj = _apply(sandbox, ns, "alice", {"a": "1"})
    assert code == 201 and obj["data"] == {"a": "1"}
    assert [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]] == [("alice", "Apply")]
    rv = obj["metadata"]["resourceVersion"]
    code, again = _apply(sandbox, ns, "alice", {"a": "1"})
    assert code == 200 and again["metadata"]["resourceVersion"] == rv  # no-op apply does not write


def test_conflict_and_force(sandbox, ns):
    _apply(sandbox, ns, "alice", {"a": "1", "b": "1"})
    code, body = _apply(sandbox, ns, "bob", {"a": "2"})
    assert code == 409 and body["reason"] == "Conflict"
    assert body["message"].startswith("Apply failed with 1 conflict: conflict with \"alice\"")
    assert body["details"]["causes"][0]["field"] == ".data.a"
    assert body["details"]["causes"][0]["reason"] == "FieldManagerConflict"
    code, body = _apply(sandbox, ns, "bob", {"a": "2"}, force=True)
    assert code == 200 and body["data"] == {"a": "2", "b": "1"}
    owners = {m["manager"] for m in body["metadata"]["managedFields"]}
    assert owners == {"alice", "bob"}
    # alice drops "b" from her configuration: the field she alone owned is removed
    code, body = _apply(sandbox, ns, "alice", {})
    assert body["data"] == {"a": "2"}


def test_update_takes_ownership(sandbox, ns):
    _apply(sandbox, ns, "alice", {"a": "1"})
    call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/cfg?fieldManager=editor", {"data": {"a": "9"}},
         content_type=MERGE)
    code, body = _apply(sandbox, ns, "alice", {"a": "1"})
    assert code == 409 and 'conflict with "editor"' in body["message"]


def test_apply_requires_field_manager_and_valid_body(sandbox, ns):
    code, body = call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/x", raw=b"data: {}",
                      content_type=APPLY)
    assert code == 422 and body["reason"] == "Invalid"  # as kube-apiserver: PatchOptions is invalid
    assert body["details"]["causes"][0]["field"] == "fieldManager"
    code, body = call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/x?fieldManager=m", raw=b"[1, 2",
                      content_type=APPLY)
    assert code == 400


def test_apply_dry_run(sandbox, ns):
    code, body = _apply(sandbox, ns, "alice", {"a": "1"}, dry=True)
    assert code == 201 and body["data"] == {"a": "1"}
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/configmaps/cfg")[0] == 404


def test_apply_status_subresource(sandbox, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/d"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
               "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
           "status": {"replicas": 5}}
    code, body = call(sandbox, "PATCH", path + "?fieldManager=m", raw=yaml.safe_dump(dep).encode(),
                      content_type=APPLY)
    assert code == 201 and body.get("status", {}).get("replicas") in (None, 0)
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "status": {"replicas": 1, "readyReplicas": 1}}
    code, body = call(sandbox, "PATCH", path + "/status?fieldManager=ctrl&force=true",
                      raw=yaml.safe_dump(status).encode(), content_type=APPLY)
    assert code == 200 and body["status"]["readyReplicas"] == 1
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "i"


def test_apply_invalid_configuration_is_422(sandbox, ns):
    """Duplicate / keyless associative-list entries (ssa.ApplyInvalid) are the client's fault, never a 500."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dup"},
           "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "a", "image": "busybox"}]}}
    code, body = call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/pods/dup?fieldManager=m",
                      raw=yaml.safe_dump(pod).encode(), content_type=APPLY)
    assert code == 422 and body["reason"] == "Invalid", body
    assert body["message"].startswith(f"failed to create typed patch object ({ns}/dup; /v1, Kind=Pod): ")
    assert 'duplicate entries for key [name="a"]' in body["message"]
    pod["spec"]["containers"] = [{"image": "nginx"}]
    code, body = call(sandbox, "PATCH", f"/api/v1/namespaces/{ns}/pods/dup?fieldManager=m",
                      raw=yaml.safe_dump(pod).encode(), content_type=APPLY)
    assert code == 422 and body["reason"] == "Invalid", body
    assert call(sandbox, "GET", f"/api/v1/namespaces/{ns}/pods/dup")[0] == 404


def test_apply_conflict_status_is_kubernetes_format(sandbox, ns):
    """An Update manager is described with its API version (no time: kube-apiserver's manager identifier has none,
    tests/fidelity compares this with the real server)."""
    code, _ = call(sandbox, "POST", f"/api/v1/namespaces/{ns}/configmaps?fieldManager=editor",
                   {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "1"}})
    assert code == 201
    _apply(sandbox, ns, "alice", {"c": "1"})
    code, body = _apply(sandbox, ns, "bob", {"a": "2", "b": "2", "c": "2"})
    assert code == 409 and body["reason"] == "Conflict"
    lines = body["message"].split("\n")
    assert lines[0] == 'Apply failed with 3 conflicts: conflicts with "alice":'
    assert lines[1] == "- .data.c"
    assert lines[2] == 'conflicts with "editor" using v1:'
    assert lines[3:] == ["- .data.a", "- .data.b"]
    causes = body["details"]["causes"]
    assert {(c["reason"], c["field"]) for c in causes} == {("FieldManagerConflict", f".data.{k}") for k in "abc"}
    assert {c["message"] for c in causes if c["field"] == ".data.c"} == {'conflict with "alice"'}
    assert set(body["details"]) == {"causes"}  # kube-apiserver names neither the object nor its kind here
