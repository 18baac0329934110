# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBAC presets for model pipelines, and the ServiceAccount + Role/ClusterRole + binding built from them.

Every preset lists exact API groups, resources and verbs: no ``*``, no escalation verbs, nothing a
workload of that kind does not use. Explicit rules given by users are held to the same standard.
"""

from __future__ import annotations

import copy

from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.names import check_label, check_subdomain

SELDON_GROUP = "machinelearning.seldon.io"
ARGO_GROUP = "argoproj.io"
RBAC_API = "rbac.authorization.k8s.io/v1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlops.k8s"}

# Verbs that let a subject grant itself (or others) more than it has: never handed out by this module.
ESCALATING_VERBS = ("escalate", "bind", "impersonate")
KNOWN_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", *ESCALATING_VERBS)

_SELDON_DEPLOYER = [
    # create/update the SeldonDeployment of a model and follow it until Available, then remove it
    {"apiGroups": [SELDON_GROUP], "resources": ["seldondeployments"],
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
    # read status.state / status.description (what the tempo pipeline's role of seed 001 grants)
    {"apiGroups": [SELDON_GROUP], "resources": ["seldondeployments/status"], "verbs": ["get"]},
    # read the predictor Deployments: the wait confirms their rollout when the status alone cannot tell
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
]

# Argo Workflows >= 3.4 (emissary executor, the only one in 3.5): the `wait` container of every step pod
# reports outputs and progress through a WorkflowTaskResult it creates then patches. Pod access was only
# needed by the legacy executors (<= 3.3), whose "pods patch" fallback Argo calls insecure.
_ARGO_EXECUTOR = [
    {"apiGroups": [ARGO_GROUP], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
]

PRESETS = {
    "seldon-deployer": {
        "description": "create, read, update, delete and watch SeldonDeployments, read their status and their "
                       "predictor Deployments, in one namespace",
        "rules": _SELDON_DEPLOYER,
    },
    "argo-workflow": {
        "description": "what the pod of an Argo Workflows (3.4+, emissary executor) step needs: create and patch "
                       "its WorkflowTaskResult",
        "rules": _ARGO_EXECUTOR,
    },
    "pipeline": {
        "description": "a train -> deploy pipeline (the tempo-pipeline RBAC of the Metaflow/Tempo example): run as "
                       "Argo steps, submit and follow Argo Workflows (also from WorkflowTemplates), deploy "
                       "SeldonDeployments and follow their status, read its pods and their logs",
        "rules": _SELDON_DEPLOYER + _ARGO_EXECUTOR + [
            {"apiGroups": [ARGO_GROUP], "resources": ["workflows"], "verbs": ["create", "get", "list", "watch"]},
            {"apiGroups": [ARGO_GROUP], "resources": ["workflowtemplates"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        ],
    },
}
PRESET_NAMES = tuple(PRESETS)


def preset_rules(name):
    """A copy of a preset's rules (Kubernetes form: apiGroups, resources, verbs)."""
    if name not in PRESETS:
        raise K8sError("unknown RBAC preset %r (choose from %s)" % (name, ", ".join(PRESET_NAMES)))
    return copy.deepcopy(PRESETS[name]["rules"])


def _as_list(value, field, index):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise K8sError("rules[%d].%s must be a list of strings" % (index, field))
    return list(value)


def user_rules(rules):
    """Rules given as ``api_groups``/``resources``/``verbs``/``resource_names`` -> Kubernetes form, validated."""
    out = []
    for index, rule in enumerate(rules or []):
        if not isinstance(rule, dict):
            raise K8sError("rules[%d] must be a mapping with api_groups, resources and verbs" % index)
        unknown = sorted(set(rule) - {"api_groups", "resources", "verbs", "resource_names"})
        if unknown:
            raise K8sError("rules[%d]: unknown key(s) %s (allowed: api_groups, resources, verbs, resource_names)"
                           % (index, ", ".join(unknown)))
        k8s_rule = {
            "apiGroups": _as_list(rule.get("api_groups", [""]), "api_groups", index),
            "resources": _as_list(rule.get("resources"), "resources", index),
            "verbs": _as_list(rule.get("verbs"), "verbs", index),
        }
        names = _as_list(rule.get("resource_names"), "resource_names", index)
        if names:
            k8s_rule["resourceNames"] = names
        out.append(k8s_rule)
    validate_rules(out, "rules")
    return out


def validate_rules(rules, what="rules"):
    """Refuse wildcards, escalation verbs, unknown verbs and empty fields (K8sError naming the rule)."""
    for index, rule in enumerate(rules):
        where = "%s[%d]" % (what, index)
        if not rule.get("resources"):
            raise K8sError("%s: resources must not be empty" % where)
        if not rule.get("verbs"):
            raise K8sError("%s: verbs must not be empty" % where)
        if not rule.get("apiGroups"):
            raise K8sError("%s: api_groups must not be empty (use \"\" for the core group)" % where)
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            for value in rule.get(field) or []:
                if "*" in value:
                    raise K8sError("%s: %r in %s: wildcards are refused; list the exact %s the account needs"
                                   % (where, value, field, field))
        for verb in rule["verbs"]:
            if verb in ESCALATING_VERBS:
                raise K8sError("%s: verb %r lets the account grant itself more rights; it is refused"
                               % (where, verb))
            if verb not in KNOWN_VERBS:
                raise K8sError("%s: unknown verb %r (use %s)" % (where, verb, ", ".join(KNOWN_VERBS[:8])))
    return rules


