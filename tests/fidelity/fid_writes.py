"""Scenarios: server-side apply, managedFields, dry-run, JSON / merge / strategic merge patch."""

from __future__ import annotations

import zlib

from fid_harness import APPLY, JSONPATCH, MERGE, STRATEGIC, scenario


def cm(name: str, data: dict | None = None, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": data or {}}


def deployment(name: str, containers: list | None = None, replicas: int | None = 1) -> dict:
    spec = {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": containers or [{"name": "main", "image": "nginx:1.27",
                                                                "ports": [{"containerPort": 80}]}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


# what a Deployment response is compared on: kube-controller-manager's deployment controller races with every
# response (status, the revision annotation and its own managedFields entries)
DEP = {"pick": ("metadata.labels", "metadata.generation", "metadata.managedFields", "spec"),
       "others": ("kube-controller-manager",)}


def cms(s) -> str:
    return f"/api/v1/namespaces/{s.ns}/configmaps"


def deps(s) -> str:
    return f"/apis/apps/v1/namespaces/{s.ns}/deployments"


# -- server-side apply --------------------------------------------------------------------------------------------
@scenario("ssa")
def apply_create(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}, labels={"x": "1"}))
    s.get(f"{cms(s)}/a")


@scenario("ssa")
def apply_update_and_remove_field(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v", "gone": "1"}, labels={"x": "1", "y": "2"}))
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v2"}, labels={"x": "1"}))


@scenario("ssa")
def apply_conflict(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="one")
    s.apply(f"{cms(s)}/a", cm("a", {"k": "other"}), manager="two")


@scenario("ssa")
def apply_force(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v", "j": "w"}), manager="one")
    s.apply(f"{cms(s)}/a", cm("a", {"k": "other"}), manager="two", force=True)
    # "one" no longer owns k: dropping it from one's config leaves k alone, dropping j removes j
    s.apply(f"{cms(s)}/a", cm("a", {}), manager="one")


@scenario("ssa")
def apply_shared_ownership(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="one")
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="two")
    s.apply(f"{cms(s)}/a", cm("a", {}), manager="one")  # two still owns k: it stays


@scenario("ssa")
def apply_conflict_with_update_manager(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="applier")
    s.patch(f"{cms(s)}/a?fieldManager=editor", {"data": {"k": "edited"}}, MERGE)
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="applier")


@scenario("ssa")
def apply_deployment_defaults(s):
    s.apply(f"{deps(s)}/d", deployment("d"), **DEP)


@scenario("ssa")
def apply_associative_list_merge(s):
    s.apply(f"{deps(s)}/d", deployment("d"), manager="one", **DEP)
    other = deployment("d", [{"name": "side", "image": "busybox:1.36"}])
    del other["spec"]["replicas"]
    s.apply(f"{deps(s)}/d", other, manager="two", **DEP)
    s.apply(f"{deps(s)}/d", deployment("d", [{"name": "main", "image": "nginx:1.27"}]), manager="one", **DEP)


@scenario("ssa")
def apply_without_field_manager(s):
    s.req("PATCH", f"{cms(s)}/a", cm("a"), ctype=APPLY)


@scenario("ssa")
def apply_kind_mismatch(s):
    body = cm("a")
    body["kind"] = "Secret"
    s.apply(f"{cms(s)}/a", body)
    s.apply(f"{cms(s)}/a", cm("b"))


@scenario("ssa")
def apply_yaml_body(s):
    s.apply(f"{cms(s)}/yml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yml\n  namespace: {s.ns}\n"
            "data:\n  a: '1'\n")
    s.apply(f"{cms(s)}/yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")


@scenario("ssa")
def managed_fields_of_create_update_patch(s):
    s.post(cms(s) + "?fieldManager=creator", cm("a", {"k": "v"}))
    s.put(f"{cms(s)}/a?fieldManager=updater", cm("a", {"k": "v", "u": "1"}))
    s.patch(f"{cms(s)}/a?fieldManager=patcher", {"data": {"p": "1"}}, MERGE)
    s.patch(f"{cms(s)}/a", {"data": {"q": "1"}}, MERGE)  # default manager: the user agent


