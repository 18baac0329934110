"""core/v1 and events.k8s.io/v1 Events are two views of one storage, as in kube-apiserver."""

from __future__ import annotations

import json
import threading

import pytest
from sbx import MERGE, call

pytestmark = pytest.mark.sandbox


def _new_event(name, obj="p", **extra):
    return dict({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
                 "eventTime": "2026-01-02T03:04:05.000006Z", "reportingController": "example.com/ctl",
                 "reportingInstance": "ctl-1", "action": "Reconcile", "reason": "Synced", "type": "Normal",
                 "note": "all good", "regarding": {"apiVersion": "v1", "kind": "Pod", "name": obj}}, **extra)


def test_new_api_event_is_a_core_event(sandbox, ns):
    new = f"/apis/events.k8s.io/v1/namespaces/{ns}/events"
    core = f"/api/v1/namespaces/{ns}/events"
    code, ev = call(sandbox, "POST", new, _new_event("e1"))
    assert code == 201, ev
    assert ev["apiVersion"] == "events.k8s.io/v1" and ev["note"] == "all good"
    code, old = call(sandbox, "GET", f"{core}/e1")
    assert code == 200 and old["apiVersion"] == "v1"
    assert (old["message"], old["reportingComponent"], old["reportingInstance"], old["action"]) == \
        ("all good", "example.com/ctl", "ctl-1", "Reconcile")
    assert old["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "p"}
    assert old["eventTime"] == "2026-01-02T03:04:05.000006Z"
    assert old["firstTimestamp"] is None and old["lastTimestamp"] is None and old["source"] == {}
    assert old["metadata"]["uid"] == ev["metadata"]["uid"]
    assert old["metadata"]["resourceVersion"] == ev["metadata"]["resourceVersion"]
    # a series update through the new API shows in the core one
    code, ev = call(sandbox, "PATCH", f"{new}/e1", {"series": {"count": 2, "lastObservedTime":
                                                               "2026-01-02T03:05:00.000000Z"}}, content_type=MERGE)
    assert code == 200 and ev["series"]["count"] == 2
    assert call(sandbox, "GET", f"{core}/e1")[1]["series"]["count"] == 2
    # deleting through one API deletes from both
    assert call(sandbox, "DELETE", f"{core}/e1")[0] == 200
    assert call(sandbox, "GET", f"{new}/e1")[0] == 404


def test_core_event_through_new_api(sandbox, ns):
    core = f"/api/v1/namespaces/{ns}/events"
    code, _ = call(sandbox, "POST", core, {
        "metadata": {"name": "legacy"}, "involvedObject": {"kind": "Pod", "name": "q", "namespace": ns},
        "reason": "BackOff", "message": "restarting", "type": "Warning", "count": 3,
        "source": {"component": "kubelet", "host": "node"}, "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:09:05Z"})
    assert code == 201
    code, ev = call(sandbox, "GET", f"/apis/events.k8s.io/v1/namespaces/{ns}/events/legacy")
    assert code == 200
    assert (ev["note"], ev["deprecatedCount"], ev["deprecatedSource"], ev["deprecatedFirstTimestamp"],
            ev["deprecatedLastTimestamp"]) == ("restarting", 3, {"component": "kubelet", "host": "node"},
                                               "2026-01-02T03:04:05Z", "2026-01-02T03:09:05Z")
    assert ev["regarding"]["name"] == "q" and ev["eventTime"] is None
    assert not {"message", "involvedObject", "count", "source"} & set(ev)


def test_lists_selectors_and_watch_share_storage(sandbox, ns):
    new = f"/apis/events.k8s.io/v1/namespaces/{ns}/events"
    core = f"/api/v1/namespaces/{ns}/events"
    call(sandbox, "POST", new, _new_event("a", obj="pa"))
    call(sandbox, "POST", core, {"metadata": {"name": "b"}, "involvedObject": {"kind": "Pod", "name": "pb"},
                                 "reason": "R", "message": "m", "type": "Normal"})
    names = lambda body: sorted(i["metadata"]["name"] for i in body["items"])  # noqa: E731
    assert names(call(sandbox, "GET", new)[1]) == names(call(sandbox, "GET", core)[1]) == ["a", "b"]
    assert names(call(sandbox, "GET", new + "?fieldSelector=regarding.name%3Dpb")[1]) == ["b"]
    assert names(call(sandbox, "GET", core + "?fieldSelector=involvedObject.name%3Dpa")[1]) == ["a"]
    assert call(sandbox, "GET", new + "?fieldSelector=involvedObject.name%3Dpa")[0] == 400
    _, lst = call(sandbox, "GET", new)
    seen: list[dict] = []

    def watch():
        _, _, data = sandbox.request("GET", new + "?watch=1&timeoutSeconds=3&fieldSelector=regarding.name%3Dpc"
                                        f"&resourceVersion={lst['metadata']['resourceVersion']}", timeout=10)
        seen.extend(json.loads(line) for line in data.splitlines() if line.strip())
    t = threading.Thread(target=watch)
    t.start()
    import time
    time.sleep(0.5)
    call(sandbox, "POST", core, {"metadata": {"name": "c"}, "involvedObject": {"kind": "Pod", "name": "pc"},
                                 "reason": "R", "message": "via core", "type": "Normal"})
    t.join(10)
    assert [(e["type"], e["object"]["metadata"]["name"], e["object"].get("note")) for e in seen] == \
        [("ADDED", "c", "via core")]
    out = sandbox.kubectl("-n", ns, "get", "events.v1.events.k8s.io", "--no-headers").stdout
    assert "pod/pa" in out and "pod/pb" in out and "<unknown>" not in out


def test_new_api_create_validation(sandbox, ns):
    code, body = call(sandbox, "POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events",
                      {"metadata": {"name": "bad"}, "note": "x", "type": "Normal"})
    assert code == 422 and body["reason"] == "Invalid"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"eventTime", "reportingController", "reportingInstance", "action", "reason"} <= fields
