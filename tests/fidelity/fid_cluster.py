"""Scenarios: discovery, CRDs (the platform roles' Seldon, Argo and Emissary CRDs), RBAC and tokens, deletion
(finalizers, foreground / background / orphan, namespace termination)."""

from __future__ import annotations

import base64
import json

from fid_harness import MERGE, MISSING, scenario
from fid_writes import cm, cms

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
# every built-in group version of kube-apiserver v1.37 (what the emulator does not serve of them: accepted
# differences, fid_registry.NOT_SERVED)
EMULATED_GROUP_VERSIONS = ("v1", "apiregistration.k8s.io/v1", "apps/v1", "events.k8s.io/v1",
                           "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v2", "autoscaling/v1",
                           "batch/v1", "certificates.k8s.io/v1", "networking.k8s.io/v1", "policy/v1",
                           "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "admissionregistration.k8s.io/v1",
                           "apiextensions.k8s.io/v1", "scheduling.k8s.io/v1", "coordination.k8s.io/v1",
                           "node.k8s.io/v1", "discovery.k8s.io/v1", "resource.k8s.io/v1",
                           "flowcontrol.apiserver.k8s.io/v1", "storagemigration.k8s.io/v1")


# -- discovery ----------------------------------------------------------------------------------------------------
@scenario("discovery", namespace=False)
def legacy_api(s):
    s.get("/api", headers=True)


def builtin_group(name: str) -> bool:
    """Built-in API groups (the CRD scenarios add others while this suite runs)."""
    return name in ("", "apps", "batch", "autoscaling", "policy") or name.endswith("k8s.io")


@scenario("discovery", namespace=False)
def legacy_apis_groups(s):
    code, body = s.get("/apis", headers=True, record=False)
    s.record("GET /apis (built-in groups)", {"status": code, "kind": body.get("kind"),
                                             "groups": [g for g in body["groups"] if builtin_group(g["name"])]})


def _group_version(gv: str):
    def fn(s):
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        s.get(path, headers=True)
        if gv != "v1":
            s.get(f"/apis/{gv.split('/', maxsplit=1)[0]}")
    return fn


for _gv in EMULATED_GROUP_VERSIONS:
    scenario("discovery", namespace=False, name="resources " + _gv)(_group_version(_gv))


def _aggregated(s, path):
    code, hdrs, raw = s.h.request("GET", path, accept=AGGREGATED)
    body = json.loads(raw)
    if isinstance(body.get("items"), list):
        body["items"] = [g for g in body["items"] if builtin_group(g["metadata"].get("name", ""))]
    s.record(f"aggregated {path}", {"status": code, "contentType": next(
        (v for k, v in hdrs.items() if k.lower() == "content-type"), MISSING), "body": body})


@scenario("discovery", namespace=False)
def aggregated_apis(s):
    _aggregated(s, "/apis")


@scenario("discovery", namespace=False)
def aggregated_api(s):
    _aggregated(s, "/api")


@scenario("discovery", namespace=False)
def version(s):
    code, body = s.get("/version", record=False)
    s.record("version keys", {"status": code, "keys": sorted(body)})


# -- CRDs ---------------------------------------------------------------------------------------------------------
def crd_named(s, name: str) -> dict:
    for doc in s.extra["crds"]:
        if doc["metadata"]["name"] == name:
            return doc
    raise KeyError(name)


SELDON = "seldondeployments.machinelearning.seldon.io"
WORKFLOWS = "workflows.argoproj.io"
MAPPINGS = "mappings.getambassador.io"