@scenario("ssa")
def apply_status_subresource(s):
    svc = f"/api/v1/namespaces/{s.ns}/services/h"
    ip = f"10.96.{200 + zlib.crc32(s.ns.encode()) % 50}.{1 + zlib.crc32(s.ns[::-1].encode()) % 250}"
    s.apply(svc, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "h"},
                  "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False, "clusterIP": ip,
                           "selector": {"app": "h"}, "ports": [{"port": 80, "name": "web"}]}})
    lb = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "h"},
          "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    s.apply(svc + "/status", lb, manager="statusman")
    s.apply(svc, dict(lb, status={"loadBalancer": {"ingress": [{"ip": "192.0.2.99"}]}}), manager="mainman")
    s.apply(svc + "/status", dict(lb, status={"loadBalancer": {"ingress": [{"ip": "192.0.2.11"}]}}),
            manager="other")
    # a second Service port from another manager: ports merge by (port, protocol)
    s.apply(svc, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "h"},
                  "spec": {"ports": [{"port": 443, "name": "tls"}]}}, manager="ports")


@scenario("ssa")
def managed_fields_cleared_by_empty_list(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="one")
    s.patch(f"{cms(s)}/a", {"metadata": {"managedFields": [{}]}}, MERGE)
    s.patch(f"{cms(s)}/a", {"metadata": {"managedFields": [{"manager": "x", "operation": "Bogus"}]}}, MERGE)


# -- dry-run ------------------------------------------------------------------------------------------------------
@scenario("dryrun")
def dryrun_create(s):
    s.post(cms(s) + "?dryRun=All", cm("a", {"k": "v"}))
    s.get(f"{cms(s)}/a")


@scenario("dryrun")
def dryrun_apply_update_patch_delete(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}))
    s.apply(f"{cms(s)}/a", cm("a", {"k": "dry"}), extra="&dryRun=All")
    s.patch(f"{cms(s)}/a?dryRun=All", {"data": {"p": "1"}}, MERGE)
    s.put(f"{cms(s)}/a?dryRun=All", cm("a", {"k": "put"}))
    s.delete(f"{cms(s)}/a?dryRun=All")
    s.get(f"{cms(s)}/a")


