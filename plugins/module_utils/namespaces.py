# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mlops.k8s.namespace module's logic: Namespace (+ ResourceQuota, LimitRange), deletion waits."""

from __future__ import annotations

from ansible_collections.mlops.k8s.plugins.module_utils import labels as labels_
from ansible_collections.mlops.k8s.plugins.module_utils import managed, names, waiter
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.quantity import validate_quantities
from ansible_collections.mlops.k8s.plugins.module_utils.service import public_object

LIMIT_FIELDS = (("default_request", "defaultRequest"), ("default_limit", "default"), ("min", "min"), ("max", "max"))


def _strings(values, what):
    out = {}
    for key, value in (values or {}).items():
        if value is None or isinstance(value, (dict, list)):
            raise K8sError("%s.%s must be a string, got %r" % (what, key, value))
        out[str(key)] = str(value)
    return out


def build_namespace(name, labels=None, annotations=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels_.check_labels(_strings(labels, "labels"))
    if annotations:
        meta["annotations"] = labels_.check_annotation_keys(_strings(annotations, "annotations"))
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def build_quota(namespace, name, hard):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(managed.MANAGED_BY)},
            "spec": {"hard": validate_quantities(hard, "quota")}}


def limit_range_is_empty(limit_range):
    return not any((limit_range or {}).get(option) for option, _field in LIMIT_FIELDS)


def build_limit_range(namespace, name, limit_range):
    limit = {"type": "Container"}
    for option, field in LIMIT_FIELDS:
        if (limit_range or {}).get(option):
            limit[field] = validate_quantities(limit_range[option], "limit_range.%s" % option)
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(managed.MANAGED_BY)},
            "spec": {"limits": [limit]}}


def plan(params):
    """Everything built (and validated) before the first request: (namespace, to_apply, to_delete)."""
    name = params["name"]
    namespace = build_namespace(name, params.get("labels"), params.get("annotations"))
    to_apply, to_delete = [], []
    quota = params.get("quota")
    if quota:
        to_apply.append(build_quota(name, params["quota_name"], quota))
    elif quota is not None:
        to_delete.append({"apiVersion": "v1", "kind": "ResourceQuota",
                          "metadata": {"name": params["quota_name"], "namespace": name}})
    limit_range = params.get("limit_range")
    if limit_range is not None and not limit_range_is_empty(limit_range):
        to_apply.append(build_limit_range(name, params["limit_range_name"], limit_range))
    elif limit_range is not None:
        to_delete.append({"apiVersion": "v1", "kind": "LimitRange",
                          "metadata": {"name": params["limit_range_name"], "namespace": name}})
    return namespace, to_apply, to_delete


def present(module, client, params):
    namespace, to_apply, to_delete = plan(params)
    name = params["name"]
    ns_resource = client.resource("v1", "Namespace")
    live = client.get(ns_resource, name)
    if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
        raise K8sError("namespace %s is being deleted (Terminating since %s); wait until it is gone "
                       "(state=absent, wait=true) and run again" % (name, live["metadata"]["deletionTimestamp"]))
    results = [managed.apply(module, client, namespace, "namespace", live=live)]
    pending = {name} if module.check_mode and live is None else set()
    for obj in to_apply:
        results.append(managed.apply(module, client, obj, obj["kind"], pending_namespaces=pending))
    for obj in to_delete:
        if live is None:
            continue  # a namespace that does not exist yet has nothing to delete
        results.append(managed.delete(module, client, obj, obj["kind"], only_if=managed.managed_by_us))
    extra = {"namespace": results[0].get("object")}
    if params["wait"] and not module.check_mode:
        outcome = waiter.wait_for(client, ns_resource, name, check=waiter.jsonpath(".status.phase", "Active"),
                                  timeout=params["wait_timeout"], description="phase Active",
                                  current=results[0].get("object"))
        extra["namespace"] = public_object(outcome.object)
        extra["waited"] = round(outcome.elapsed, 3)
    return managed.outcome(results, module.diff_mode, extra)


def absent(module, client, params):
    namespace = build_namespace(params["name"])
    result = managed.delete(module, client, namespace, "namespace", wait=params["wait"],
                            wait_timeout=params["wait_timeout"])
    return managed.outcome([result], module.diff_mode)


def run_namespace(module):
    params = module.params
    names.check_label(params["name"], "namespace")
    names.check_subdomain(params["quota_name"], "quota_name")
    names.check_subdomain(params["limit_range_name"], "limit_range_name")
    if params["state"] == "present":
        plan(params)  # validate before connecting
        return present(module, module.client, params)
    return absent(module, module.client, params)
