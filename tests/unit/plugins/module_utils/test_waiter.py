"""Watch-based waits on canned event streams (no server, no sleeping)."""

from __future__ import annotations

import pytest
from ansible_collections.mlops.k8s.plugins.module_utils import waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError, WaitFailed, WaitTimeout
from k8s_fake import FakeCluster, make_client


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Res:
    kind = "Deployment"
    namespaced = True


class FakeWatchClient:
    """list() returns canned listings, watch() plays canned streams; each event costs one second."""

    def __init__(self, clock, listings, streams):
        self.clock = clock
        self.listings = list(listings)
        self.streams = list(streams)
        self.list_calls = []
        self.watch_calls = []

    def list(self, resource, namespace=None, **kwargs):
        self.list_calls.append(dict(kwargs, namespace=namespace))
        return self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]

    def watch(self, resource, **kwargs):
        self.watch_calls.append(kwargs)
        stream = self.streams.pop(0) if self.streams else []
        if isinstance(stream, Exception):
            self.clock.sleep(0.1)
            raise stream  # pylint: disable=raising-bad-type
        return self._play(stream, kwargs["timeout"])

    def _play(self, stream, timeout):
        start = self.clock()
        for event in stream:
            if isinstance(event, Exception):
                raise event
            self.clock.sleep(1)
            yield event
        self.clock.now = max(self.clock.now, start + min(timeout, 30))  # the server closes the watch


def listing(rv, *items):
    return {"metadata": {"resourceVersion": str(rv)}, "items": list(items)}


def deploy(rv, *, generation=1, observed=1, replicas=2, updated=2, available=2, total=None, conditions=None, uid="u1"):
    return {
        "kind": "Deployment",
        "metadata": {
            "name": "iris",
            "namespace": "models",
            "resourceVersion": str(rv),
            "generation": generation,
            "uid": uid,
        },
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "replicas": updated if total is None else total,
            "conditions": conditions or [],
        },
    }


def cond(type_, status, reason=None, message=None):
    return {"type": type_, "status": status, "reason": reason, "message": message}


def run(client, clock, **kwargs):
    kwargs.setdefault("timeout", 60)
    return waiter.wait_for(client, Res(), "iris", "models", clock=clock, sleep=clock.sleep, **kwargs)


# -- paths ---------------------------------------------------------------------------------------------------------
OBJ = {
    "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "iris"}},
    "status": {
        "state": "Available",
        "ready": True,
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "Available", "status": "True"}],
    },
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("{.status.state}", "Available"),
        (".status.state", "Available"),
        ("status.state", "Available"),
        ("status.conditions[1].type", "Available"),
        ("status.conditions[-1].status", "True"),
        ("metadata.labels['app.kubernetes.io/name']", "iris"),
        ('metadata.labels["app.kubernetes.io/name"]', "iris"),
        (r"metadata.labels.app\.kubernetes\.io/name", "iris"),
        ('{.status.conditions[?(@.type=="Available")].status}', "True"),
        ("status.conditions[?(@.type=='Ready')].status", "False"),
        ("status.conditions[5].type", None),
        ("status.missing.deeper", None),
        ("status.state[0]", None),
    ],
)
def test_get_field(path, value):
    assert waiter.get_field(OBJ, path) == value


def test_bad_path():
    with pytest.raises(K8sError, match="cannot parse path"):
        waiter.parse_path("status..state")
    with pytest.raises(K8sError, match="cannot parse path"):
        waiter.parse_path("status.conditions[x]")


def test_jsonpath_check():
    assert waiter.jsonpath("{.status.ready}", "True")(OBJ)[0]
    assert waiter.jsonpath(".status.state", "Available")(OBJ) == (True, '.status.state="Available" (want Available)')
    assert not waiter.jsonpath(".status.state", "Failed")(OBJ)[0]
    assert waiter.jsonpath(".status.state")(OBJ)[0]
    done, detail = waiter.jsonpath(".status.url")(OBJ)
    assert not done and detail.startswith(".status.url is not set; state=Available")
    assert waiter.jsonpath(".status.state")(None) == (False, "the object does not exist")