def install_crd(s, name: str, record: bool = True) -> dict:
    """Apply the role's CRD (shared by the scenarios of a worker) and wait until it is Established."""
    crd = crd_named(s, name)
    s.apply(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", crd, manager="fidelity-crds",
            force=True, record=False)
    code, body = s.wait(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                        lambda c, b: c == 200 and any(x["type"] == "Established" and x["status"] == "True"
                                                      for x in (b.get("status") or {}).get("conditions") or []),
                        record=False)
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    # a CRD is served a moment after it is Established: wait for its list
    s.wait(f"/apis/{group}/{version}/{plural}", lambda c, b: c == 200, record=False)
    if record:
        s.record(f"CRD {name} status", {"status": code, "body": {"status": body.get("status")}})
    return crd


def _crd_status_scenario(name):
    def fn(s):
        install_crd(s, name)
    return fn


for _crd in (SELDON, WORKFLOWS, MAPPINGS, "cronworkflows.argoproj.io", "hosts.getambassador.io"):
    scenario("crd", namespace=False, needs=("crds",), name="established " + _crd)(_crd_status_scenario(_crd))


def sdep(name: str, **spec) -> dict:
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": name},
            "spec": {"predictors": [{"name": "default", "replicas": 1,
                                     "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER",
                                               "modelUri": "s3://models/iris"}}], **spec}}


def sdeps(s) -> str:
    return f"/apis/machinelearning.seldon.io/v1/namespaces/{s.ns}/seldondeployments"


@scenario("crd", needs=("crds",))
def seldon_create_prune_default(s):
    install_crd(s, SELDON, record=False)
    body = sdep("iris", unknownTopLevel="x")
    body["spec"]["predictors"][0]["graph"]["notInSchema"] = {"a": 1}
    body["spec"]["predictors"][0]["componentSpecs"] = [{"spec": {"containers": [
        {"name": "classifier", "image": "x:1", "bogus": True}]}}]
    s.post(sdeps(s), body)
    s.get(f"{sdeps(s)}/iris")


def invalid_causes(s, path: str, body: dict, label: str) -> None:
    """POST an object with several invalid fields: kube-apiserver reports them in the order of a Go map walk
    (random), so the causes are compared as a set and the message up to its list."""
    code, out = s.post(path, body, record=False)
    if isinstance(out, dict) and out.get("kind") == "Status":
        out = dict(out, message=out.get("message", "").split(": [")[0],
                   details=dict(out.get("details") or {}, causes=sorted(
                       (out.get("details") or {}).get("causes") or [], key=lambda c: (c.get("field", ""),
                                                                                      c.get("message", "")))))
    s.record(label, {"status": code, "body": out})


@scenario("crd", needs=("crds",))
def seldon_structural_validation(s):
    install_crd(s, SELDON, record=False)
    bad = sdep("bad")
    bad["spec"]["predictors"][0]["replicas"] = "three"
    s.post(sdeps(s), bad)
    bad = sdep("bad")
    bad["spec"]["predictors"][0]["graph"]["implementation"] = 7
    s.post(sdeps(s), bad)
    bad["spec"]["predictors"][0]["replicas"] = "three"
    invalid_causes(s, sdeps(s), bad, "POST two invalid fields")
    s.post(sdeps(s), {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
                      "metadata": {"name": "nospec"}})
    s.post(sdeps(s), dict(sdep("pred"), spec={"predictors": "notalist"}))


@scenario("crd", needs=("crds",))
def seldon_field_validation_strict_and_warn(s):
    install_crd(s, SELDON, record=False)
    body = sdep("strict", extra=1)
    s.post(sdeps(s) + "?fieldValidation=Strict", body)
    s.post(sdeps(s) + "?fieldValidation=Ignore", body)
    code, hdrs, _body = s.h.request("POST", sdeps(s) + "?fieldValidation=Warn",
                                    json.dumps(dict(sdep("warn", extra=1))).encode())
    s.record("POST fieldValidation=Warn", {"status": code, "warning": next(
        (v for k, v in hdrs.items() if k.lower() == "warning"), MISSING)})


