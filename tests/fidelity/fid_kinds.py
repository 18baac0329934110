"""Scenarios: the built-in kinds the emulator serves without a controller (one object of each, from
tests/sandbox/data/builtin_samples.yaml: create, get, the table row) and the DaemonSet / StatefulSet revision history
(ControllerRevisions, `kubectl rollout undo`'s strategic merge patch)."""

from __future__ import annotations

import copy
import os

import yaml
from fid_harness import scenario

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "sandbox", "data", "builtin_samples.yaml")
with open(SAMPLES) as _f:
    _DOCS = [d for d in yaml.safe_load_all(_f) if d]
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
SMP = "application/strategic-merge-patch+json"
# the fields of each kind's answer that the request decides: a controller of the real control plane races with the
# response for the status (HPA, FlowSchema, PriorityLevelConfiguration, StorageVersionMigration, ServiceCIDR,
# ReplicationController, ValidatingAdmissionPolicy type checking); the controllers' managedFields entries are left out
_PICK = ("metadata.name", "metadata.labels", "metadata.managedFields", "spec")
RACED = dict.fromkeys(("HorizontalPodAutoscaler", "FlowSchema", "PriorityLevelConfiguration", "StorageVersionMigration",
                       "ServiceCIDR", "ReplicationController", "ValidatingAdmissionPolicy"), _PICK)
CONTROLLERS = ("kube-controller-manager", "api-priority-and-fairness-config-consumer-v1", "service-cidr-controller",
               "storage-version-migrator-controller", "validatingadmissionpolicy-status")
PLURALS = {"PodTemplate": "podtemplates", "ReplicationController": "replicationcontrollers",
           "ControllerRevision": "controllerrevisions", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
           "EndpointSlice": "endpointslices", "NetworkPolicy": "networkpolicies",
           "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
           "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
           "MutatingAdmissionPolicy": "mutatingadmissionpolicies",
           "MutatingAdmissionPolicyBinding": "mutatingadmissionpolicybindings",
           "CertificateSigningRequest": "certificatesigningrequests", "RuntimeClass": "runtimeclasses",
           "CSIDriver": "csidrivers", "VolumeAttachment": "volumeattachments",
           "CSIStorageCapacity": "csistoragecapacities", "VolumeAttributesClass": "volumeattributesclasses",
           "PriorityClass": "priorityclasses", "PriorityLevelConfiguration": "prioritylevelconfigurations",
           "FlowSchema": "flowschemas", "DeviceClass": "deviceclasses", "ResourceClaim": "resourceclaims",
           "ResourceClaimTemplate": "resourceclaimtemplates", "StorageVersionMigration": "storageversionmigrations",
           "IPAddress": "ipaddresses", "CSINode": "csinodes", "ResourceSlice": "resourceslices",
           "ClusterTrustBundle": "clustertrustbundles", "ServiceCIDR": "servicecidrs"}
NAMESPACED = {"PodTemplate", "ReplicationController", "ControllerRevision", "HorizontalPodAutoscaler",
              "EndpointSlice", "NetworkPolicy", "CSIStorageCapacity", "ResourceClaim", "ResourceClaimTemplate"}


def _sample(doc: dict):
    def fn(s):
        body = copy.deepcopy(doc)
        gv, kind = body["apiVersion"], body["kind"]
        base = ("/api/v1" if gv == "v1" else f"/apis/{gv}") + (
            f"/namespaces/{s.ns}" if kind in NAMESPACED else "") + f"/{PLURALS[kind]}"
        body["metadata"].pop("namespace", None)
        name = body["metadata"]["name"]
        pick = RACED.get(kind, ())
        s.delete(f"{base}/{name}", record=False)
        s.post(base, body, pick=pick, others=CONTROLLERS)
        s.get(f"{base}/{name}", pick=pick, others=CONTROLLERS)
        code, table = s.get(f"{base}/{name}", accept=TABLE, record=False)
        cols = table.get("columnDefinitions") or []
        keep = [i for i, c in enumerate(cols) if c["name"] not in ("Age", "Created At")]
        s.record(f"GET {base}/{name} as Table", {"status": code, "columns": [
            {k: cols[i][k] for k in ("name", "type", "format", "priority")} for i in keep], "cells": [
            [row["cells"][i] for i in keep if i < len(row["cells"])] for row in table.get("rows") or []]})
        s.delete(f"{base}/{name}", record=False)
    return fn