def test_condition_check_and_summary():
    check = waiter.condition("Available")
    assert check(OBJ)[0]
    assert not waiter.condition("Ready")(OBJ)[0]
    assert waiter.condition("Ready", "False")(OBJ)[0]
    assert waiter.condition("Ready", False)(OBJ)[0]
    assert not waiter.condition("Available", "True", reason="MinimumReplicasAvailable")(OBJ)[0]
    assert waiter.summarize(OBJ) == "state=Available; conditions: Ready=False, Available=True"
    assert waiter.summarize(None) == "the object does not exist"
    assert waiter.summarize({"status": {}}) == "no status reported yet"


def test_unschedulable_pod_summary_keeps_the_scheduler_message():
    # kube-scheduler's whole FitError text (two nodes, two reasons) reaches a Pod wait's "last seen"
    message = ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. "
               "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption "
               "is not helpful for scheduling.")
    pod = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}}
    done, detail = waiter.condition("Ready")(pod)
    assert not done
    assert detail == "phase=Pending; conditions: PodScheduled=False (Unschedulable: %s)" % message


# -- rollout -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("obj", "done", "message"),
    [
        (deploy(1, generation=2, observed=1), False, "waiting for the deployment spec update to be observed"),
        (deploy(1, updated=1, available=1), False, "1 out of 2 new replicas have been updated"),
        (deploy(1, total=3), False, "1 old replicas are pending termination"),
        (deploy(1, available=1), False, "1 of 2 updated replicas are available"),
        (deploy(1), True, "successfully rolled out"),
    ],
)
def test_deployment_rollout(obj, done, message):
    assert waiter.rollout_status(obj) == (done, message)


def test_statefulset_and_daemonset_rollout():
    sts = {
        "kind": "StatefulSet",
        "metadata": {"generation": 2},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 2,
            "readyReplicas": 3,
            "updatedReplicas": 1,
            "currentRevision": "a",
            "updateRevision": "b",
        },
    }
    assert waiter.rollout_status(sts) == (
        False,
        "waiting for statefulset rolling update to complete 1 pods at revision b",
    )
    sts["status"]["currentRevision"] = "b"
    assert waiter.rollout_status(sts) == (True, "successfully rolled out")
    sts["status"]["readyReplicas"] = 1
    assert waiter.rollout_status(sts) == (False, "waiting for 3 pods to be ready (1 ready)")
    ds = {
        "kind": "DaemonSet",
        "metadata": {"generation": 1},
        "spec": {},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 1,
        },
    }
    assert waiter.rollout_status(ds) == (False, "1 of 2 updated pods are available")
    ds["status"]["numberAvailable"] = 2
    assert waiter.rollout_status(ds)[0]
    with pytest.raises(K8sError, match="rollout status is supported for Deployment/StatefulSet/DaemonSet, not Pod"):
        waiter.rollout_status({"kind": "Pod"})


def test_progress_deadline_is_a_failure():
    stuck = deploy(
        1,
        available=0,
        conditions=[
            cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "iris-1" has timed out progressing.')
        ],
    )
    assert waiter.rollout_failure(stuck) == 'progress deadline exceeded: ReplicaSet "iris-1" has timed out progressing.'
    assert waiter.rollout_failure(deploy(1)) is None


# -- wait_for ------------------------------------------------------------------------------------------------------
def test_already_done_needs_no_watch():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, deploy(5))], [])
    result = run(client, clock, check=waiter.rollout())
    assert result.object["metadata"]["resourceVersion"] == "5"
    assert result.detail == "successfully rolled out"
    assert client.watch_calls == []
    assert client.list_calls == [{"namespace": "models", "field_selector": "metadata.name=iris"}]


def test_watch_from_the_listed_version_until_done():
    clock = Clock()
    client = FakeWatchClient(
        clock,
        [listing(5, deploy(5, available=0))],
        [
            [
                ("MODIFIED", deploy(6, available=1)),
                ("BOOKMARK", {"metadata": {"resourceVersion": "7"}}),
                ("MODIFIED", deploy(8, available=2)),
                ("MODIFIED", deploy(9, available=2)),
            ]
        ],
    )
    result = run(client, clock, check=waiter.rollout())
    assert result.object["metadata"]["resourceVersion"] == "8"
    assert result.elapsed == 3
    call = client.watch_calls[0]
    assert (call["resource_version"], call["name"], call["namespace"]) == ("5", "iris", "models")


