"""CustomResourceDefinitions: discovery at run time, schema validation/defaulting/pruning, subresources."""

from __future__ import annotations

import json
import os
import time

import pytest
import yaml
from sbx import APPLY, DATA, MERGE, SMP, call

pytestmark = pytest.mark.sandbox

GROUP = "example.mlops.io"
CRD_NAME = "widgets.crd.example.com"


def _widget_crd():
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {"group": "crd.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [
                     {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                          "spec": {"type": "object", "required": ["size"], "properties": {
                              "size": {"type": "integer", "minimum": 1},
                              "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                              "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                          "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}},
                     {"name": "v1beta1", "served": True, "storage": False,
                      "schema": {"openAPIV3Schema": {"type": "object",
                                                     "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture(scope="module")
def widgets(sandbox):
    code, body = call(sandbox, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _widget_crd())
    assert code == 201, body
    conds = {c["type"]: c["status"] for c in body["status"]["conditions"]}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    return "/apis/crd.example.com/v1/namespaces/{ns}/widgets"


def _w(name, **spec):
    return {"apiVersion": "crd.example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def test_discovery_includes_crd(sandbox, widgets):
    res = call(sandbox, "GET", "/apis/crd.example.com/v1")[1]
    names = {r["name"]: r for r in res["resources"]}
    assert names["widgets"]["kind"] == "Widget" and names["widgets"]["shortNames"] == ["wd"]
    assert "widgets/status" in names
    group = next(g for g in call(sandbox, "GET", "/apis")[1]["groups"] if g["name"] == "crd.example.com")
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]


def test_validation_defaulting_pruning(sandbox, ns, widgets):
    base = widgets.format(ns=ns)
    code, body = call(sandbox, "POST", base, _w("bad", size=0, color="green"))
    assert code == 422 and body["reason"] == "Invalid", body
    fields = {c["field"] for c in body["details"]["causes"]}
    assert "spec.size" in fields and "spec.color" in fields
    assert body["details"]["kind"] == "Widget" and body["details"]["group"] == "crd.example.com"
    code, body = call(sandbox, "POST", base, _w("missing"))
    assert code == 422 and any(c["reason"] == "FieldValueRequired" for c in body["details"]["causes"])
    code, body = call(sandbox, "POST", base + "?fieldValidation=Strict", _w("strict", size=1, bogus=1))
    assert code == 400 and 'unknown field "spec.bogus"' in body["message"]
    code, headers, raw = sandbox.request("POST", base + "?fieldValidation=Warn",
                                         json.dumps(_w("warn", size=1, bogus=1)).encode())
    assert code == 201 and "spec.bogus" in headers.get("Warning", "")
    body = json.loads(raw)
    assert "bogus" not in body["spec"] and body["spec"]["color"] == "red"
    code, body = call(sandbox, "POST", base, _w("free", size=2, free={"any": {"thing": [1, 2]}}))
    assert code == 201 and body["spec"]["free"] == {"any": {"thing": [1, 2]}}


def test_status_subresource_and_generation(sandbox, ns, widgets):
    base = widgets.format(ns=ns)
    w = _w("g", size=1)
    w["status"] = {"phase": "Ignored"}
    code, body = call(sandbox, "POST", base, w)
    assert code == 201 and "status" not in body and body["metadata"]["generation"] == 1
    code, body = call(sandbox, "PATCH", base + "/g/status", {"status": {"phase": "Ready"}, "spec": {"size": 9}},
                      content_type=MERGE)
    assert body["status"] == {"phase": "Ready"} and body["spec"]["size"] == 1 and body["metadata"]["generation"] == 1
    code, body = call(sandbox, "PATCH", base + "/g", {"status": {"phase": "Nope"}, "metadata": {"labels": {"a": "b"}}},
                      content_type=MERGE)
    assert body["status"] == {"phase": "Ready"} and body["metadata"]["generation"] == 1
    code, body = call(sandbox, "PATCH", base + "/g", {"spec": {"size": 3}}, content_type=MERGE)
    assert body["metadata"]["generation"] == 2
    code, body = call(sandbox, "PATCH", base + "/g", {"spec": {"size": 3}}, content_type=SMP)
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


def test_served_versions_share_storage(sandbox, ns, widgets):
    call(sandbox, "POST", widgets.format(ns=ns), _w("shared", size=5))
    code, body = call(sandbox, "GET", f"/apis/crd.example.com/v1beta1/namespaces/{ns}/widgets/shared")
    assert code == 200 and body["apiVersion"] == "crd.example.com/v1beta1" and body["spec"]["size"] == 5
    code, _, data = sandbox.request("GET", f"/apis/crd.example.com/v1beta1/namespaces/{ns}/widgets?watch=1"
                                           "&timeoutSeconds=1")
    events = [json.loads(line) for line in data.splitlines()]
    assert [e["object"]["apiVersion"] for e in events] == ["crd.example.com/v1beta1"]


def test_deleting_crd_deletes_objects_and_api(sandbox, ns):
    crd = _widget_crd()
    crd["metadata"]["name"] = "gadgets.crd.example.com"
    crd["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget"}
    assert call(sandbox, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    base = f"/apis/crd.example.com/v1/namespaces/{ns}/gadgets"
    assert call(sandbox, "POST", base, {"apiVersion": "crd.example.com/v1", "kind": "Gadget",
                                        "metadata": {"name": "g1"}, "spec": {"size": 1}})[0] == 201
    call(sandbox, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.crd.example.com")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and call(sandbox, "GET", base)[0] != 404:
        time.sleep(0.05)
    assert call(sandbox, "GET", base)[0] == 404
    code, group = call(sandbox, "GET", "/apis/crd.example.com/v1")
    assert code == 404 or "gadgets" not in [r["name"] for r in group["resources"]]
    # re-creating the CRD starts empty
    assert call(sandbox, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    assert call(sandbox, "GET", base)[1]["items"] == []


def test_invalid_crd_is_rejected(sandbox):
    crd = _widget_crd()
    crd["metadata"]["name"] = "wrong.name"
    code, body = call(sandbox, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert code == 422 and body["details"]["causes"][0]["field"] == "metadata.name"


def test_seldon_like_crd_from_file(sandbox, ns):
    with open(os.path.join(DATA, "crd.yaml"), encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    code, _ = call(sandbox, "PATCH", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                   f"{crd['metadata']['name']}?fieldManager=test&force=true", crd, content_type=APPLY)
    assert code in (200, 201)
    path = f"/apis/{GROUP}/v1/namespaces/{ns}/modeldeployments"
    code, _, data = sandbox.request("GET", path, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    cols = [c["name"] for c in json.loads(data)["columnDefinitions"]]
    assert cols == ["Name", "Model", "Replicas", "State", "Age"]


def test_apply_status_to_main_endpoint_follows_status_subresource(sandbox, ns, widgets):
    """With a status subresource (v1), `status` in an apply to the main endpoint is neither stored nor owned;
    without one (v1beta1), it is an ordinary field of the object."""
    for version, has_sub in (("v1", True), ("v1beta1", False)):
        w = {"apiVersion": f"crd.example.com/{version}", "kind": "Widget", "metadata": {"name": f"s-{version}"},
             "spec": {"size": 1}, "status": {"phase": "Applied"}}
        code, body = call(sandbox, "PATCH", f"/apis/crd.example.com/{version}/namespaces/{ns}/widgets/s-{version}"
                          "?fieldManager=tool", raw=yaml.safe_dump(w).encode(), content_type=APPLY)
        assert code == 201, body
        owned = [m["fieldsV1"] for m in body["metadata"]["managedFields"] if m["manager"] == "tool"]
        if has_sub:
            assert "status" not in body and "f:status" not in owned[0]
        else:
            assert body["status"] == {"phase": "Applied"} and owned[0]["f:status"] == {"f:phase": {}}


def test_a_false_preserve_unknown_fields_is_not_stored(sandbox):
    """`preserveUnknownFields` is an omitempty bool in apiextensions/v1: kube-apiserver returns a CRD file's
    `false` without the field (Emissary's CRD files spell it out)."""
    crd = _widget_crd()
    crd["metadata"]["name"] = "sprockets.crd.example.com"
    crd["spec"]["names"] = {"plural": "sprockets", "singular": "sprocket", "kind": "Sprocket"}
    crd["spec"]["preserveUnknownFields"] = False
    code, body = call(sandbox, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    try:
        assert code == 201, body
        assert "preserveUnknownFields" not in body["spec"]
        got = call(sandbox, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sprockets.crd.example.com")
        assert "preserveUnknownFields" not in got[1]["spec"]
    finally:
        call(sandbox, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sprockets.crd.example.com")
