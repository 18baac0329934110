"""The pod table's READY / STATUS / RESTARTS cells, derived from container statuses like kubectl's pod printer."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox.apiserver.kinds import pod_summary


def _pod(containers=1, inits=0, phase="Running", statuses=(), init_statuses=(), conditions=(), deleting=False,
         reason=None):
    o = {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": f"c{i}", "image": "i"} for i in range(containers)],
        "initContainers": [{"name": f"i{i}", "image": "i"} for i in range(inits)]},
         "status": {"phase": phase, "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses),
                    "conditions": [{"type": t, "status": s} for t, s in conditions]}}
    if reason:
        o["status"]["reason"] = reason
    if deleting:
        o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return o


def _cs(name="c0", ready=False, restarts=0, **state):
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state}


@pytest.mark.parametrize("pod, expected", [
    (_pod(phase="Pending"), "Pending"),
    (_pod(phase="Pending", statuses=[_cs(waiting={"reason": "ContainerCreating"})]), "ContainerCreating"),
    (_pod(statuses=[_cs(ready=True, running={"startedAt": "x"})], conditions=[("Ready", "True")]), "Running"),
    (_pod(phase="Succeeded", statuses=[_cs(terminated={"exitCode": 0, "reason": "Completed"})]), "Completed"),
    (_pod(phase="Failed", statuses=[_cs(terminated={"exitCode": 1, "reason": "Error"})]), "Error"),
    (_pod(phase="Failed", statuses=[_cs(terminated={"exitCode": 3})]), "ExitCode:3"),
    (_pod(phase="Failed", statuses=[_cs(terminated={"exitCode": 137, "signal": 9})]), "Signal:9"),
    (_pod(statuses=[_cs(restarts=4, waiting={"reason": "CrashLoopBackOff"})]), "CrashLoopBackOff"),
    (_pod(phase="Pending", statuses=[_cs(waiting={"reason": "ErrImagePull"})]), "ErrImagePull"),
    (_pod(phase="Pending", inits=1, init_statuses=[_cs("i0", running={})],
          statuses=[_cs(waiting={"reason": "PodInitializing"})]), "Init:0/1"),
    (_pod(phase="Pending", inits=2, init_statuses=[_cs("i0", terminated={"exitCode": 0, "reason": "Completed"}),
                                                   _cs("i1", running={})]), "Init:1/2"),
    (_pod(phase="Pending", inits=1, init_statuses=[_cs("i0", terminated={"exitCode": 1, "reason": "Error"})]),
     "Init:Error"),
    (_pod(phase="Pending", inits=1, init_statuses=[_cs("i0", restarts=3, waiting={"reason": "CrashLoopBackOff"})]),
     "Init:CrashLoopBackOff"),
    (_pod(statuses=[_cs(ready=True, running={})], conditions=[("Ready", "True")], deleting=True), "Terminating"),
    (_pod(phase="Succeeded", statuses=[_cs(terminated={"exitCode": 0, "reason": "Completed"})], deleting=True),
     "Completed"),
    (_pod(phase="Failed", reason="Evicted"), "Evicted"),
    (_pod(containers=2, statuses=[_cs("c0", terminated={"exitCode": 0, "reason": "Completed"}),
                                  _cs("c1", ready=True, running={})], conditions=[("Ready", "False")]), "NotReady"),
])
def test_pod_status_column(pod, expected):
    assert pod_summary(pod)[2] == expected


def test_ready_and_restarts():
    last = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cs = [_cs("c0", ready=True, restarts=2, running={}), _cs("c1", restarts=1, waiting={"reason": "CrashLoopBackOff"})]
    cs[1]["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last}}
    ready, total, status, restarts, when = pod_summary(_pod(containers=2, statuses=cs))
    assert (ready, total, status, restarts, when) == (1, 2, "CrashLoopBackOff", 3, last)