@scenario("dryrun")
def dryrun_delete_query_with_a_body(s):
    """A DELETE with a body takes its options from the body only: ?dryRun=All beside a DeleteOptions body that
    does not say dryRun deletes for real (found when the collection's check mode deleted on the real server)."""
    s.post(cms(s), cm("a", {"k": "v"}))
    s.delete(f"{cms(s)}/a?dryRun=All",
             {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    s.get(f"{cms(s)}/a")
    s.post(cms(s), cm("b", {"k": "v"}))
    s.delete(f"{cms(s)}/b", {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
    s.get(f"{cms(s)}/b")
    s.delete(f"{cms(s)}/b?propagationPolicy=Bogus", {"kind": "DeleteOptions", "apiVersion": "v1"})
    s.get(f"{cms(s)}/b")


@scenario("dryrun")
def dryrun_apply_conflict(s):
    s.apply(f"{cms(s)}/a", cm("a", {"k": "v"}), manager="one")
    s.apply(f"{cms(s)}/a", cm("a", {"k": "w"}), manager="two", extra="&dryRun=All")


@scenario("dryrun")
def dryrun_invalid_value(s):
    s.post(cms(s) + "?dryRun=Maybe", cm("a"))


@scenario("dryrun")
def dryrun_generate_name(s):
    s.post(cms(s) + "?dryRun=All", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "g-"}})


# -- patch --------------------------------------------------------------------------------------------------------
@scenario("patch")
def json_patch_ops(s):
    s.post(cms(s), cm("a", {"k": "v", "r": "x"}))
    s.patch(f"{cms(s)}/a", [{"op": "add", "path": "/data/n", "value": "1"},
                            {"op": "replace", "path": "/data/k", "value": "v2"},
                            {"op": "remove", "path": "/data/r"},
                            {"op": "copy", "from": "/data/n", "path": "/data/c"},
                            {"op": "move", "from": "/data/c", "path": "/data/m"},
                            {"op": "test", "path": "/data/k", "value": "v2"},
                            {"op": "add", "path": "/metadata/labels", "value": {"a/b": "c"}}], JSONPATCH)


@scenario("patch")
def json_patch_test_fails(s):
    s.post(cms(s), cm("a", {"k": "v"}))
    s.patch(f"{cms(s)}/a", [{"op": "test", "path": "/data/k", "value": "nope"}], JSONPATCH)


@scenario("patch")
def json_patch_bad_paths(s):
    s.post(cms(s), cm("a", {"k": "v"}))
    s.patch(f"{cms(s)}/a", [{"op": "remove", "path": "/data/missing"}], JSONPATCH)
    s.patch(f"{cms(s)}/a", [{"op": "replace", "path": "/nothere/x", "value": 1}], JSONPATCH)
    s.patch(f"{cms(s)}/a", [{"op": "frobnicate", "path": "/data/k"}], JSONPATCH)
    s.patch(f"{cms(s)}/a", {"op": "add"}, JSONPATCH)


@scenario("patch")
def merge_patch_null_and_lists(s):
    s.post(deps(s), deployment("d"), **DEP)
    s.patch(f"{deps(s)}/d", {"metadata": {"labels": {"a": "1", "b": "2"}}}, MERGE, **DEP)
    s.patch(f"{deps(s)}/d", {"metadata": {"labels": {"a": None}}}, MERGE, **DEP)
    # a merge patch replaces a list whole
    s.patch(f"{deps(s)}/d", {"spec": {"template": {"spec": {"containers": [
        {"name": "other", "image": "busybox:1.36"}]}}}}, MERGE, **DEP)


@scenario("patch")
def strategic_merge_containers(s):
    s.post(deps(s), deployment("d"), **DEP)
    s.patch(f"{deps(s)}/d", {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "busybox:1.36"}, {"name": "main", "env": [{"name": "A", "value": "1"}]}]}}}},
        STRATEGIC, **DEP)
    s.patch(f"{deps(s)}/d", {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}}}}, STRATEGIC, **DEP)


@scenario("patch")
def strategic_directives(s):
    s.post(deps(s), deployment("d", [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]), **DEP)
    s.patch(f"{deps(s)}/d", {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "x:2"}]}}}}, STRATEGIC, **DEP)
    s.patch(f"{deps(s)}/d", {"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "app": "d"}}}}},
            STRATEGIC, **DEP)
    s.patch(f"{deps(s)}/d", {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, STRATEGIC, **DEP)


@scenario("patch")
def strategic_merge_primitive_list(s):
    s.post(cms(s), cm("a", {"k": "v"}, finalizers=["x.io/a"]))
    s.patch(f"{cms(s)}/a", {"metadata": {"finalizers": ["x.io/b"]}}, STRATEGIC)
    s.patch(f"{cms(s)}/a", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x.io/a", "x.io/b"]}},
            STRATEGIC)


@scenario("patch")
def patch_errors(s):
    s.post(cms(s), cm("a", {"k": "v"}))
    s.req("PATCH", f"{cms(s)}/a", b"{not json", ctype=MERGE)
    s.req("PATCH", f"{cms(s)}/a", {"data": {}}, ctype="text/plain")
    s.patch(f"{cms(s)}/missing", {"data": {"a": "1"}}, MERGE)
    s.patch(f"{cms(s)}/a", {"metadata": {"name": "renamed"}}, MERGE)
    s.patch(f"{cms(s)}/a", {"data": {"n": 1}}, MERGE)


@scenario("patch")
def patch_resource_version_precondition(s):
    _code, body = s.post(cms(s), cm("a", {"k": "v"}))
    s.patch(f"{cms(s)}/a", {"metadata": {"resourceVersion": "1"}, "data": {"k": "x"}}, MERGE)
    s.patch(f"{cms(s)}/a", {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
                            "data": {"k": "x"}}, MERGE)