@scenario("crd", needs=("crds",))
def seldon_apply_and_status_subresource(s):
    install_crd(s, SELDON, record=False)
    s.apply(f"{sdeps(s)}/iris", sdep("iris"))
    s.patch(f"{sdeps(s)}/iris", {"status": {"state": "Available"}}, MERGE)
    s.patch(f"{sdeps(s)}/iris/status", {"status": {"state": "Available"}}, MERGE)
    s.patch(f"{sdeps(s)}/iris", {"spec": {"predictors": [{"name": "x"}]}},
            "application/strategic-merge-patch+json")


@scenario("crd", needs=("crds",))
def argo_workflow_create_and_defaults(s):
    install_crd(s, WORKFLOWS, record=False)
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "hello-"},
          "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {
              "image": "busybox", "command": ["echo"], "args": ["hi"], "unknownField": 1}}]}}
    s.post(f"/apis/argoproj.io/v1alpha1/namespaces/{s.ns}/workflows", wf)
    s.post(f"/apis/argoproj.io/v1alpha1/namespaces/{s.ns}/workflows", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "nospec"}})


@scenario("crd", needs=("crds",))
def emissary_mapping(s):
    install_crd(s, MAPPINGS, record=False)
    crd = crd_named(s, MAPPINGS)
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    path = f"/apis/getambassador.io/{version}/namespaces/{s.ns}/mappings"
    s.post(path, {"apiVersion": f"getambassador.io/{version}", "kind": "Mapping", "metadata": {"name": "m"},
                  "spec": {"prefix": "/model/", "service": "model:8000", "hostname": "*", "junk": 1}})
    invalid_causes(s, path, {"apiVersion": f"getambassador.io/{version}", "kind": "Mapping",
                             "metadata": {"name": "bad"}, "spec": {"prefix": 5}}, "POST bad Mapping")
    s.get(f"{path}/m")


@scenario("crd", namespace=False, needs=("crds",))
def crd_discovery(s):
    install_crd(s, SELDON, record=False)
    install_crd(s, WORKFLOWS, record=False)
    s.get("/apis/machinelearning.seldon.io")
    for gv in ("machinelearning.seldon.io/v1", "argoproj.io/v1alpha1"):
        # kube-apiserver lists a group's CRDs in the order they were created (here: whichever scenario of this
        # worker ran first): sorted
        code, body = s.get(f"/apis/{gv}", record=False)
        if isinstance(body, dict) and isinstance(body.get("resources"), list):
            body["resources"].sort(key=lambda r: r["name"].split("/")[0])
        s.record(f"GET /apis/{gv}", {"status": code, "body": body})
    code, body = s.req("GET", "/apis", accept=AGGREGATED, record=False)
    groups = sorted((g for g in body.get("items", []) if g["metadata"].get("name") in (
        "machinelearning.seldon.io", "argoproj.io")), key=lambda g: g["metadata"]["name"])
    for g in groups:
        for v in g["versions"]:
            v["resources"].sort(key=lambda r: r["resource"])
    s.record("aggregated CRD groups", {"status": code, "groups": groups})
    code, body = s.get("/apis", record=False)
    s.record("legacy CRD groups", sorted((g for g in body["groups"] if g["name"] in (
        "machinelearning.seldon.io", "argoproj.io")), key=lambda g: g["name"]))


@scenario("crd", namespace=False)
def crd_invalid_schemas(s):
    base = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"things.{s.ns}.example.com"},
            "spec": {"group": f"{s.ns}.example.com", "scope": "Namespaced",
                     "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "properties": {"spec": {"type": "object", "properties": {
                             "n": {"type": "integer", "default": 3}, "free": {}}}}}}}]}}
    s.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions?dryRun=All", base)
    wrongname = json.loads(json.dumps(base))
    wrongname["metadata"]["name"] = "wrong.example.com"
    s.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions?dryRun=All", wrongname)
    nostorage = json.loads(json.dumps(base))
    nostorage["spec"]["versions"][0]["storage"] = False
    s.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions?dryRun=All", nostorage)