def test_reconnects_from_the_last_seen_version():
    clock = Clock()
    client = FakeWatchClient(
        clock,
        [listing(5, deploy(5, available=0))],
        [
            [("MODIFIED", deploy(6, available=1))],  # then the server closes the stream
            [("BOOKMARK", {"metadata": {"resourceVersion": "9"}})],
            [("MODIFIED", deploy(10, available=2))],
        ],
    )
    run(client, clock, check=waiter.rollout(), timeout=300)
    assert [c["resource_version"] for c in client.watch_calls] == ["5", "6", "9"]
    assert len(client.list_calls) == 1


def test_gone_relists():
    clock = Clock()
    client = FakeWatchClient(
        clock,
        [listing(5, deploy(5, available=0)), listing(50, deploy(50, available=1))],
        [
            [("ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"})],
            K8sError("watch: 410 Gone", status=410),
            [("MODIFIED", deploy(51, available=2))],
        ],
    )
    result = run(client, clock, check=waiter.rollout())
    assert result.object["metadata"]["resourceVersion"] == "51"
    assert len(client.list_calls) == 3
    assert client.watch_calls[-1]["resource_version"] == "50"


def test_transient_errors_rewatch_after_a_pause():
    clock = Clock()
    client = FakeWatchClient(
        clock,
        [listing(5, deploy(5, available=0))],
        [
            K8sError("cannot reach the Kubernetes API: connection reset"),
            K8sError("503 ServiceUnavailable", status=503),
            [("MODIFIED", deploy(6))],
        ],
    )
    assert run(client, clock, check=waiter.rollout()).detail == "successfully rolled out"
    assert len(client.watch_calls) == 3


def test_permanent_watch_error_is_raised():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, deploy(5, available=0))], [K8sError("403 Forbidden", status=403)])
    with pytest.raises(K8sError, match="403 Forbidden"):
        run(client, clock, check=waiter.rollout())


def test_timeout_says_what_was_last_seen():
    clock = Clock()
    client = FakeWatchClient(
        clock,
        [listing(5, deploy(5, available=0))],
        [
            [
                (
                    "MODIFIED",
                    deploy(6, available=1, conditions=[cond("Available", "False", "MinimumReplicasUnavailable")]),
                )
            ],
        ],
    )
    with pytest.raises(K8sError) as info:
        run(client, clock, check=waiter.rollout(), timeout=20, description="rollout to complete")
    assert str(info.value) == (
        "timed out after 20s waiting for Deployment models/iris: rollout to complete; "
        "last seen: 1 of 2 updated replicas are available"
    )
    assert isinstance(info.value, WaitTimeout) and info.value.reason == "Timeout"
    clock = Clock()
    client = FakeWatchClient(
        clock, [listing(5, deploy(5, conditions=[cond("Available", "False", "Min", "not yet")]))], []
    )
    with pytest.raises(K8sError, match=r"last seen: conditions: Available=False \(Min: not yet\)$"):
        run(client, clock, check=waiter.condition("Available"), timeout=10)


def test_a_shared_deadline_ends_the_wait_and_the_message_names_the_whole_timeout():
    # apply waits kind after kind within one wait_timeout: a later wait ends at the shared deadline, and the
    # message gives the option's value, not the seconds that were left of it
    clock = Clock()
    clock.now = 100.0
    client = FakeWatchClient(clock, [listing(5, deploy(5, available=0))], [])
    with pytest.raises(WaitTimeout, match=r"^timed out after 30s waiting for Deployment models/iris"):
        run(client, clock, check=waiter.rollout(), timeout=30, deadline=108.0)
    assert 108.0 <= clock.now < 109.0


def test_failure_predicate_fails_fast():
    clock = Clock()
    failed = {
        "kind": "SeldonDeployment",
        "metadata": {"name": "iris", "resourceVersion": "7"},
        "status": {"state": "Failed", "description": "model download failed: NoSuchKey"},
    }

    def seldon_failed(obj):
        status = obj.get("status") or {}
        return status.get("description") if status.get("state") == "Failed" else None

    client = FakeWatchClient(
        clock, [listing(5)], [[("ADDED", dict(failed, status={"state": "Creating"})), ("MODIFIED", failed)]]
    )
    with pytest.raises(WaitFailed, match=r"^Deployment models/iris failed: model download failed: NoSuchKey$") as info:
        run(client, clock, check=waiter.jsonpath(".status.state", "Available"), failure=seldon_failed, timeout=600)
    assert clock() == 2
    assert isinstance(info.value, K8sError) and info.value.reason == "Failed"


