"""managed.py: apply or delete the objects a module builds itself, and the result it returns of them."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils import client as client_mod
from ansible_collections.mlops.k8s.plugins.module_utils import managed


class Module:
    """What managed.py uses of a module."""

    def __init__(self, check_mode=False, diff_mode=False):
        self.check_mode = check_mode
        self.diff_mode = diff_mode


def config_map(name="cm", labels=None, namespace="models"):
    meta = {"name": name, "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "1"}}


def test_managed_by_us():
    assert managed.managed_by_us(config_map(labels=dict(managed.MANAGED_BY)))
    assert not managed.managed_by_us(config_map(labels={"app.kubernetes.io/managed-by": "Helm"}))
    assert not managed.managed_by_us(config_map())
    assert not managed.managed_by_us(None)


def test_apply_then_unchanged_and_brief_results(fake_cluster):
    fake_cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}})
    client = client_mod.build_client({})
    created = managed.apply(Module(diff_mode=True), client, config_map(), "test")
    assert created["action"] == "created" and created["changed"] is True
    again = managed.apply(Module(diff_mode=True), client, config_map(), "test")
    assert again["action"] == "unchanged" and again["changed"] is False
    out = managed.outcome([created, again], diff_mode=True, extra={"name": "cm"})
    assert out["changed"] is True and out["name"] == "cm"
    assert out["results"][0] == {"kind": "ConfigMap", "api_version": "v1", "namespace": "models", "name": "cm",
                                 "action": "created", "changed": True}
    assert len(out["diff"]) == 1  # only the changed object's diff
    assert "diff" not in managed.outcome([created], diff_mode=False)


def test_check_mode_apply_into_a_namespace_that_does_not_exist_yet(fake_cluster):
    client = client_mod.build_client({})
    result = managed.apply(Module(check_mode=True), client, config_map(namespace="later"), "test",
                           pending_namespaces={"later"})
    assert result["action"] == "created" and "namespace later is created in this batch" in result["note"]
    assert not fake_cluster.writes()


def test_delete_leaves_what_only_if_refuses(fake_cluster):
    fake_cluster.put(config_map("theirs", labels={"app.kubernetes.io/managed-by": "Helm"}))
    fake_cluster.put(config_map("ours", labels=dict(managed.MANAGED_BY)))
    client = client_mod.build_client({})
    kept = managed.delete(Module(), client, config_map("theirs"), "test", only_if=managed.managed_by_us)
    assert kept["action"] == "unchanged" and kept["changed"] is False
    assert not fake_cluster.writes()
    gone = managed.delete(Module(), client, config_map("ours"), "test", only_if=managed.managed_by_us)
    assert gone["action"] == "deleted" and gone["changed"] is True
    assert managed.delete(Module(), client, config_map("ours"), "test")["action"] == "absent"
    unserved = managed.delete(Module(), client, {"apiVersion": "example.com/v1", "kind": "Nothing",
                                                 "metadata": {"name": "x", "namespace": "models"}}, "test")
    assert unserved["action"] == "absent" and "does not serve kind Nothing" in unserved["note"]


def test_check_mode_apply_when_the_server_says_the_namespace_is_missing(fake_cluster):
    """A namespace an earlier task of the same check-mode run would create: reported created, not validated."""
    client = client_mod.build_client({})
    result = managed.apply(Module(check_mode=True, diff_mode=True), client, config_map(namespace="later"), "test")
    assert result["action"] == "created" and result["changed"] is True
    assert result["note"] == "namespace later does not exist yet; not validated by the server in check mode"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["data"] == {"a": "1"}
    assert not fake_cluster.writes()