for _doc in _DOCS:
    scenario("kinds", namespace=True, name=f"sample {_doc['kind']} {_doc['apiVersion']}")(_sample(_doc))


def _workload(kind: str, image: str) -> dict:
    spec = {"selector": {"matchLabels": {"app": "w"}}, "revisionHistoryLimit": 2,
            "template": {"metadata": {"labels": {"app": "w"}},
                         "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}}
    if kind == "StatefulSet":
        spec.update(serviceName="w", replicas=1)
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec}


def _shown(kind: str, revisions: dict) -> list[dict]:
    """The revisions, oldest first. A DaemonSet's are named by the FNV hash of the Go template struct
    (controller.ComputeHash), which the emulator does not reproduce: its name and hash label are left out."""
    out = []
    for r in sorted(revisions.get("items") or [], key=lambda r: r["revision"]):
        meta = r["metadata"]
        labels = dict(meta.get("labels") or {})
        if kind == "DaemonSet":
            labels.pop("controller-revision-hash", None)
        out.append({"name": meta["name"] if kind != "DaemonSet" else "<hash>", "labels": labels,
                    "annotations": meta.get("annotations"), "ownerReferences": meta.get("ownerReferences"),
                    "revision": r["revision"], "data": r["data"]})
    return out


def _revisions(kind: str):
    def fn(s):
        plural = kind.lower() + "s"
        base, revs = f"/apis/apps/v1/namespaces/{s.ns}/{plural}", f"/apis/apps/v1/namespaces/{s.ns}/controllerrevisions"
        s.post(base, _workload(kind, "busybox:1"), pick=("metadata.annotations", "metadata.generation"))
        s.wait(revs, lambda c, b: c == 200 and len(b.get("items") or []) == 1, record=False)
        for i, image in enumerate(("busybox:2", "busybox:3", "busybox:4")):
            s.patch(f"{base}/w", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}},
                    SMP, pick=("metadata.annotations", "metadata.generation"))
            s.wait(revs, lambda c, b, i=i: c == 200 and max(r["revision"] for r in b["items"]) == i + 2,
                   record=False)
        # revisionHistoryLimit 2: the oldest goes once no pod uses it (a terminating pod still does)
        _code, listed = s.wait(revs, lambda c, b: c == 200 and sorted(r["revision"] for r in b["items"]) == [2, 3, 4],
                               record=False)
        s.record("revisions after three template changes", _shown(kind, listed))
        oldest = min(listed["items"], key=lambda r: r["revision"])
        # `kubectl rollout undo --to-revision=<oldest>`: the revision's data as a strategic merge patch
        s.patch(f"{base}/w", oldest["data"], SMP,
                pick=("metadata.annotations", "metadata.generation", "spec.template"))
        _code, listed = s.wait(revs, lambda c, b: c == 200 and max(b["items"], key=lambda r: r["revision"])[
            "metadata"]["name"] == oldest["metadata"]["name"], record=False)
        s.record("revisions after the undo", _shown(kind, listed))
        s.delete(f"{base}/w", record=False)
    return fn


for _kind in ("DaemonSet", "StatefulSet"):
    scenario("kinds", name=f"revisions {_kind}")(_revisions(_kind))


@scenario("kinds", namespace=False)
def csr_approval(s):
    """`kubectl certificate approve`: PUT .../approval changes only status.conditions (the rest of the answers is
    left out: spec.uid differs, see fid_registry)."""
    doc = copy.deepcopy(next(d for d in _DOCS if d["kind"] == "CertificateSigningRequest"))
    doc["metadata"]["name"] = "fid-approval"
    base = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    s.delete(f"{base}/fid-approval", record=False)
    _code, csr = s.post(base, doc, record=False)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove",
                                     "message": "This CSR was approved by kubectl certificate approve."}]}
    s.put(f"{base}/fid-approval/approval", csr, pick=("status", "spec.signerName", "metadata.generation"))
    s.get(f"{base}/fid-approval", pick=("status",))
    s.get(f"{base}/fid-approval/approval", pick=("status",))
    s.delete(f"{base}/fid-approval", record=False)