def merge_rules(*rule_lists):
    """One normalized rule list: sorted values, duplicates removed, rules with the same target merged."""
    merged = {}
    order = []
    for rules in rule_lists:
        for rule in rules or []:
            key = (tuple(sorted(set(rule.get("apiGroups") or []))), tuple(sorted(set(rule.get("resources") or []))),
                   tuple(sorted(set(rule.get("resourceNames") or []))))
            if key not in merged:
                merged[key] = set()
                order.append(key)
            merged[key].update(rule.get("verbs") or [])
    out = []
    for key in order:
        rule = {"apiGroups": list(key[0]), "resources": list(key[1]), "verbs": sorted(merged[key])}
        if key[2]:
            rule["resourceNames"] = list(key[2])
        out.append(rule)
    return out


def rules_for(preset=None, rules=None):
    """The rules to grant: the preset's plus the explicit ones (validated, merged, normalized)."""
    granted = preset_rules(preset) if preset else []
    return validate_rules(merge_rules(granted, user_rules(rules)), "granted rules")


def object_names(name, namespace, cluster_wide, role_name=None):
    """Names of the Role/ClusterRole and binding: cluster objects are prefixed with the namespace."""
    base = role_name or name
    if cluster_wide:
        return {"role": "%s-%s" % (namespace, base), "binding": "%s-%s" % (namespace, base)}
    return {"role": base, "binding": base}


def build_manifests(name, namespace, rules, *, cluster_wide=False, image_pull_secrets=None, labels=None,
                    annotations=None, automount_token=None, role_name=None):
    """ServiceAccount, then (when there are rules) Role/ClusterRole and RoleBinding/ClusterRoleBinding."""
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    labels.update(MANAGED_BY)
    meta = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    if image_pull_secrets is not None:
        account["imagePullSecrets"] = [{"name": s} for s in image_pull_secrets]
    if automount_token is not None:
        account["automountServiceAccountToken"] = bool(automount_token)
    out = [account]
    if not rules:
        return out
    names = object_names(name, namespace, cluster_wide, role_name)
    role_kind = "ClusterRole" if cluster_wide else "Role"
    role_meta = {"name": names["role"], "labels": dict(labels)}
    binding_meta = {"name": names["binding"], "labels": dict(labels)}
    if not cluster_wide:
        role_meta["namespace"] = namespace
        binding_meta["namespace"] = namespace
    out.append({"apiVersion": RBAC_API, "kind": role_kind, "metadata": role_meta, "rules": copy.deepcopy(rules)})
    out.append({
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding" if cluster_wide else "RoleBinding",
        "metadata": binding_meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": names["role"]},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    })
    return out


def stale_manifests(name, namespace, cluster_wide, role_name=None, has_rules=True):
    """The Role/binding of the *other* scope (and of this scope when there are no rules): to be removed."""
    out = []
    scopes = [not cluster_wide] + ([] if has_rules else [cluster_wide])
    for wide in scopes:
        names = object_names(name, namespace, wide, role_name)
        prefix = "Cluster" if wide else ""
        for kind, key in (("%sRoleBinding" % prefix, "binding"), ("%sRole" % prefix, "role")):
            meta = {"name": names[key]}
            if not wide:
                meta["namespace"] = namespace
            out.append({"apiVersion": RBAC_API, "kind": kind, "metadata": meta})
    return out


# -- the mlops.k8s.service_account module -----------------------------------------------------------------------
def _managed_by_us(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == MANAGED_BY["app.kubernetes.io/managed-by"]


def run_service_account(module):
    from ansible_collections.mlops.k8s.plugins.module_utils import managed

    params = module.params
    name, namespace = params["name"], params["namespace"]
    cluster_wide, role_name = params["cluster_wide"], params["role_name"]
    check_subdomain(name, "name")
    check_label(namespace, "namespace")
    if params["state"] == "absent":
        client = module.client
        results = []
        for obj in stale_manifests(name, namespace, cluster_wide, role_name, has_rules=False):
            results.append(managed.delete(module, client, obj, obj["kind"], only_if=_managed_by_us))
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
        results.append(managed.delete(module, client, account, "service account"))
        return managed.outcome(results, module.diff_mode, {"rules": []})

    rules = rules_for(params["preset"], params["rules"])  # validated before any request
    manifests = build_manifests(
        name, namespace, rules, cluster_wide=cluster_wide, image_pull_secrets=params["image_pull_secrets"],
        labels=params["labels"], annotations=params["annotations"],
        automount_token=params["automount_service_account_token"], role_name=role_name)
    client = module.client
    results = [managed.apply(module, client, obj, obj["kind"]) for obj in manifests]
    for obj in stale_manifests(name, namespace, cluster_wide, role_name, has_rules=bool(rules)):
        result = managed.delete(module, client, obj, obj["kind"], only_if=_managed_by_us)
        if result["action"] != "absent":
            results.append(result)
    names = object_names(name, namespace, cluster_wide, role_name)
    extra = {
        "rules": rules,
        "service_account": name,
        "role": ({"kind": "ClusterRole" if cluster_wide else "Role", "name": names["role"]} if rules else None),
        "binding": ({"kind": "ClusterRoleBinding" if cluster_wide else "RoleBinding", "name": names["binding"]}
                    if rules else None),
    }
    return managed.outcome(results, module.diff_mode, extra)