@scenario("crd", namespace=True)
def crd_defaulting_and_pruning(s):
    group = f"{s.ns}.example.com"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"things.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "things", "singular": "thing", "kind": "Thing", "shortNames": ["th"]},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "subresources": {"status": {}},
                                  "schema": {"openAPIV3Schema": {
                                      "type": "object", "properties": {
                                          "spec": {"type": "object", "properties": {
                                              "n": {"type": "integer", "default": 3, "minimum": 1},
                                              "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                                              "nested": {"type": "object", "default": {},
                                                         "properties": {"x": {"type": "string", "default": "dx"}}},
                                              "keep": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                                              "required": ["mode"]},
                                          "status": {"type": "object", "properties": {
                                              "ok": {"type": "boolean"}}}}}}}]}}
    try:
        s.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, record=False)
        s.wait(f"/apis/{group}/v1/namespaces/{s.ns}/things", lambda c, b: c == 200, record=False)
        path = f"/apis/{group}/v1/namespaces/{s.ns}/things"
        s.post(path, {"apiVersion": f"{group}/v1", "kind": "Thing", "metadata": {"name": "t"},
                      "spec": {"keep": {"any": {"thing": 1}}, "dropped": 1}, "status": {"ok": True}})
        invalid_causes(s, path, {"apiVersion": f"{group}/v1", "kind": "Thing", "metadata": {"name": "bad"},
                                 "spec": {"n": 0, "mode": "c"}}, "POST bad Thing")
        s.apply(f"{path}/u", {"apiVersion": f"{group}/v1", "kind": "Thing", "metadata": {"name": "u"},
                              "spec": {"mode": "b", "nested": {}}})
        s.patch(f"{path}/t/status", {"status": {"ok": False, "extra": 1}}, MERGE)
    finally:
        s.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.{group}", record=False)


# -- RBAC and service account tokens ------------------------------------------------------------------------------
def _sa_token(s, sa: str = "bot", body: dict | None = None, record: bool = False) -> tuple[int, dict]:
    s.wait(f"/api/v1/namespaces/{s.ns}/serviceaccounts/default", lambda c, b: c == 200, record=False)
    s.post(f"/api/v1/namespaces/{s.ns}/serviceaccounts", {"metadata": {"name": sa}}, record=record)
    return s.post(f"/api/v1/namespaces/{s.ns}/serviceaccounts/{sa}/token",
                  body or {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
                  record=record)


def _role(s, rules, name="reader", sa="bot"):
    s.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{s.ns}/roles",
           {"metadata": {"name": name}, "rules": rules}, record=False)
    s.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{s.ns}/rolebindings",
           {"metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                    "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": s.ns}]}, record=False)


@scenario("rbac")
def token_request(s):
    _sa_token(s, record=True)
    _sa_token(s, "aud", {"spec": {"audiences": ["vault", "other"], "expirationSeconds": 3600}}, record=True)
    s.post(f"/api/v1/namespaces/{s.ns}/serviceaccounts/nobody/token", {"spec": {}})
    s.post(f"/api/v1/namespaces/{s.ns}/serviceaccounts/bot/token", {"spec": {"expirationSeconds": 10}})


@scenario("rbac")
def token_authenticates_as_service_account(s):
    _code, tr = _sa_token(s)
    token = tr["status"]["token"]
    s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, token=token)
    s.post("/apis/authentication.k8s.io/v1/tokenreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    s.post("/apis/authentication.k8s.io/v1/tokenreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "garbage"}})


