# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prune: delete the objects of some kinds that match a label selector and are not among the ones just applied."""

from __future__ import annotations

import time

from ansible_collections.mlops.k8s.plugins.module_utils import labels, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import crd_serves
from ansible_collections.mlops.k8s.plugins.module_utils.service import make_diff


def group_of(api_version):
    """The API group of an apiVersion (an empty string for the core group)."""
    return api_version.rpartition("/")[0] if "/" in (api_version or "") else ""


def identity(api_version, kind, namespace, name):
    """What makes two objects the same object, whatever version they are read in: group, kind, namespace, name."""
    return (group_of(api_version), kind, namespace or None, name)


def parse_kind(text):
    """``v1/ConfigMap``, ``apps/v1/Deployment`` or kubectl's ``core/v1/ConfigMap`` -> ``(apiVersion, kind)``."""
    api_version, _sep, kind = str(text or "").strip().rpartition("/")
    parts = api_version.split("/")
    if not api_version or not kind or len(parts) > 2 or not all(parts) or not kind[:1].isalpha():
        raise K8sError("prune_kinds: %r is not <apiVersion>/<kind> (for example v1/ConfigMap or apps/v1/Deployment)"
                       % text)
    if parts[0] == "core" and len(parts) == 2:
        api_version = parts[1]
    return api_version, kind


class PruneKind:
    """One kind whose objects are considered for pruning, with its API resource once the cluster serves it."""

    def __init__(self, api_version, kind, resource=None, namespaced=None, explicit=False):
        self.api_version = api_version
        self.kind = kind
        self.resource = resource
        self._namespaced = namespaced
        self.explicit = explicit

    @property
    def namespaced(self):
        return bool(self.resource.namespaced) if self.resource is not None else self._namespaced

    def __repr__(self):
        return "<PruneKind %s/%s>" % (self.api_version, self.kind)


def resolve_prune_kinds(client, manifests, kinds=None):
    """The kinds to prune, found in the (cached) discovery before anything is written.

    ``kinds`` (``apiVersion/kind`` strings) are taken as given, cluster-scoped ones included; each must be served
    by the cluster or defined by a CustomResourceDefinition of the batch. Without ``kinds``: the namespaced kinds
    of the manifests. Kinds are deduplicated by API group and kind.
    """
    found, seen = [], set()
    if kinds:
        crds = [m.obj for m in manifests if m.kind == "CustomResourceDefinition"]
        for text in kinds:
            api_version, kind = parse_kind(text)
            if (group_of(api_version), kind) in seen:
                continue
            seen.add((group_of(api_version), kind))
            resource = client.find_resource(api_version, kind)
            if resource is None:
                pending = [c for c in crds if crd_serves(c, api_version, kind)]
                if not pending:
                    raise K8sError("prune_kinds: no kind %s in apiVersion %s on this cluster" % (kind, api_version),
                                   status=404)
                scope = (pending[0].get("spec") or {}).get("scope", "Namespaced")
                found.append(PruneKind(api_version, kind, namespaced=scope == "Namespaced", explicit=True))
                continue
            verbs = getattr(resource, "verbs", None)
            if verbs and not {"list", "delete"} <= set(verbs):
                raise K8sError("prune_kinds: kind %s in apiVersion %s cannot be listed and deleted (verbs: %s)"
                               % (kind, api_version, ", ".join(verbs)))
            found.append(PruneKind(api_version, kind, resource, explicit=True))
        return found
    for manifest in manifests:
        if not manifest.namespaced or (group_of(manifest.api_version), manifest.kind) in seen:
            continue
        seen.add((group_of(manifest.api_version), manifest.kind))
        found.append(PruneKind(manifest.api_version, manifest.kind, manifest.resource, namespaced=True))
    return found


def _controller_of(obj):
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(owner, dict) and owner.get("controller") is True:
            return owner
    return None


def _skip_reason(obj, requirements, applied_namespaces, applied_kinds):
    """Why a listed object that is not in the applied set must not be pruned (None: prune it)."""
    meta = obj.get("metadata") or {}
    if not labels.matches(requirements, meta.get("labels")):
        return "does not match the selector (the server returned it anyway)"
    if meta.get("deletionTimestamp"):
        return "already being deleted"
    owner = _controller_of(obj)
    if owner is not None:
        return "managed by its controller %s %s" % (owner.get("kind"), owner.get("name"))
    if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1" and meta.get("name") in applied_namespaces:
        return "holds objects applied by this task"
    if obj.get("kind") == "CustomResourceDefinition":
        spec = obj.get("spec") or {}
        if (spec.get("group"), (spec.get("names") or {}).get("kind")) in applied_kinds:
            return "defines a kind applied by this task"
    return None


