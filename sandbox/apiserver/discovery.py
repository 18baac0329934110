"""Discovery documents: /version, /api, /apis, group and group-version resource lists."""

from __future__ import annotations

import hashlib

from .kinds import Kind, Registry

SUBRESOURCE_VERBS = {"status": ("get", "patch", "update"), "scale": ("get", "patch", "update"),
                     "log": ("get",), "token": ("create",), "eviction": ("create",), "binding": ("create",),
                     "finalize": ("update",)}
SUBRESOURCE_KIND = {"scale": ("autoscaling", "v1", "Scale"), "token": ("authentication.k8s.io", "v1", "TokenRequest"),
                    "eviction": ("policy", "v1", "Eviction"), "binding": ("", "v1", "Binding")}


def version_info() -> dict:
    return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-sandbox", "gitCommit": "0" * 40,
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


def _resource(k: Kind) -> dict:
    r = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind,
         "verbs": list(k.verbs),
         "storageVersionHash": hashlib.sha256(f"{k.group}/{k.plural}".encode()).hexdigest()[:12]}
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
    for k in sorted(kinds, key=lambda k: k.plural):
        resources.append(_resource(k))
        for sub in k.subresources:
            sg, sv, skind = SUBRESOURCE_KIND.get(sub, (k.group, k.version, k.kind))
            entry = {"name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced, "kind": skind,
                     "verbs": list(SUBRESOURCE_VERBS.get(sub, ("get",)))}
            if sub in SUBRESOURCE_KIND:
                entry["group"], entry["version"] = sg, sv
            resources.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}
