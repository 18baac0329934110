"""Discovery documents: /version, /api, /apis, group and group-version resource lists."""

from __future__ import annotations

import base64
import hashlib

from .kinds import Kind, Registry

SUBRESOURCE_VERBS = {"status": ("get", "patch", "update"), "scale": ("get", "patch", "update"),
                     "log": ("get",), "token": ("create",), "eviction": ("create",), "binding": ("create",),
                     "finalize": ("update",), "approval": ("get", "patch", "update"),
                     "proxy": ("create", "delete", "get", "patch", "update")}
SUBRESOURCE_KIND = {"scale": ("autoscaling", "v1", "Scale"), "token": ("authentication.k8s.io", "v1", "TokenRequest"),
                    "eviction": ("policy", "v1", "Eviction"), "binding": ("", "v1", "Binding")}


def _sub_kind(k: Kind, sub: str) -> tuple[str, str, str]:
    if sub == "proxy":  # PodProxyOptions, ServiceProxyOptions, NodeProxyOptions
        return k.group, k.version, f"{k.kind}ProxyOptions"
    return SUBRESOURCE_KIND.get(sub, (k.group, k.version, k.kind))


def version_info() -> dict:
    return {"major": "1", "minor": "32", "emulationMajor": "1", "emulationMinor": "32",
            "minCompatibilityMajor": "1", "minCompatibilityMinor": "31", "gitVersion": "v1.32.0-sandbox",
            "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_groups(registry: Registry) -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in registry.groups().items() if g]}


def api_group(registry: Registry, group: str) -> dict | None:
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    return dict(_group(group, versions), kind="APIGroup", apiVersion="v1")


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
REVIEW_KINDS = ("create",)  # kinds with only `create` (reviews, TokenRequest) are not stored: no hash
# resources that kube-apiserver still stores in an older version
LEGACY_STORAGE_VERSIONS = {("apiextensions.k8s.io", "customresourcedefinitions"): "v1beta1",
                           ("certificates.k8s.io", "clustertrustbundles"): "v1beta1",
                           ("certificates.k8s.io", "podcertificaterequests"): "v1beta1",
                           ("resource.k8s.io", "devicetaintrules"): "v1beta2",
                           ("storagemigration.k8s.io", "storageversionmigrations"): "v1beta1"}


def storage_version_hash(k: Kind) -> str:
    """kube-apiserver's StorageVersionHash: base64 of the first 8 bytes of sha256("group/version/Kind") of the
    version the objects are stored as."""
    group = k.key[0]
    version = k.storage_version or LEGACY_STORAGE_VERSIONS.get(k.key) or ("v1" if k.storage_key else k.version)
    digest = hashlib.sha256(f"{group}/{version}/{k.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _verbs(k: Kind) -> list[str]:
    # CRDs list their verbs in apiextensions-apiserver's order, built-ins sorted
    if k.crd:
        order = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")
        return [v for v in order if v in k.verbs]
    return sorted(k.verbs)


def _resource(k: Kind) -> dict:
    r = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind,
         "verbs": _verbs(k)}
    if tuple(k.verbs) != REVIEW_KINDS and k.key != ("", "componentstatuses"):  # not stored: no hash
        r["storageVersionHash"] = storage_version_hash(k)
    if k.short:
        r["shortNames"] = list(k.short)
    if k.categories:
        r["categories"] = list(k.categories)
    return r


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    kinds = registry.in_group_version(group, version)
    if not kinds:
        return None
    resources = []
    for k in kinds:
        resources.append(_resource(k))
        for sub in k.subresources:
            sg, sv, skind = _sub_kind(k, sub)
            entry = {"name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced, "kind": skind,
                     "verbs": list(SUBRESOURCE_VERBS.get(sub, ("get",)))}
            if (sg, sv) != (k.group, k.version):
                entry["group"], entry["version"] = sg, sv
            resources.append(entry)
    # built-ins sorted by name; a CRD's entries come as apiextensions-apiserver lists them: resource, status, scale
    resources.sort(key=lambda r: (r["name"].split("/")[0], r["name"].count("/"),
                                  ("status", "scale").index(r["name"].split("/")[1])
                                  if r["name"].count("/") and r["name"].split("/")[1] in ("status", "scale")
                                  and kinds[0].crd else 0, r["name"]))
    out = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
           "resources": resources}
    if not group:
        del out["apiVersion"]  # kube-apiserver's /api/v1 has none
    return out


def _aggregated_resource(k: Kind) -> dict:
    def kind_ref(g: str, v: str, kind: str) -> dict:
        if not k.crd and (g, v) == (k.group, k.version):
            return {"group": "", "version": "", "kind": kind}  # built-ins leave their own group/version out
        return {"group": g, "version": v, "kind": kind}
    r: dict = {"resource": k.plural, "responseKind": kind_ref(k.group, k.version, k.kind),
               "scope": "Namespaced" if k.namespaced else "Cluster", "singularResource": k.singular,
               "verbs": _verbs(k)}
    if k.short:
        r["shortNames"] = list(k.short)
    if k.categories:
        r["categories"] = list(k.categories)
    subs = []
    for sub in sorted(k.subresources, key=lambda s: ("status", "scale").index(s) if s in ("status", "scale") else 2) \
            if k.crd else sorted(k.subresources):
        sg, sv, skind = _sub_kind(k, sub)
        subs.append({"subresource": sub, "responseKind": kind_ref(sg, sv, skind),
                     "verbs": list(SUBRESOURCE_VERBS.get(sub, ("get",)))})
    if subs:
        r["subresources"] = subs
    return r


def aggregated(registry: Registry, core: bool) -> dict:
    """The aggregated discovery document (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) of /api or /apis."""
    groups = {"": ["v1"]} if core else {g: vs for g, vs in registry.groups().items() if g}
    items = []
    for group, versions in groups.items():
        entries = []
        for version in versions:
            kinds = sorted(registry.in_group_version(group, version), key=lambda k: k.plural)
            if kinds:
                entries.append({"version": version, "resources": [_aggregated_resource(k) for k in kinds],
                                "freshness": "Current"})
        items.append({"metadata": {"name": group} if group else {}, "versions": entries})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}


def wants_aggregated(accept: str) -> bool:
    """Whether the client accepts the aggregated document (kubectl and client-go ask for it first)."""
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip() for p in part.split(";")[1:] if "=" in p}
        if params.get("g") == "apidiscovery.k8s.io" and params.get("v") == "v2" and \
                params.get("as") == "APIGroupDiscoveryList":
            return True
        if part.split(";")[0].strip() in ("application/json", "*/*", "application/*"):
            return False
    return False
