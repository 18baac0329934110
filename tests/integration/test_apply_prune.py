"""mlops.k8s.apply with prune=true against the sandbox cluster, through real ansible-playbook runs.

Apply three labelled ConfigMaps, re-apply two of them with prune: the third is deleted (and waited for). The
re-run is changed=false with zero writes in the API server's audit log; check mode writes nothing and reports
what it would prune; an object managed by a controller is left alone; bad prune options fail before any write.
"""

from __future__ import annotations

import uuid

import pytest
import yaml

pytestmark = pytest.mark.sandbox

SELECTOR = "app=x"


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def config_map(name, namespace, **meta):
    metadata = dict({"name": name, "namespace": namespace, "labels": {"app": "x"}}, **meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"name": name}}


def play(*tasks):
    return yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}], sort_keys=False)


def apply_task(title, definition, **args):
    return {"name": title, "mlops.k8s.apply": dict({"definition": definition}, **args)}


def prune_task(title, namespace, names, **args):
    return apply_task(title, [config_map(n, namespace) for n in names], prune=True, prune_selector=SELECTOR, **args)


def run_ok(run_playbook, playbook, *args):
    run = run_playbook(playbook, *args)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run


def describe(writes):
    return [(w["method"], w["path"]) for w in writes]


@pytest.fixture(scope="module")
def core(sandbox):
    from kubernetes import client

    return client.CoreV1Api(sandbox.api_client())


@pytest.fixture
def namespace(run_playbook):
    name = unique("prune")
    run_ok(run_playbook, play(apply_task("namespace", {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}})))
    return name


def names_in(core, namespace):
    return sorted(cm.metadata.name for cm in core.list_namespaced_config_map(namespace, label_selector=SELECTOR).items)


def test_prune_removes_what_left_the_manifests(sandbox, run_playbook, core, namespace):
    run = run_ok(run_playbook, play(prune_task("three", namespace, ["a", "b", "c"])))
    first = run.task("three")
    assert first["changed"] is True and first["pruned"] == [] and first["summary"]["created"] == 3
    uid_c = core.read_namespaced_config_map("c", namespace).metadata.uid

    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, play(prune_task("two", namespace, ["a", "b"], wait=True, wait_timeout=60)))
    two = run.task("two")
    assert two["changed"] is True
    assert [(p["kind"], p["api_version"], p["namespace"], p["name"], p["uid"]) for p in two["pruned"]] == [
        ("ConfigMap", "v1", namespace, "c", uid_c)]
    assert two["pruned"][0]["waited"] >= 0
    assert two["summary"] == {"created": 0, "configured": 0, "unchanged": 2, "deleted": 0, "absent": 0, "pruned": 1}
    assert names_in(core, namespace) == ["a", "b"]  # gone already: the task waited for it
    assert describe(sandbox.writes(mark)) == [("DELETE", "/api/v1/namespaces/%s/configmaps/c" % namespace)]

    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, play(prune_task("again", namespace, ["a", "b"])))
    again = run.task("again")
    assert again["changed"] is False and again["pruned"] == [] and again["prune_skipped"] == []
    assert describe(sandbox.writes(mark)) == []


def test_check_mode_reports_and_writes_nothing(sandbox, run_playbook, core, namespace):
    run_ok(run_playbook, play(prune_task("three", namespace, ["a", "b", "c"])))
    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, play(prune_task("check", namespace, ["a"])), "--check", "--diff")
    check = run.task("check")
    assert check["changed"] is True
    assert sorted(p["name"] for p in check["pruned"]) == ["b", "c"]
    assert all(d["after"] == {} for d in check["diff"])
    assert sorted(d["before"]["metadata"]["name"] for d in check["diff"]) == ["b", "c"]
    assert describe(sandbox.writes(mark)) == []
    # the deletes were sent, as server dry runs
    deletes = [e for e in sandbox.audit(mark) if e["method"] == "DELETE" and e.get("user") == "sandbox-admin"]
    assert len(deletes) == 2 and all(e["dry_run"] for e in deletes)
    assert names_in(core, namespace) == ["a", "b", "c"]


def test_objects_managed_by_a_controller_are_not_pruned(sandbox, run_playbook, core, namespace):
    run_ok(run_playbook, play(apply_task("owner", {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "owner", "namespace": namespace}})))
    owner_uid = core.read_namespaced_config_map("owner", namespace).metadata.uid
    controller = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid, "controller": True}
    owned = config_map("owned", namespace, ownerReferences=[controller])
    run_ok(run_playbook, play(apply_task("owned", [owned])))
    run_ok(run_playbook, play(prune_task("stale", namespace, ["stale"])))

    mark = sandbox.audit_mark()
    run = run_ok(run_playbook, play(prune_task("prune", namespace, ["a"], wait=True)))
    result = run.task("prune")
    assert [p["name"] for p in result["pruned"]] == ["stale"]
    assert result["prune_skipped"] == [{"kind": "ConfigMap", "api_version": "v1", "namespace": namespace,
                                        "name": "owned", "reason": "managed by its controller ConfigMap owner"}]
    assert names_in(core, namespace) == ["a", "owned"]
    deletes = [w for w in sandbox.writes(mark) if w["method"] == "DELETE"]
    assert describe(deletes) == [("DELETE", "/api/v1/namespaces/%s/configmaps/stale" % namespace)]


@pytest.mark.parametrize(("args", "message"), [
    ({"prune": True}, "prune=true requires prune_selector"),
    ({"prune": True, "prune_selector": "app in (x"}, "prune_selector 'app in (x': "),
    ({"prune": True, "prune_selector": "app!=y"}, "only excludes labels"),
    ({"prune": True, "prune_selector": SELECTOR, "prune_kinds": ["example.com/v1/Widget"]},
     "prune_kinds: no kind Widget in apiVersion example.com/v1 on this cluster"),
])
def test_bad_prune_options_fail_before_any_write(sandbox, run_playbook, core, namespace, args, message):
    run_ok(run_playbook, play(prune_task("three", namespace, ["a", "b", "c"])))
    mark = sandbox.audit_mark()
    definition = [config_map("a", namespace, labels={"app": "x", "changed": "yes"})]
    run = run_playbook(play(apply_task("bad", definition, **args)))
    assert run.rc != 0
    result = run.task("bad")
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert describe(sandbox.writes(mark)) == []
    assert names_in(core, namespace) == ["a", "b", "c"]
    assert "changed" not in core.read_namespaced_config_map("a", namespace).metadata.labels
