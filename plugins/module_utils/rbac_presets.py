# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBAC presets for model pipelines, and the ServiceAccount + Role/ClusterRole + binding built from them.

Every preset lists exact API groups, resources and verbs: no ``*``, no escalation verbs, nothing a
workload of that kind does not use. Explicit rules given by users are held to the same standard, and the grants
known to lead to more rights (``RISKY_GRANTS``) are refused unless the task names them in ``allow_risky_rules``.

Cluster-scoped objects are named ``<namespace>:<name>`` (a namespace has no ``:``, so two accounts never get the same
name), and every Role/ClusterRole and binding carries the annotation ``mlops.k8s/service-account:
<namespace>/<name>``: an existing one of another account is never updated nor deleted.
"""

from __future__ import annotations

import copy

from ansible_collections.mlops.k8s.plugins.module_utils import managed
from ansible_collections.mlops.k8s.plugins.module_utils.errors import K8sError
from ansible_collections.mlops.k8s.plugins.module_utils.names import check_label, check_subdomain

SELDON_GROUP = "machinelearning.seldon.io"
ARGO_GROUP = "argoproj.io"
RBAC_API = "rbac.authorization.k8s.io/v1"
OWNER_ANNOTATION = "mlops.k8s/service-account"

# Grants that hand out more than they say (the Kubernetes RBAC good practices, "privilege escalation risks"):
# name -> (predicate(group, resource, verbs, cluster_wide), why). Refused unless allowed by name.
_READ = {"get", "list", "watch"}
RISKY_GRANTS = {
    "cluster-secrets-read": (lambda g, r, v, wide: wide and g == "" and r == "secrets" and v & _READ,
                             "reads every Secret of the cluster, service account tokens included"),
    "token-create": (lambda g, r, v, wide: g == "" and r == "serviceaccounts/token" and "create" in v,
                     "mints a token for any service account it can name"),
    "pods-create": (lambda g, r, v, wide: g == "" and r == "pods" and "create" in v,
                    "runs a pod as any service account of the namespace (and so gets its rights)"),
    "pods-exec": (lambda g, r, v, wide: g == "" and r in ("pods/exec", "pods/attach") and v & {"create", "get"},
                  "runs commands in any pod, with the pod's service account and secrets"),
    "nodes-proxy": (lambda g, r, v, wide: g == "" and r == "nodes/proxy" and bool(v),
                    "reaches the kubelet API (and through it, exec into any pod of the node)"),
}
RISKY_GRANT_NAMES = tuple(RISKY_GRANTS)

# Verbs that let a subject grant itself (or others) more than it has: never handed out by this module.
ESCALATING_VERBS = ("escalate", "bind", "impersonate")
KNOWN_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", *ESCALATING_VERBS)

_SELDON_DEPLOYER = [
    # create/update the SeldonDeployment of a model and follow it until Available, then remove it
    {"apiGroups": [SELDON_GROUP], "resources": ["seldondeployments"],
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
    # read status.state / status.description through the status subresource
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


def risky_grants(rules, cluster_wide=False):
    """``[(name, why)]`` of the RISKY_GRANTS the rules make (each name once)."""
    found = []
    for rule in rules:
        verbs = set(rule.get("verbs") or [])
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for name, (grants, why) in RISKY_GRANTS.items():
                    if grants(group, resource, verbs, cluster_wide) and name not in [n for n, _w in found]:
                        found.append((name, why))
    return found


def rules_for(preset=None, rules=None, cluster_wide=False, allow=()):
    """The rules to grant: the preset's plus the explicit ones (validated, merged, normalized).

    A RISKY_GRANTS entry not named in ``allow`` is refused (K8sError, before any request).
    """
    granted = preset_rules(preset) if preset else []
    merged = validate_rules(merge_rules(granted, user_rules(rules)), "granted rules")
    refused = [(name, why) for name, why in risky_grants(merged, cluster_wide) if name not in (allow or ())]
    if refused:
        raise K8sError("the rules grant more than they say: %s; refused (list the name in allow_risky_rules to grant "
                       "it anyway)" % "; ".join("%s %s%s" % (name, why, " (cluster-wide)" if cluster_wide else "")
                                                for name, why in refused))
    return merged


def object_names(name, namespace, cluster_wide, role_name=None):
    """Names of the Role/ClusterRole and binding: cluster objects are ``<namespace>:<name>``, unambiguous since a
    namespace has no ``:`` (``<namespace>-<name>`` of earlier versions made ``a-b``/``c`` and ``a``/``b-c`` collide)."""
    base = role_name or name
    if cluster_wide:
        return {"role": "%s:%s" % (namespace, base), "binding": "%s:%s" % (namespace, base)}
    return {"role": base, "binding": base}


def legacy_cluster_names(name, namespace, role_name=None):
    """The ``<namespace>-<name>`` names cluster-scoped objects had before (removed when they are ours)."""
    base = "%s-%s" % (namespace, role_name or name)
    return {"role": base, "binding": base}


def owner_of(name, namespace):
    return "%s/%s" % (namespace, name)


def build_manifests(name, namespace, rules, *, cluster_wide=False, image_pull_secrets=None, labels=None,
                    annotations=None, automount_token=None, role_name=None):
    """ServiceAccount, then (when there are rules) Role/ClusterRole and RoleBinding/ClusterRoleBinding."""
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    labels.update(managed.MANAGED_BY)
    owner = {OWNER_ANNOTATION: owner_of(name, namespace)}
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
    role_meta = {"name": names["role"], "labels": dict(labels), "annotations": dict(owner)}
    binding_meta = {"name": names["binding"], "labels": dict(labels), "annotations": dict(owner)}
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
    """The Role/binding of the *other* scope (and of this scope when there are no rules), and the cluster-scoped
    ones of the earlier ``<namespace>-<name>`` naming: to be removed when they are ours."""
    out = []
    scopes = [(not cluster_wide, object_names(name, namespace, not cluster_wide, role_name))]
    if not has_rules:
        scopes.append((cluster_wide, object_names(name, namespace, cluster_wide, role_name)))
    scopes.append((True, legacy_cluster_names(name, namespace, role_name)))
    for wide, names in scopes:
        prefix = "Cluster" if wide else ""
        for kind, key in (("%sRoleBinding" % prefix, "binding"), ("%sRole" % prefix, "role")):
            meta = {"name": names[key]}
            if not wide:
                meta["namespace"] = namespace
            out.append({"apiVersion": RBAC_API, "kind": kind, "metadata": meta})
    return out


# -- the mlops.k8s.service_account module -----------------------------------------------------------------------
def _binds_only(binding, name, namespace):
    subjects = (binding or {}).get("subjects") or []
    return len(subjects) == 1 and isinstance(subjects[0], dict) and (
        subjects[0].get("kind"), subjects[0].get("name"), subjects[0].get("namespace")) == (
        "ServiceAccount", name, namespace)


def owned(obj, binding, name, namespace):
    """Whether an existing Role/ClusterRole or binding belongs to the account ``namespace/name``.

    Its owner annotation names the account exactly; or, made before that annotation existed, it carries our label
    and the binding of the pair (``binding``, the object itself for a binding) binds this account only and, for a
    role, refers to it.
    """
    owner = ((obj.get("metadata") or {}).get("annotations") or {}).get(OWNER_ANNOTATION)
    if owner is not None:
        return owner == owner_of(name, namespace)
    if not managed.managed_by_us(obj) or binding is None or not _binds_only(binding, name, namespace):
        return False
    if obj.get("kind", "").endswith("RoleBinding"):
        return True
    return ((binding.get("roleRef") or {}).get("name")) == (obj.get("metadata") or {}).get("name")


def _live_pair(client, kinds, names, namespace):
    """``{"role": live or None, "binding": live or None}`` of a Role/ClusterRole and its binding."""
    out = {}
    for key, kind in kinds.items():
        resource = client.find_resource(RBAC_API, kind)
        out[key] = client.get(resource, names[key], namespace) if resource is not None else None
    return out


def _pair_kinds(wide):
    prefix = "Cluster" if wide else ""
    return {"role": "%sRole" % prefix, "binding": "%sRoleBinding" % prefix}


def check_ownership(client, name, namespace, cluster_wide, role_name=None):
    """Fail (before any write) when the role or binding this account would use belongs to someone else."""
    names = object_names(name, namespace, cluster_wide, role_name)
    live = _live_pair(client, _pair_kinds(cluster_wide), names, None if cluster_wide else namespace)
    for key in ("role", "binding"):
        obj = live[key]
        if obj is not None and not owned(obj, live["binding"] if key == "role" else obj, name, namespace):
            owner = ((obj.get("metadata") or {}).get("annotations") or {}).get(OWNER_ANNOTATION)
            raise K8sError("%s %s exists and does not belong to service account %s (%s); it is left alone: choose "
                           "another role_name" % (_pair_kinds(cluster_wide)[key], names[key],
                                                  owner_of(name, namespace),
                                                  "it belongs to %s" % owner if owner else "not made for it by "
                                                  "mlops.k8s"))


def _owned_stale(client, name, namespace, objs):
    """The stale objects (binding, role pairs as stale_manifests lists them) that belong to the account."""
    keep = []
    for i in range(0, len(objs), 2):
        binding_obj, role_obj = objs[i], objs[i + 1]
        wide = binding_obj["kind"].startswith("Cluster")
        names = {"binding": binding_obj["metadata"]["name"], "role": role_obj["metadata"]["name"]}
        live = _live_pair(client, _pair_kinds(wide), names, None if wide else namespace)
        for key, obj in (("binding", binding_obj), ("role", role_obj)):
            if live[key] is not None and owned(live[key], live["binding"], name, namespace):
                keep.append(obj)
    return keep


def run_service_account(module):
    params = module.params
    name, namespace = params["name"], params["namespace"]
    cluster_wide, role_name = params["cluster_wide"], params["role_name"]
    check_subdomain(name, "name")
    check_label(namespace, "namespace")
    if role_name:
        check_subdomain(role_name, "role_name")
    for secret in params["image_pull_secrets"] or []:
        check_subdomain(secret, "image_pull_secrets entry")
    if params["state"] == "absent":
        client = module.client
        results = []
        stale = stale_manifests(name, namespace, cluster_wide, role_name, has_rules=False)
        for obj in _owned_stale(client, name, namespace, stale):
            results.append(managed.delete(module, client, obj, obj["kind"]))
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
        results.append(managed.delete(module, client, account, "service account"))
        return managed.outcome(results, module.diff_mode, {"rules": []})

    allow = params.get("allow_risky_rules") or []
    rules = rules_for(params["preset"], params["rules"], cluster_wide, allow)  # validated before any request
    for risky, why in risky_grants(rules, cluster_wide):
        module.warn("service account %s/%s is granted %s: it %s (allowed by allow_risky_rules)"
                    % (namespace, name, risky, why))
    manifests = build_manifests(
        name, namespace, rules, cluster_wide=cluster_wide, image_pull_secrets=params["image_pull_secrets"],
        labels=params["labels"], annotations=params["annotations"],
        automount_token=params["automount_service_account_token"], role_name=role_name)
    client = module.client
    if rules:
        check_ownership(client, name, namespace, cluster_wide, role_name)  # before any write
    stale = _owned_stale(client, name, namespace,
                         stale_manifests(name, namespace, cluster_wide, role_name, has_rules=bool(rules)))
    results = [managed.apply(module, client, obj, obj["kind"]) for obj in manifests]
    for obj in stale:
        result = managed.delete(module, client, obj, obj["kind"])
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