@scenario("rbac")
def denial_messages(s):
    _code, tr = _sa_token(s)
    token = tr["status"]["token"]
    _role(s, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    s.post(cms(s), cm("a"), record=False)
    s.get(f"{cms(s)}/a", token=token)
    s.get(cms(s), token=token)
    s.post(cms(s), cm("b"), token=token)
    s.delete(f"{cms(s)}/a", token=token)
    s.get(f"/api/v1/namespaces/{s.ns}/secrets/x", token=token)
    s.get("/api/v1/nodes", token=token)
    s.get("/apis/apps/v1/namespaces/kube-system/deployments", token=token)
    s.get(f"/api/v1/namespaces/{s.ns}/pods/x/log", token=token)
    s.post("/api/v1/namespaces", {"metadata": {"name": s.ns + "-x"}}, token=token)
    s.patch(f"{cms(s)}/a", {"data": {"x": "1"}}, MERGE, token=token)
    s.apply(f"{cms(s)}/a", cm("a"), token=token)


@scenario("rbac")
def access_reviews(s):
    _code, tr = _sa_token(s)
    token = tr["status"]["token"]
    _role(s, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"],
               "resourceNames": []}, {"apiGroups": ["apps"], "resources": ["deployments/scale"],
                                      "verbs": ["update"]}])
    for attrs in ({"namespace": s.ns, "verb": "list", "resource": "configmaps"},
                  {"namespace": s.ns, "verb": "delete", "resource": "configmaps"},
                  {"namespace": s.ns, "verb": "update", "group": "apps", "resource": "deployments",
                   "subresource": "scale"}):
        s.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}, token=token)
    s.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": f"system:serviceaccount:{s.ns}:bot", "groups": ["system:serviceaccounts"],
                 "resourceAttributes": {"namespace": s.ns, "verb": "get", "resource": "configmaps"}}})


@scenario("rbac")
def role_escalation_denied(s):
    _code, tr = _sa_token(s)
    token = tr["status"]["token"]
    _role(s, [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["create"]}])
    s.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{s.ns}/roles", {
        "metadata": {"name": "wider"}, "rules": [{"apiGroups": [""], "resources": ["secrets"],
                                                  "verbs": ["get"]}]}, token=token)


@scenario("rbac")
def default_service_account_and_root_ca(s):
    s.wait(f"/api/v1/namespaces/{s.ns}/serviceaccounts/default", lambda c, b: c == 200)
    code, body = s.wait(f"{cms(s)}/kube-root-ca.crt", lambda c, b: c == 200, record=False)
    s.record("kube-root-ca.crt", {"status": code, "keys": sorted((body or {}).get("data", {})),
                                  "pem": (body or {}).get("data", {}).get("ca.crt", "").startswith(
                                      "-----BEGIN CERTIFICATE-----")})


@scenario("rbac")
def service_account_token_secret(s):
    s.wait(f"/api/v1/namespaces/{s.ns}/serviceaccounts/default", lambda c, b: c == 200, record=False)
    s.post(f"/api/v1/namespaces/{s.ns}/serviceaccounts", {"metadata": {"name": "legacy"}}, record=False)
    s.post(f"/api/v1/namespaces/{s.ns}/secrets", {
        "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "legacy"}},
        "type": "kubernetes.io/service-account-token"}, record=False)
    code, body = s.wait(f"/api/v1/namespaces/{s.ns}/secrets/legacy-token",
                        lambda c, b: c == 200 and "token" in (b.get("data") or {}), record=False)
    data = body.get("data") or {}
    s.record("token secret", {"status": code, "type": body.get("type"), "keys": sorted(data),
                              "annotations": body["metadata"].get("annotations"),
                              "token": base64.b64decode(data["token"]).decode() if "token" in data else MISSING,
                              "namespace": base64.b64decode(data.get("namespace", "")).decode()})


# -- deletion -----------------------------------------------------------------------------------------------------
def _gone(c, b):
    return c == 404


@scenario("delete")
def finalizers(s):
    s.post(cms(s), cm("f", finalizers=["example.com/hold"]))
    s.delete(f"{cms(s)}/f")
    s.get(f"{cms(s)}/f")
    s.patch(f"{cms(s)}/f", {"metadata": {"labels": {"during": "deletion"}}}, MERGE)
    s.patch(f"{cms(s)}/f", {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}, MERGE)
    s.delete(f"{cms(s)}/f")
    s.patch(f"{cms(s)}/f", {"metadata": {"finalizers": None}}, MERGE)
    s.wait(f"{cms(s)}/f", _gone)


