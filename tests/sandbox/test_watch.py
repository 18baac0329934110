"""Watch semantics: replay from resourceVersion, 410 Gone, bookmarks, selectors, many concurrent watchers."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from urllib.parse import urlsplit

import pytest
from sbx import MERGE, call

pytestmark = pytest.mark.sandbox


def _stream(sandbox, path, stop_after=None, timeout=15.0, ready: threading.Event | None = None):
    """Read watch events until `stop_after` events or the server ends the stream."""
    u = urlsplit(sandbox.server)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(
        cafile=sandbox.ca_file), timeout=timeout)
    conn.request("GET", path, headers={"Authorization": f"Bearer {sandbox.token}"})
    resp = conn.getresponse()
    if ready is not None:
        ready.set()
    assert resp.status == 200
    events = []
    try:
        while stop_after is None or len(events) < stop_after:
            line = resp.readline()
            if not line:
                break
            events.append(json.loads(line))
    finally:
        conn.close()
    return events


def _cm(name, labels=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "data": {}}


def test_replay_from_resource_version(sandbox, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    rv = call(sandbox, "GET", base)[1]["metadata"]["resourceVersion"]
    call(sandbox, "POST", base, _cm("a"))
    call(sandbox, "PATCH", base + "/a", {"data": {"x": "1"}}, content_type=MERGE)
    call(sandbox, "DELETE", base + "/a")
    events = _stream(sandbox, f"{base}?watch=1&resourceVersion={rv}&timeoutSeconds=2", stop_after=3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


def test_initial_state_without_resource_version_and_timeout(sandbox, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    call(sandbox, "POST", base, _cm("one"))
    t0 = time.monotonic()
    events = _stream(sandbox, f"{base}?watch=true&timeoutSeconds=1")
    assert time.monotonic() - t0 < 5
    assert ("ADDED", "one") in [(e["type"], e["object"]["metadata"]["name"]) for e in events]


def test_too_old_resource_version_is_gone(tmp_path):
    """A small in-process sandbox (history window of 20 events) to reach a compacted resourceVersion."""
    from sandbox.pytest_plugin import SandboxHandle
    from sandbox.server import Sandbox
    sb = Sandbox(str(tmp_path), snapshot=False, history=20, component_specs=[])
    sb.start()
    try:
        handle = SandboxHandle(sb.info())
        base = "/api/v1/namespaces/default/configmaps"
        for i in range(30):
            call(handle, "POST", base, _cm(f"c{i}"))
        events = _stream(handle, f"{base}?watch=1&resourceVersion=2&timeoutSeconds=2")
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
        assert status["message"].startswith("too old resource version: 2 (")
        # the in-process store is the controllers' API: a watch from "now" sees new events
        with sb.store.watch(("", "configmaps"), "default") as w:
            call(handle, "POST", base, _cm("late"))
            ev = w.get(timeout=5)
            assert ev.type == "ADDED" and ev.obj["metadata"]["name"] == "late"
    finally:
        sb.stop()


def test_selectors_and_bookmarks(sandbox, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    rv = call(sandbox, "GET", base)[1]["metadata"]["resourceVersion"]
    call(sandbox, "POST", base, _cm("red", {"color": "red"}))
    call(sandbox, "POST", base, _cm("blue", {"color": "blue"}))
    call(sandbox, "PATCH", base + "/blue", {"metadata": {"labels": {"color": "red"}}}, content_type=MERGE)
    call(sandbox, "PATCH", base + "/red", {"metadata": {"labels": {"color": "green"}}},
         content_type=MERGE)
    events = _stream(sandbox, f"{base}?watch=1&resourceVersion={rv}&labelSelector=color%3Dred"
                              f"&allowWatchBookmarks=true&timeoutSeconds=2")
    typed = [(e["type"], e["object"]["metadata"].get("name")) for e in events if e["type"] != "BOOKMARK"]
    assert typed == [("ADDED", "red"), ("ADDED", "blue"), ("DELETED", "red")]
    assert any(e["type"] == "BOOKMARK" for e in events)
    by_name = _stream(sandbox, f"{base}?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dblue"
                               f"&timeoutSeconds=1")
    assert {e["object"]["metadata"]["name"] for e in by_name} == {"blue"}


def test_two_hundred_watchers_see_every_event_in_order(sandbox, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    n_watchers, n_events = 200, 30
    rv = call(sandbox, "GET", base)[1]["metadata"]["resourceVersion"]
    results: list[list] = [None] * n_watchers
    ready = [threading.Event() for _ in range(n_watchers)]

    def watcher(i):
        results[i] = _stream(sandbox, f"{base}?watch=1&resourceVersion={rv}&timeoutSeconds=60",
                             stop_after=n_events, timeout=60, ready=ready[i])

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(n_watchers)]
    for t in threads:
        t.start()
    for r in ready:
        r.wait(30)
    call(sandbox, "POST", base, _cm("counter"))
    for i in range(n_events - 1):
        call(sandbox, "PATCH", base + "/counter", {"data": {"n": str(i)}}, content_type=MERGE)
    for t in threads:
        t.join(60)
    expected = None
    for events in results:
        assert events is not None and len(events) == n_events
        seq = [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert [int(v) for _, v in seq] == sorted(int(v) for _, v in seq)
        expected = expected or seq
        assert seq == expected


def test_abandoned_watches_are_released(sandbox, ns):
    """Clients that hang up mid-watch do not leave subscriptions (or threads) behind on the server."""
    u = urlsplit(sandbox.server)
    path = f"/api/v1/namespaces/{ns}/configmaps?watch=1&timeoutSeconds=300"

    def watchers():
        # this namespace's watches only: the sandbox is shared, and other tests' and controllers' watches come and go
        return json.loads(sandbox.request("GET", "/sandbox/v1/stats")[2])["watchersByNamespace"].get(ns, 0)

    before = watchers()
    conns = []
    for _ in range(20):
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(
            cafile=sandbox.ca_file), timeout=10)
        conn.request("GET", path, headers={"Authorization": f"Bearer {sandbox.token}"})
        assert conn.getresponse().status == 200
        conns.append(conn)
    assert watchers() == before + 20
    for conn in conns:
        conn.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and watchers() > before:
        time.sleep(0.1)
    assert watchers() <= before