def test_wait_for_an_object_that_does_not_exist_yet():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5)], [[("ADDED", deploy(6))]])
    result = run(client, clock, check=waiter.exists())
    assert result.object["metadata"]["resourceVersion"] == "6"


def test_wait_for_deletion():
    clock = Clock()
    going = deploy(5)
    going["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["foregroundDeletion"])
    client = FakeWatchClient(clock, [listing(5, going)], [[("MODIFIED", going), ("DELETED", going)]])
    result = run(client, clock, check=waiter.deleted("u1"))
    assert result.object is None and result.detail == "deleted"
    check = waiter.deleted("u1")
    assert check(going) == (False, "deletion pending since 2026-01-01T00:00:00Z, finalizers: foregroundDeletion")
    assert check(deploy(9, uid="u2"))[0]  # replaced by a new object


def test_events_of_other_objects_are_ignored():
    clock = Clock()
    other = deploy(6)
    other["metadata"]["name"] = "other"
    client = FakeWatchClient(clock, [listing(5)], [[("ADDED", other), ("ADDED", deploy(7))]])
    assert run(client, clock, check=waiter.exists()).object["metadata"]["name"] == "iris"


def test_default_checks():
    check, failure = waiter.default_check("Deployment")
    assert failure is waiter.rollout_failure and check(deploy(1))[0]
    check, _unused = waiter.default_check("CustomResourceDefinition")
    assert check({"status": {"conditions": [cond("Established", "True")]}})[0]
    check, _unused = waiter.default_check("Namespace")
    assert check({"status": {"phase": "Active"}})[0]
    check, failure = waiter.default_check("ConfigMap")
    assert check({})[0] and failure is None


def test_default_check_seldon_deployment():
    check, failure = waiter.default_check("SeldonDeployment")

    def sdep(state, generation=2, observed=2, description=None):
        status = {"state": state, "observedGeneration": observed}
        if description:
            status["description"] = description
        return {"metadata": {"name": "iris", "generation": generation}, "status": status}

    assert check(sdep("Available"))[0]
    assert not check(sdep("Creating"))[0]
    assert not check(sdep("Available", generation=3))[0]  # Available of the previous spec
    assert not check({"metadata": {"name": "iris"}})[0] and not check(None)[0]
    assert failure(sdep("Failed", description="model download failed")) == "state Failed: model download failed"
    assert failure(sdep("Failed", generation=3)) is None and failure(sdep("Creating")) is None


# -- through the real client stack ---------------------------------------------------------------------------------
def test_wait_through_http_watch(tmp_path):
    cluster = FakeCluster()
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    resource = client.resource("apps/v1", "Deployment")
    cluster.queue_watch(
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}
    )
    cluster.queue_watch(
        {"type": "ADDED", "object": deploy(20, available=0)}, {"type": "MODIFIED", "object": deploy(21)}
    )
    result = waiter.wait_for(client, resource, "iris", "models", check=waiter.rollout(), timeout=30)
    assert result.object["metadata"]["resourceVersion"] == "21"
    watches = [r for r in cluster.requests if r.query.get("watch")]
    assert len(watches) == 2
    assert watches[0].query["fieldSelector"] == "metadata.name=iris"
    assert watches[0].query["allowWatchBookmarks"] in ("True", "true")
    assert watches[0].path == "/apis/apps/v1/namespaces/models/deployments"
    lists = [
        r
        for r in cluster.requests
        if r.method == "GET" and r.path.endswith("/deployments") and not r.query.get("watch")
    ]
    assert len(lists) == 2  # the 410 made it list again


class ClusterRes:
    kind = "ConfigMap"
    namespaced = True