def _brief(obj, namespaced):
    meta = obj.get("metadata") or {}
    return {"kind": obj.get("kind"), "api_version": obj.get("apiVersion"),
            "namespace": meta.get("namespace") if namespaced else None, "name": meta.get("name")}


def _prune_rank(kind, namespaced):
    """Delete order: namespaced objects, other cluster-scoped objects, CustomResourceDefinitions, Namespaces."""
    if kind.kind == "Namespace" and kind.api_version == "v1":
        return 3
    if kind.kind == "CustomResourceDefinition":
        return 2
    return 0 if namespaced else 1


def prune_candidates(client, manifests, results, prune_kinds, selector, skipped=None):
    """List the objects of ``prune_kinds`` matching ``selector`` and sort out the ones to delete.

    Namespaced kinds are listed in the namespaces of the manifests only, cluster-scoped kinds cluster-wide.
    Returns ``[(resource, object)]`` in delete order; the listed objects left alone for a reason (controller
    owned, being deleted, ...) are appended to ``skipped``. Objects of the applied set (``results``, compared by
    API group, kind, namespace and name) are never candidates.
    """
    requirements = labels.parse_selector(selector, "prune_selector")
    skipped = [] if skipped is None else skipped
    applied = {identity(r["api_version"], r["kind"], r["namespace"], r["name"]) for r in results}
    applied_kinds = {(group_of(r["api_version"]), r["kind"]) for r in results}
    namespaces = sorted({m.namespace for m in manifests if m.namespaced and m.namespace})
    applied_namespaces = set(namespaces)
    candidates, seen = [], set()
    for kind in prune_kinds:
        if kind.resource is None:
            kind.resource = client.find_resource(kind.api_version, kind.kind)
        if kind.resource is None:
            continue  # a kind whose CustomResourceDefinition is only dry-run applied: nothing of it exists
        namespaced = bool(kind.resource.namespaced)
        for namespace in namespaces if namespaced else [None]:
            listing = client.list(kind.resource, namespace, label_selector=selector)
            for obj in listing.get("items") or []:
                meta = obj.get("metadata") or {}
                key = identity(obj.get("apiVersion"), obj.get("kind"), meta.get("namespace") if namespaced else None,
                               meta.get("name"))
                if key in applied or key in seen:
                    continue
                seen.add(key)
                reason = _skip_reason(obj, requirements, applied_namespaces, applied_kinds)
                if reason:
                    skipped.append(dict(_brief(obj, namespaced), reason=reason))
                else:
                    candidates.append((_prune_rank(kind, namespaced), kind.resource, obj))
    candidates.sort(key=lambda c: c[0])  # stable: listing order within a rank
    return [(resource, obj) for _rank, resource, obj in candidates]


def prune_all(client, manifests, results, prune_kinds, selector, *, check_mode=False,
              propagation_policy="Foreground", want_diff=False, wait=False, wait_timeout=120, clock=None, done=None,
              skipped=None):
    """Delete the objects of ``prune_kinds`` matching ``selector`` that are not among the applied ``results``.

    Call it only after every apply succeeded. Each DELETE carries the listed object's uid as a precondition, so an
    object re-created meanwhile is left alone (reported in ``skipped``). In check mode the deletes are server
    dry runs. With ``wait`` (not in check mode) it waits, with one deadline of ``wait_timeout`` seconds, until
    the deleted objects are gone. Returns the pruned objects (``done``, when given, receives each one as soon as
    it is deleted, so a caller can report them when a later delete fails).
    """
    clock = clock or time.monotonic
    pruned = [] if done is None else done
    skipped = [] if skipped is None else skipped
    deleted = []
    for resource, obj in prune_candidates(client, manifests, results, prune_kinds, selector, skipped):
        meta = obj.get("metadata") or {}
        entry = _brief(obj, resource.namespaced)
        try:
            response = client.delete(resource, meta.get("name"), entry["namespace"],
                                     propagation_policy=propagation_policy, dry_run=check_mode, uid=meta.get("uid"))
        except K8sError as err:
            if err.status != 409:
                raise
            skipped.append(dict(entry, reason="re-created since it was listed"))
            continue
        if response is None:  # deleted by someone else between our LIST and DELETE
            continue
        entry["uid"] = meta.get("uid")
        if want_diff:
            entry["diff"] = {"before": make_diff(obj, None)["before"], "after": {}}
        pruned.append(entry)
        deleted.append((resource, entry))
    if wait and not check_mode:
        deadline = clock() + wait_timeout
        for resource, entry in deleted:
            outcome = waiter.wait_for(client, resource, entry["name"], entry["namespace"],
                                      check=waiter.deleted(entry["uid"]), timeout=max(0, deadline - clock()),
                                      description="deletion", clock=clock)
            entry["waited"] = round(outcome.elapsed, 3)
    return pruned
