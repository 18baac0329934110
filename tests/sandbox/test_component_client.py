"""The components' API client (sandbox/client) against the emulator over HTTPS: the same code the sandbox's node
and add-ons run against the real kube-apiserver (tests/kube/test_node.py)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from sandbox.client.host import RemoteHost
from sandbox.client.rest import Credentials
from sandbox.machinery.errors import ApiError

CMS = ("", "configmaps")


@pytest.fixture
def host(sandbox):
    h = RemoteHost(sandbox.dir, sandbox.server, sandbox.ca_file, Credentials(token=sandbox.token))
    yield h
    h.close()


def _events(w, n: int, timeout: float = 10.0) -> list:
    out, end = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        ev = w.get(timeout=0.2)
        if ev is not None:
            out.append(ev)
    return out


def test_informer_lists_then_follows_changes(host, ns):
    admin = host.client_for("system:serviceaccount:kube-system:sandbox-addon-manager", "test")
    admin.create(CMS, ns, {"metadata": {"name": "before", "namespace": ns}, "data": {"a": "1"}})
    assert host.store.get(CMS, ns, "before")["data"] == {"a": "1"}   # the first read waited for the list
    w = host.store.watch(None)
    admin.create(CMS, ns, {"metadata": {"name": "after", "namespace": ns}})
    admin.mutate(CMS, ns, "before", lambda o: o["data"].__setitem__("a", "2"))
    admin.delete(CMS, ns, "after")
    got = [e for e in _events(w, 3)
           if e.obj["metadata"]["namespace"] == ns and e.obj["metadata"]["name"] != "kube-root-ca.crt"]
    assert [(e.type, e.obj["metadata"]["name"]) for e in got] == [
        ("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]
    assert got[1].old["data"] == {"a": "1"} and got[1].obj["data"] == {"a": "2"}   # as the store's events
    assert got[0].old is None
    assert host.store.get(CMS, ns, "before")["data"] == {"a": "2"}   # read your own writes
    names = sorted(o["metadata"]["name"] for o in host.store.list(CMS, ns)[0])
    assert names == ["before", "kube-root-ca.crt"]
    w.close()


def test_a_stale_update_is_a_conflict(host, ns):
    admin = host.client_for("system:serviceaccount:kube-system:sandbox-addon-manager", "test")
    made = admin.create(CMS, ns, {"metadata": {"name": "c", "namespace": ns}})
    admin.mutate(CMS, ns, "c", lambda o: o.setdefault("data", {}).__setitem__("x", "1"))
    with pytest.raises(ApiError) as e:
        admin.update(CMS, made)   # the resourceVersion it was created with
    assert e.value.code == 409


def test_a_relist_reports_what_the_watch_missed(host, ns):
    """After a 410 (or a broken stream) the informer lists again and turns the difference into events."""
    admin = host.client_for("system:serviceaccount:kube-system:sandbox-addon-manager", "test")
    admin.create(CMS, ns, {"metadata": {"name": "kept", "namespace": ns}})
    inf = host.store.informer(CMS)
    ghost = {"metadata": {"name": "ghost", "namespace": ns, "resourceVersion": "1"}}
    inf.items[(ns, "ghost")] = ghost
    kept = dict(inf.items[(ns, "kept")], metadata=dict(inf.items[(ns, "kept")]["metadata"], resourceVersion="1"))
    inf.items[(ns, "kept")] = kept
    w = host.store.watch(CMS)
    inf._list(host.discovery.kind(CMS))
    evs = {(e.type, e.obj["metadata"]["name"]) for e in _events(w, 2, timeout=2)
           if e.obj["metadata"].get("namespace") == ns}
    assert evs == {("MODIFIED", "kept"), ("DELETED", "ghost")}
    w.close()


def test_a_kind_added_later_is_discovered_and_informed(host, sandbox):
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    key = (group, "widgets")
    assert host.store.list(key)[0] == []          # not served yet: empty, and the informer keeps looking
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Cluster", "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    code, _, body = sandbox.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                    json.dumps(crd).encode())
    assert code == 201, body
    end = time.monotonic() + 15
    while time.monotonic() < end:
        code, _, _ = sandbox.request("POST", f"/apis/{group}/v1/widgets",
                                     json.dumps({"apiVersion": f"{group}/v1", "kind": "Widget",
                                                 "metadata": {"name": "w1"}}).encode())
        if code == 201:
            break
        time.sleep(0.2)
    end = time.monotonic() + 15
    while time.monotonic() < end and host.store.get(key, "", "w1") is None:
        time.sleep(0.1)
    assert host.store.get(key, "", "w1")["kind"] == "Widget"


def test_identities_are_impersonated_and_authorized_as_themselves(host, sandbox, ns):
    """A component without its own credentials acts through Impersonate-User: the server authorizes the
    impersonated identity (RBAC applies) and audits it under that name."""
    sa = f"system:serviceaccount:{ns}:robot"
    robot = host.client_for(sa, "robot")
    with pytest.raises(ApiError) as e:
        robot.create(CMS, ns, {"metadata": {"name": "denied", "namespace": ns}})
    assert e.value.code == 403
    assert f'User "{sa}" cannot create resource "configmaps"' in str(e.value)
    admin = host.client_for("system:serviceaccount:kube-system:sandbox-addon-manager", "test")
    admin.create(("rbac.authorization.k8s.io", "roles"), ns, {
        "metadata": {"name": "cm", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]})
    admin.create(("rbac.authorization.k8s.io", "rolebindings"), ns, {
        "metadata": {"name": "cm", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}]})
    mark = sandbox.audit_mark()
    robot.create(CMS, ns, {"metadata": {"name": "allowed", "namespace": ns}})
    # (a node's heartbeat may fall in between: it is the only other writer)
    assert [w["user"] for w in sandbox.writes(mark, user=None) if not w["user"].startswith("system:node:")] == [sa]


def test_impersonation_needs_the_impersonate_verb(sandbox, ns):
    code, _, body = sandbox.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                                    json.dumps({"metadata": {"name": "plain"}}).encode())
    assert code == 201
    code, _, body = sandbox.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/plain/token",
                                    json.dumps({"spec": {"audiences": []}}).encode())
    token = json.loads(body)["status"]["token"]
    from sandbox.client.rest import Rest
    rest = Rest(sandbox.server, sandbox.ca_file, Credentials(token=token, impersonate="someone-else"))
    with pytest.raises(ApiError) as e:
        rest.request("GET", f"/api/v1/namespaces/{ns}/configmaps")
    assert e.value.code == 403
    assert 'cannot impersonate resource "users"' in str(e.value)


def test_a_service_account_made_again_gets_a_new_token(host, sandbox, ns):
    """A component authenticates with its ServiceAccount's own token (TokenRequest); when the account is deleted
    and made again (a platform torn down and installed again) the old token is refused and a new one is asked
    for, instead of failing with 401 until the token would have been renewed."""
    admin = host.client_for("system:serviceaccount:kube-system:sandbox-addon-manager", "test")
    admin.create(("rbac.authorization.k8s.io", "rolebindings"), ns, {
        "metadata": {"name": "edit", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "comp", "namespace": ns}]})
    admin.create(("", "serviceaccounts"), ns, {"metadata": {"name": "comp", "namespace": ns}})
    comp = host.client_for(f"system:serviceaccount:{ns}:comp", "comp")
    mark = sandbox.audit_mark()
    comp.create(CMS, ns, {"metadata": {"name": "one", "namespace": ns}})
    first = host.credentials(f"system:serviceaccount:{ns}:comp").token_source()
    assert first, "the component got a token of its own"
    admin.delete(("", "serviceaccounts"), ns, "comp")
    end = time.monotonic() + 10
    while time.monotonic() < end and host.store.get(("", "serviceaccounts"), ns, "comp") is not None:
        time.sleep(0.05)
    admin.create(("", "serviceaccounts"), ns, {"metadata": {"name": "comp", "namespace": ns}})
    comp.create(CMS, ns, {"metadata": {"name": "two", "namespace": ns}})
    assert host.credentials(f"system:serviceaccount:{ns}:comp").token_source() != first
    writes = [w for w in sandbox.writes(mark, user=None) if w["path"].endswith("/configmaps")]
    sa = f"system:serviceaccount:{ns}:comp"
    assert [(w["user"], w["status"]) for w in writes] == [(sa, 201), (None, 401), (sa, 201)]   # old token refused