def test_wait_for_match():
    clock = Clock()
    cm = {"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "7", "labels": {"app": "iris"}}}
    client = FakeWatchClient(
        clock,
        [listing(5), listing(9, cm)],
        [
            [("ERROR", {"code": 410, "reason": "Expired", "message": "too old"})],
            [],
        ],
    )
    items = waiter.wait_for_match(
        client, ClusterRes(), "models", label_selector="app=iris", timeout=60, clock=clock, sleep=clock.sleep
    )
    assert items == [cm]
    assert client.list_calls[0] == {"namespace": "models", "label_selector": "app=iris", "field_selector": None}
    client = FakeWatchClient(clock, [listing(5)], [[("ADDED", cm)]])
    assert waiter.wait_for_match(client, ClusterRes(), "models", timeout=60, clock=clock, sleep=clock.sleep) == [cm]
    client = FakeWatchClient(clock, [listing(5)], [])
    with pytest.raises(
        K8sError,
        match=r"^timed out after 3s waiting for ConfigMap in namespace models matching "
        r"app=x$",
    ):
        waiter.wait_for_match(
            client, ClusterRes(), "models", label_selector="app=x", timeout=3, clock=clock, sleep=clock.sleep
        )


# -- several objects, one list and one watch ----------------------------------------------------------------------
def named(name, rv, **kwargs):
    obj = deploy(rv, **kwargs)
    obj["metadata"]["name"] = name
    return obj


def run_all(client, clock, names, **kwargs):
    kwargs.setdefault("timeout", 60)
    return waiter.wait_for_all(client, Res(), names, "models", check=waiter.rollout(), failure=waiter.rollout_failure,
                               clock=clock, sleep=clock.sleep, **kwargs)


def test_several_objects_share_one_list_and_one_watch():
    clock = Clock()
    client = FakeWatchClient(
        clock,
        [listing(5, named("a", 3), named("b", 4, available=0), named("other", 5, available=0))],
        [[("MODIFIED", named("other", 6, available=1)),
          ("MODIFIED", named("c", 7, available=0)),
          ("MODIFIED", named("b", 8)),
          ("MODIFIED", named("c", 9))]],
    )
    results = run_all(client, clock, ["a", "b", "c"])
    assert client.list_calls == [{"namespace": "models"}]
    assert [(c["resource_version"], c.get("name")) for c in client.watch_calls] == [("5", None)]
    assert {n: r.object["metadata"]["resourceVersion"] for n, r in results.items()} == {"a": "3", "b": "8", "c": "9"}
    assert (results["a"].elapsed, results["b"].elapsed, results["c"].elapsed) == (0, 3, 4)


def test_one_failing_object_fails_the_group_at_once():
    clock = Clock()
    stuck = [cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "b-1" has timed out progressing.')]
    client = FakeWatchClient(clock, [listing(5, named("a", 4, available=0), named("b", 5, available=0))],
                             [[("MODIFIED", named("b", 6, available=0, conditions=stuck))]])
    with pytest.raises(WaitFailed, match="Deployment models/b failed: progress deadline exceeded"):
        run_all(client, clock, ["a", "b"])
    assert clock() == 1


def test_a_timeout_names_each_object_not_done():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, named("a", 4), named("b", 5, available=1))], [])
    with pytest.raises(WaitTimeout) as err:
        run_all(client, clock, ["a", "b", "c"], timeout=10)
    text = str(err.value)
    assert "3 Deployment objects in namespace models" in text
    assert "b" in text and "1 of 2 updated replicas are available" in text and "c" in text
    assert "models/a" not in text


def test_one_object_is_an_ordinary_wait():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, named("a", 5))], [])
    assert list(run_all(client, clock, ["a", "a"])) == ["a"]
    assert client.list_calls == [{"namespace": "models", "field_selector": "metadata.name=a"}]


def test_a_rollout_timeout_says_what_its_pods_wait_for(tmp_path):
    cluster = FakeCluster()
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    labels = {"app": "iris"}
    cluster.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "iris-1", "namespace": "models",
                                                                 "labels": labels},
                 "status": {"containerStatuses": [{
                     "name": "model", "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
                     "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}})
    cluster.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "iris-2", "namespace": "models",
                                                                 "labels": labels},
                 "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": "0/2 nodes are available: 2 Insufficient cpu."}]}})
    cluster.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "namespace": "models"},
                 "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}})
    stuck = deploy(5, available=0)
    stuck["spec"]["selector"] = {"matchLabels": labels}
    clock = Clock()
    fake = FakeWatchClient(clock, [listing(5, stuck)], [])
    with pytest.raises(WaitTimeout) as err:
        run(fake, clock, check=waiter.rollout(), timeout=5, explain=waiter.rollout_explanation(client))
    text = str(err.value)
    assert "pod iris-1 container model: CrashLoopBackOff: back-off 40s restarting (last exit code 3, Error, 4 " \
           "restarts)" in text
    assert "pod iris-2 not scheduled: Unschedulable 0/2 nodes are available: 2 Insufficient cpu." in text
    assert "other" not in text


