# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small layer over manifests.py and service.py for modules that manage a fixed set of objects they build themselves
(namespace, storage_secret, service_account, pvc): apply or delete each one, collect results and diffs."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.manifests import Manifest, default_namespace, validate_manifest
from ansible_collections.mlops.k8s.plugins.module_utils.service import (
    NOT_READ,
    apply_manifest,
    delete_manifest,
    make_diff,
    make_result,
)

#: the label on every object the collection's modules build themselves
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlops.k8s"}


def managed_by_us(obj):
    """Whether an object carries the MANAGED_BY label."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in MANAGED_BY.items())


def manifest(client, obj, origin):
    """A resolved Manifest for an object built by a module (fails with 'no kind X' when not served)."""
    item = Manifest(obj, origin)
    validate_manifest(item)
    item.resource = client.resource(item.api_version, item.kind)
    default_namespace(item)
    return item


def apply(module, client, obj, origin, pending_namespaces=(), live=NOT_READ):
    """Apply one object. In check mode, an object whose namespace does not exist yet (a namespace an earlier
    task of the same check-mode run would have created) is reported as created, without server validation.
    ``live``: the object as the caller has just read it (None: absent), so it is not read again."""
    item = manifest(client, obj, origin)
    try:
        return apply_manifest(client, item, check_mode=module.check_mode, want_diff=module.diff_mode,
                              pending_namespaces=pending_namespaces, live=live)
    except K8sError as err:
        if not (module.check_mode and item.namespace and err.status == 404 and "namespace" in str(err).lower()):
            raise
        return make_result(item, "created", item.obj, diff=make_diff(None, item.obj) if module.diff_mode else None,
                           note="namespace %s does not exist yet; not validated by the server in check mode"
                           % item.namespace)


def delete(module, client, obj, origin, *, wait=False, wait_timeout=120, propagation_policy="Background",
           only_if=None):
    """Delete ``obj``; with ``only_if(live)`` returning False the object is left alone (reported unchanged)."""
    item = Manifest(obj, origin)
    item.resource = client.find_resource(item.api_version, item.kind)
    if item.resource is not None:
        default_namespace(item)
        if only_if is not None:
            live = client.get(item.resource, item.name, item.namespace)
            if live is not None and not only_if(live):
                return make_result(item, "unchanged", live)
    return delete_manifest(client, item, check_mode=module.check_mode, propagation_policy=propagation_policy,
                           want_diff=module.diff_mode, wait=wait, wait_timeout=wait_timeout)


def brief(result):
    """A result entry without the full object (modules return the objects they care about separately)."""
    out = {k: result.get(k) for k in ("kind", "api_version", "namespace", "name", "action", "changed")
           if k in result}
    if result.get("note"):
        out["note"] = result["note"]
    return out


def outcome(results, diff_mode, extra=None):
    """The module result: changed, results (brief) and, in diff mode, the diffs of changed objects."""
    out = {"changed": any(r["changed"] for r in results), "results": [brief(r) for r in results]}
    if diff_mode:
        out["diff"] = [r["diff"] for r in results if r.get("changed") and r.get("diff") is not None]
    out.update(extra or {})
    return out
