"""The pure helpers of benchmarks/bench_tasks.py (request classification, callback timings); nothing is timed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_tasks.py"
spec = importlib.util.spec_from_file_location("bench_tasks", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.parametrize("path", ["/api", "/api/", "/apis", "/api/v1", "/apis/argoproj.io",
                                  "/apis/argoproj.io/v1alpha1", "/openapi/v2", "/openapi/v3/apis/apps/v1"])
def test_discovery_paths(path):
    assert bench.is_discovery(path)


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/api/v1/namespaces/ns/configmaps/x",
                                  "/apis/argoproj.io/v1alpha1/workflows",
                                  "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows/wf", "/version", "/healthz"])
def test_resource_and_other_paths_are_not_discovery(path):
    assert not bench.is_discovery(path)


def test_count_requests_keeps_the_clients_requests_only():
    def entry(path, user="sandbox-admin", method="GET", verb="get"):
        return {"path": path, "user": user, "method": method, "verb": verb}

    entries = [
        entry("/version", user=None),
        entry("/api"), entry("/apis"), entry("/apis/argoproj.io/v1alpha1"),
        entry("/api/v1/namespaces/ns/configmaps/x"),
        entry("/apis/argoproj.io/v1alpha1/namespaces/ns/workflows", verb="watch"),
        entry("/apis/argoproj.io/v1alpha1/namespaces/ns/workflows", method="POST", verb="create"),
        entry("/sandbox/v1/audit"),  # the benchmark's own
        entry("/readyz", user=None),
        entry("/apis/argoproj.io/v1alpha1/namespaces/ns/workflowtaskresults", user="system:serviceaccount:ns:wf",
              method="POST", verb="create"),  # a step pod
    ]
    assert bench.count_requests(entries) == {"total": 7, "discovery": 3, "version": 1, "watch": 1, "other": 2}


def test_task_timings_and_spans_from_json_callback_output():
    def task(name, **duration):
        return {"task": {"name": name, "duration": duration}}

    play = {"duration": {"start": "2025-01-01T10:00:00.000000Z", "end": "2025-01-01T10:00:03.500000Z"}}
    data = {"plays": [{"play": play, "tasks": [
        task("submit", start="2025-01-01T10:00:00.250000Z", end="2025-01-01T10:00:01Z"),
        task("poll", start="2025-01-01T10:00:01.000000Z", end="2025-01-01T10:00:03.250000Z"),
        task("unfinished", start="2025-01-01T10:00:03Z"),
    ]}]}
    timings = bench.task_timings(data)
    assert [t[0] for t in timings] == ["submit", "poll"]
    assert timings[0][2] - timings[0][1] == pytest.approx(0.75)
    assert bench.span(timings, "submit", "poll") == pytest.approx(3.0)
    assert bench.play_seconds(data) == pytest.approx(3.5)
    assert bench.parse_time("2025-01-01T10:00:00Z") == pytest.approx(1735725600.0)


def test_summary_and_table():
    assert bench.summary([]) == "n/a"
    assert bench.summary([1.0]) == "1.00"
    assert bench.summary([3, 3], 0) == "3"
    assert bench.summary([3.0, 1.0, 2.0]) == "2.00 [1.00-3.00]"
    assert bench.markdown_table(["a", "b"], [["1", "2"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_both_sides_read_the_same_objects_with_the_same_arguments():
    mlops, core = bench.read_tasks("mlops.k8s", 7), bench.read_tasks("kubernetes.core", 7)
    assert [t["mlops.k8s.info"] for t in mlops] == [t["kubernetes.core.k8s_info"] for t in core]
    assert {t["mlops.k8s.info"]["api_version"] for t in mlops} == {"v1", "argoproj.io/v1alpha1",
                                                                   "machinelearning.seldon.io/v1"}


def test_wait_playbooks_submit_the_same_workflow_and_carry_no_ansible_templating():
    (ours,) = bench.wait_tasks("mlops.k8s", "wf-a", 5, 10)
    create, poll = bench.wait_tasks("kubernetes.core", "wf-b", 5, 10)
    assert ours["mlops.k8s.argo_workflow"]["spec"] == create["kubernetes.core.k8s"]["definition"]["spec"]
    assert poll["delay"] == 5 and poll["retries"] == 10 and "Succeeded" in poll["until"]
    text = yaml.safe_dump([ours, create])
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize("op", ["apply", "wait"])
def test_op_tasks_send_the_same_request_with_both_collections(op):
    ours, theirs = (bench.op_tasks(side, op, 2) for side in bench.SIDES)
    assert len(ours) == len(theirs) == 2
    (our_module,) = set(ours[0]) - {"name"}
    (their_module,) = set(theirs[0]) - {"name"}
    assert our_module.startswith("mlops.k8s.") and their_module.startswith("kubernetes.core.")
    if op == "apply":
        assert ours[0][our_module]["definition"] == theirs[0][their_module]["definition"] == bench.CONFIG
        assert "server_side_apply" in theirs[0][their_module]
    else:
        for key in ("api_version", "kind", "name", "namespace"):
            assert ours[0][our_module][key] == theirs[0][their_module][key]
        assert ours[0][our_module]["condition"] == theirs[0][their_module]["wait_condition"]


def test_op_tasks_info_is_the_read_cycle_and_unknown_ops_fail():
    assert bench.op_tasks("mlops.k8s", "info", 3) == bench.read_tasks("mlops.k8s", 3)
    with pytest.raises(ValueError):
        bench.op_tasks("mlops.k8s", "delete", 1)


def test_task_ratios_divide_medians_per_operation_and_cache():
    rows = [{"op": "info", "side": "mlops.k8s", "cache": "cold", "task_mean": [0.2, 0.3, 0.25]},
            {"op": "info", "side": "kubernetes.core", "cache": "cold", "task_mean": [0.5, 0.9, 0.6]},
            {"op": "info", "side": "mlops.k8s", "cache": "warm", "task_mean": [0.4]}]
    assert bench.task_ratios(rows) == [("info", "cold", pytest.approx(0.25 / 0.6))]