def _owner_and_dependent(s):
    _code, owner = s.post(cms(s), cm("owner"), record=False)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"],
           "blockOwnerDeletion": True}
    s.post(cms(s), cm("dep", ownerReferences=[ref], finalizers=["example.com/slow"]), record=False)
    s.post(cms(s), cm("dep2", ownerReferences=[dict(ref, blockOwnerDeletion=False)]), record=False)


@scenario("delete")
def foreground_deletion(s):
    _owner_and_dependent(s)
    s.delete(f"{cms(s)}/owner", {"propagationPolicy": "Foreground"})
    s.wait(f"{cms(s)}/dep2", _gone)
    s.wait(f"{cms(s)}/dep", lambda c, b: c == 200 and b["metadata"].get("deletionTimestamp"))
    s.get(f"{cms(s)}/owner")
    s.patch(f"{cms(s)}/dep", {"metadata": {"finalizers": None}}, MERGE)
    s.wait(f"{cms(s)}/owner", _gone)


@scenario("delete")
def background_deletion(s):
    _owner_and_dependent(s)
    s.delete(f"{cms(s)}/owner", {"propagationPolicy": "Background"})
    s.get(f"{cms(s)}/owner")
    s.wait(f"{cms(s)}/dep2", _gone)
    s.wait(f"{cms(s)}/dep", lambda c, b: c == 200 and b["metadata"].get("deletionTimestamp"))


@scenario("delete")
def orphan_deletion(s):
    _owner_and_dependent(s)
    s.delete(f"{cms(s)}/owner", {"propagationPolicy": "Orphan"})
    s.wait(f"{cms(s)}/owner", _gone)
    s.wait(f"{cms(s)}/dep2", lambda c, b: c == 200 and not b["metadata"].get("ownerReferences"))
    s.wait(f"{cms(s)}/dep", lambda c, b: c == 200 and not b["metadata"].get("ownerReferences"))


@scenario("delete")
def deployment_cascade(s):
    from fid_writes import DEP, deployment, deps
    s.post(deps(s), deployment("d", replicas=0), record=False)
    _code, body = s.wait(f"/apis/apps/v1/namespaces/{s.ns}/replicasets",
                         lambda c, b: c == 200 and len(b["items"]) == 1, record=False)
    rs = body["items"][0]
    s.record("replicaset", {"ownerReferences": rs["metadata"]["ownerReferences"],
                            "labels": rs["metadata"]["labels"], "spec": rs["spec"]})
    s.delete(f"{deps(s)}/d", {"propagationPolicy": "Orphan"}, **DEP)
    s.wait(f"/apis/apps/v1/namespaces/{s.ns}/replicasets/{rs['metadata']['name']}",
           lambda c, b: c == 200 and not b["metadata"].get("ownerReferences"), record=False)
    s.record("orphaned", "done")


@scenario("delete")
def delete_options_and_preconditions(s):
    s.post(cms(s), cm("a"), record=False)
    s.delete(f"{cms(s)}/a", {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})
    s.delete(f"{cms(s)}/a", {"preconditions": {"resourceVersion": "1"}})
    s.delete(f"{cms(s)}/a", {"propagationPolicy": "Sideways"})
    s.delete(f"{cms(s)}/a", {"gracePeriodSeconds": -5, "kind": "DeleteOptions", "apiVersion": "v1"})
    s.delete(f"{cms(s)}/a?propagationPolicy=Background")


NS_PICK = ("metadata.name", "metadata.labels", "metadata.deletionGracePeriodSeconds", "metadata.finalizers",
           "spec", "status.phase")


