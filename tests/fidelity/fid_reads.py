"""Scenarios: Status bodies of errors, list with selectors and pages, watch."""

from __future__ import annotations

from fid_harness import MERGE, scenario
from fid_writes import cm, cms, deployment, deps


# -- Status bodies ------------------------------------------------------------------------------------------------
@scenario("errors")
def status_404(s):
    s.get(f"{cms(s)}/missing")
    s.get(f"/api/v1/namespaces/{s.ns}-none/configmaps/missing")
    s.get(f"/api/v1/namespaces/{s.ns}-none")
    s.get(f"/apis/apps/v1/namespaces/{s.ns}/deployments/missing")
    s.delete(f"{cms(s)}/missing")
    s.put(f"{cms(s)}/missing", cm("missing"))


@scenario("errors")
def status_service_proxy(s):
    """services/<id>/proxy without a pod behind the Service: kube-apiserver's ResourceLocation errors."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lonely"},
           "spec": {"selector": {"app": "nobody"}, "ports": [{"name": "http", "port": 8000}]}}
    s.post(f"/api/v1/namespaces/{s.ns}/services", svc, record=False)
    base = f"/api/v1/namespaces/{s.ns}/services"
    s.get(f"{base}/lonely:http/proxy/")          # no endpoints available
    s.get(f"{base}/lonely:8000/proxy/x")         # a port number is translated to its name: still none
    s.get(f"{base}/lonely:8001/proxy/")          # no service port 8001
    s.get(f"{base}/missing:8000/proxy/")         # a port number needs the Service: 404
    s.get(f"{base}/ftp:lonely:http/proxy/")      # invalid service request
    s.post(f"{base}/lonely:http/proxy/api/v1.0/predictions", {"data": {"ndarray": [[1]]}})


@scenario("errors")
def status_404_unknown_resource(s):
    s.get(f"/api/v1/namespaces/{s.ns}/frobs")
    s.get("/apis/nothere.example.com/v1/things")
    s.get("/apis/apps/v9/deployments")


@scenario("errors")
def status_409_already_exists(s):
    s.post(cms(s), cm("a"))
    s.post(cms(s), cm("a"))
    s.post("/api/v1/namespaces", {"metadata": {"name": s.ns}})


@scenario("errors")
def status_409_stale_update(s):
    _code, body = s.post(cms(s), cm("a", {"k": "v"}))
    s.put(f"{cms(s)}/a", cm("a", {"k": "w"}, resourceVersion=body["metadata"]["resourceVersion"]))
    s.put(f"{cms(s)}/a", cm("a", {"k": "x"}, resourceVersion=body["metadata"]["resourceVersion"]))


@scenario("errors")
def status_400_bad_bodies(s):
    s.req("POST", cms(s), b"{nope")
    s.post(cms(s), {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}})
    s.post(cms(s), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "other"}})
    s.put(f"{cms(s)}/a", cm("b"))
    s.post(cms(s), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": 5}})


@scenario("errors")
def status_422_invalid_names_and_labels(s):
    s.post(cms(s), cm("Not_Valid"))
    s.post(cms(s), cm("a", labels={"bad key!": "v"}))
    s.post(cms(s), cm("b", labels={"k": "-bad-"}))
    s.post(cms(s), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    s.post(cms(s), cm("c", {"bad key": "v"}))


@scenario("errors")
def status_422_deployment(s):
    bad = deployment("d")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    s.post(deps(s), bad)
    bad = deployment("e")
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000
    s.post(deps(s), bad)
    bad = deployment("f")
    bad["spec"]["replicas"] = -1
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    s.post(deps(s), bad)


@scenario("errors")
def status_422_immutable(s):
    s.post(cms(s), dict(cm("a", {"k": "v"}), immutable=True))
    s.patch(f"{cms(s)}/a", {"data": {"k": "w"}}, MERGE)
    s.post(f"/apis/batch/v1/namespaces/{s.ns}/jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never",
                                                        "containers": [{"name": "c", "image": "busybox"}]}}}})
    s.patch(f"/apis/batch/v1/namespaces/{s.ns}/jobs/j",
            {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "other"}]}}}}, MERGE)


@scenario("errors")
def status_405_and_verbs(s):
    s.post(f"{cms(s)}/a", cm("a"))
    s.req("PUT", cms(s), cm("a"))
    s.req("PATCH", cms(s), {}, ctype=MERGE)


@scenario("errors")
def status_401_bad_token(s):
    s.req("GET", f"{cms(s)}", token="not-a-token")  # noqa: S106


@scenario("errors")
def status_410_expired_continue(s):
    s.post(cms(s), cm("a", labels={"fid": "x"}))
    s.get(f"{cms(s)}?limit=1&continue=garbage")


# -- list ---------------------------------------------------------------------------------------------------------
def _seed(s, n=5):
    for i in range(n):
        s.post(cms(s), cm(f"c{i}", {"i": str(i)}, labels={"fid": "seed", "tier": ["web", "db", "cache"][i % 3],
                                                          **({"odd": "yes"} if i % 2 else {})}), record=False)


def _names(s, path, label=None):
    code, body = s.get(path, record=False)
    s.record(label or f"names {path}", {"status": code, "names": [i["metadata"]["name"] for i in body["items"]]}
             if code == 200 else {"status": code, "body": body})


@scenario("list")
def label_selectors(s):
    _seed(s)
    for sel in ("tier=web", "tier!=web,fid=seed", "tier+in+(web,db)", "tier+notin+(web)", "odd", "!odd",
                "fid=seed,odd,tier=db", "tier==cache"):
        _names(s, f"{cms(s)}?labelSelector={sel}")


@scenario("list")
def label_selector_errors(s):
    # "Bad_Key" is a valid key (upper case and "_" are allowed) and "=" matches nothing: a "!=" would list the
    # kube-root-ca.crt ConfigMap, which kube-controller-manager adds to a new namespace whenever it gets to it
    for sel in ("tier=", "a+b", "tier+in+web", "!", "x=y=z", "-bad!=1", "Bad_Key=1"):
        s.get(f"{cms(s)}?labelSelector={sel}")


@scenario("list")
def field_selectors(s):
    _seed(s, 3)
    _names(s, f"{cms(s)}?fieldSelector=metadata.name=c1")
    _names(s, f"{cms(s)}?fieldSelector=metadata.name!=c1,metadata.namespace={s.ns}&labelSelector=fid")
    _names(s, f"/api/v1/configmaps?fieldSelector=metadata.namespace={s.ns}&labelSelector=fid=seed")
    s.get(f"{cms(s)}?fieldSelector=data.i=1")
    s.get(f"/api/v1/namespaces/{s.ns}/pods?fieldSelector=spec.nodeName=nowhere")
    s.get(f"/api/v1/namespaces/{s.ns}/pods?fieldSelector=status.phase=Running")
    s.get(f"/api/v1/namespaces/{s.ns}/events?fieldSelector=involvedObject.kind=Pod,reason=x")


@scenario("list")
def limit_continue(s):
    _seed(s, 5)
    path = f"{cms(s)}?labelSelector=fid&limit=2"
    _code, body = s.get(path)
    while body.get("metadata", {}).get("continue"):
        _code, body = s.get(f"{path}&continue={body['metadata']['continue']}")
    s.get(f"{cms(s)}?limit=0&labelSelector=fid")


@scenario("list")
def list_shape_and_resource_version_params(s):
    _seed(s, 2)
    s.get(f"{cms(s)}?labelSelector=fid&resourceVersion=0")
    s.get(f"{cms(s)}?labelSelector=fid&resourceVersionMatch=NotOlderThan")
    s.get(f"{cms(s)}?labelSelector=fid&resourceVersion=abc")
    s.get(f"/apis/apps/v1/namespaces/{s.ns}/deployments")


@scenario("list")
def list_as_table(s):
    _seed(s, 2)
    s.get(f"{cms(s)}?labelSelector=fid", accept="application/json;as=Table;v=v1;g=meta.k8s.io", headers=True)
    s.get(f"{cms(s)}/c0", accept="application/json;as=Table;v=v1;g=meta.k8s.io", headers=True)


@scenario("list")
def delete_collection(s):
    _seed(s, 5)
    s.delete(f"{cms(s)}?labelSelector=odd")
    _names(s, f"{cms(s)}?labelSelector=fid")


# -- watch --------------------------------------------------------------------------------------------------------
@scenario("watch")
def watch_from_resource_version(s):
    _code, body = s.post(cms(s), cm("w", {"k": "0"}))
    rv = body["metadata"]["resourceVersion"]
    s.patch(f"{cms(s)}/w", {"data": {"k": "1"}}, MERGE)
    s.delete(f"{cms(s)}/w")
    # only w: kube-controller-manager adds kube-root-ca.crt to a new namespace whenever it gets to it
    s.watch(f"{cms(s)}?watch=1&fieldSelector=metadata.name%3Dw&resourceVersion={rv}", 2)


@scenario("watch")
def watch_initial_list_and_selector_transitions(s):
    s.post(cms(s), cm("a", labels={"sel": "yes"}))
    s.post(cms(s), cm("b"))
    _code, body = s.get(f"{cms(s)}?labelSelector=sel=yes", record=False)
    rv = body["metadata"]["resourceVersion"]
    s.patch(f"{cms(s)}/a", {"metadata": {"labels": {"sel": "no"}}}, MERGE)
    s.patch(f"{cms(s)}/b", {"metadata": {"labels": {"sel": "yes"}}}, MERGE)
    s.watch(f"{cms(s)}?watch=1&labelSelector=sel%3Dyes&resourceVersion={rv}", 2)
    s.watch(f"{cms(s)}?watch=1&labelSelector=sel%3Dyes", 1)


@scenario("watch")
def watch_send_initial_events_bookmark(s):
    s.post(cms(s), cm("a", labels={"fid": "w"}))
    s.post(cms(s), cm("b", labels={"fid": "w"}))
    s.watch(f"{cms(s)}?watch=1&labelSelector=fid&sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan", 3)
    s.watch(f"{cms(s)}?watch=1&labelSelector=fid&sendInitialEvents=true", 1)


@scenario("watch")
def watch_bad_resource_version(s):
    # (A watch from an expired resourceVersion is not compared: kube-apiserver v1.37 answers it from etcd while its
    # watch cache is young and with 410 Expired once the cache has settled, minutes after the start; see the
    # report.)
    s.watch(f"{cms(s)}?watch=1&resourceVersion=abc", 1)


@scenario("watch")
def watch_single_object_field_selector(s):
    _code, body = s.post(cms(s), cm("a"))
    rv = body["metadata"]["resourceVersion"]
    s.post(cms(s), cm("b"))
    s.patch(f"{cms(s)}/a", {"data": {"x": "1"}}, MERGE)
    s.watch(f"{cms(s)}?watch=1&fieldSelector=metadata.name%3Da&resourceVersion={rv}", 1)