def test_a_probe_reason_ends_the_wait_long_before_the_timeout():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, deploy(5, available=0))], [])
    asked = []

    def probe(obj):
        asked.append((clock(), obj["metadata"]["resourceVersion"]))
        return "pod iris-1 container model: ImagePullBackOff: not found" if len(asked) == 2 else None

    with pytest.raises(WaitFailed, match=r"^Deployment models/iris cannot become ready: pod iris-1 container model: "
                                         r"ImagePullBackOff: not found$"):
        run(client, clock, check=waiter.rollout(), timeout=600, probe=probe)
    assert asked == [(5.0, "5"), (10.0, "5")]  # every PROBE_EVERY seconds, not before the first interval
    assert all(call["timeout"] <= waiter.PROBE_EVERY for call in client.watch_calls)


def test_a_probe_that_finds_nothing_leaves_the_wait_to_its_end():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, deploy(5, available=0))], [[], [("MODIFIED", deploy(6))]])
    result = run(client, clock, check=waiter.rollout(), timeout=600, probe=lambda obj: None)
    assert result.object["metadata"]["resourceVersion"] == "6"
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, deploy(5, available=0))], [])
    with pytest.raises(WaitTimeout):
        run(client, clock, check=waiter.rollout(), timeout=12, probe=lambda obj: None)


def test_a_group_probes_only_the_objects_not_done():
    clock = Clock()
    client = FakeWatchClient(clock, [listing(5, named("a", 4), named("b", 5, available=0))], [])
    probed = []

    def probe(obj):
        probed.append(obj["metadata"]["name"])
        return "CrashLoopBackOff" if obj["metadata"]["name"] == "b" else None

    with pytest.raises(WaitFailed, match=r"^Deployment models/b cannot become ready: CrashLoopBackOff$"):
        run_all(client, clock, ["a", "b"], timeout=600, probe=probe)
    assert probed == ["b"]


def _pod(name, template_hash, waiting_reason, restarts=0, message="m"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "models",
                         "labels": {"app": "iris", "pod-template-hash": template_hash}},
            "status": {"containerStatuses": [{"name": "model", "restartCount": restarts,
                                              "state": {"waiting": {"reason": waiting_reason, "message": message}},
                                              "lastState": {"terminated": {"exitCode": 3}} if restarts else {}}]}}


def _replica_set(template_hash, revision):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "iris-" + template_hash, "namespace": "models",
                         "labels": {"app": "iris", "pod-template-hash": template_hash},
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"kind": "Deployment", "name": "iris"}]}}


def test_rollout_probe_looks_at_the_pods_of_the_newest_replica_set(tmp_path):
    cluster = FakeCluster()
    cluster.add_kind("apps/v1", "ReplicaSet", "replicasets")
    client = make_client(cluster, cache_file=str(tmp_path / "d.json"))
    dep = deploy(5, available=0)
    dep["spec"]["selector"] = {"matchLabels": {"app": "iris"}}
    probe = waiter.rollout_probe(client, "Deployment", crashloop_restarts=3)
    for obj in (_replica_set("old", 1), _replica_set("new", 2),
                # the old revision's pod crash-loops: it is being replaced, so it does not count
                _pod("iris-old-1", "old", "CrashLoopBackOff", restarts=9),
                _pod("iris-new-1", "new", "CrashLoopBackOff", restarts=2)):
        cluster.put(obj)
    assert probe(dep) is None  # 2 restarts: not yet given up
    cluster.put(_pod("iris-new-1", "new", "CrashLoopBackOff", restarts=3, message="back-off 40s"))
    assert probe(dep) == ("pod iris-new-1 container model: CrashLoopBackOff: back-off 40s (last exit code 3, "
                          "3 restarts)")
    cluster.put(_pod("iris-new-1", "new", "ImagePullBackOff", message='Back-off pulling image "ghost:1"'))
    assert probe(dep) == 'pod iris-new-1 container model: ImagePullBackOff: Back-off pulling image "ghost:1"'
    cluster.put(_pod("iris-new-1", "new", "ContainerCreating"))
    assert probe(dep) is None