@scenario("delete", namespace=False)
def namespace_termination(s):
    ns = s.ns
    s.post("/api/v1/namespaces", {"metadata": {"name": ns}})
    s.post(f"/api/v1/namespaces/{ns}/configmaps", cm("held", finalizers=["example.com/hold"]), record=False)
    # the namespace controller starts at once (its conditions race with these answers): not compared here
    s.delete(f"/api/v1/namespaces/{ns}", pick=NS_PICK)
    s.get(f"/api/v1/namespaces/{ns}", pick=NS_PICK)
    s.post(f"/api/v1/namespaces/{ns}/configmaps", cm("late"))
    s.wait(f"/api/v1/namespaces/{ns}", lambda c, b: any(
        x["type"] == "NamespaceFinalizersRemaining" and x["status"] == "True"
        for x in (b.get("status") or {}).get("conditions") or []))
    s.patch(f"/api/v1/namespaces/{ns}/configmaps/held", {"metadata": {"finalizers": None}}, MERGE)
    s.wait(f"/api/v1/namespaces/{ns}", _gone)


@scenario("delete", namespace=False)
def namespace_finalize_and_spec(s):
    ns = s.ns
    s.post("/api/v1/namespaces", {"metadata": {"name": ns, "labels": {"a": "b"}}})
    s.apply(f"/api/v1/namespaces/{ns}", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                                         "spec": {"finalizers": ["example.com/x"]}})
    s.req("PATCH", f"/api/v1/namespaces/{ns}", {"status": {"phase": "Terminating"}}, ctype=MERGE)
    _code, body = s.get(f"/api/v1/namespaces/{ns}")
    body["spec"]["finalizers"] = [*body["spec"].get("finalizers", []), "example.com/x"]
    s.put(f"/api/v1/namespaces/{ns}/finalize", body)
    s.delete(f"/api/v1/namespaces/{ns}", pick=NS_PICK)
    s.delete(f"/api/v1/namespaces/{ns}", pick=("metadata.name", "metadata.finalizers", "status.phase"))
    s.delete("/api/v1/namespaces/kube-system?dryRun=All")
    s.delete("/api/v1/namespaces/default?dryRun=All")
    _code, body = s.wait(f"/api/v1/namespaces/{ns}", lambda c, b: c == 200 and b["spec"].get("finalizers") == [
        "example.com/x"])
    body["spec"]["finalizers"] = []
    s.put(f"/api/v1/namespaces/{ns}/finalize", body)
    s.wait(f"/api/v1/namespaces/{ns}", _gone)


# -- scheduling ---------------------------------------------------------------------------------------------------
def _unscheduled(c, b) -> bool:
    return c == 200 and any(x["type"] == "PodScheduled" and x["status"] == "False"
                            for x in (b.get("status") or {}).get("conditions") or [])


@scenario("scheduling")
def scheduler_messages(s):
    """Pods no node fits stay Pending with kube-scheduler's FitError text (the one node of either side)."""
    s.wait(f"/api/v1/namespaces/{s.ns}/serviceaccounts/default", lambda c, b: c == 200, record=False)
    pods = {"cpu": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100"}}}]},
            "selector": {"nodeSelector": {"disk": "none"}, "containers": [{"name": "c", "image": "busybox"}]}}
    for name, spec in pods.items():
        s.post(f"/api/v1/namespaces/{s.ns}/pods", {"metadata": {"name": name}, "spec": spec}, record=False)
    for name in pods:
        _code, body = s.wait(f"/api/v1/namespaces/{s.ns}/pods/{name}", _unscheduled, record=False)
        cond = next(x for x in body["status"]["conditions"] if x["type"] == "PodScheduled")
        s.record(f"pod {name}", {"phase": body["status"].get("phase"), "nodeName": body["spec"].get("nodeName"),
                                 "condition": {k: cond.get(k) for k in ("status", "reason", "message")}})
