"""RBAC authorizer (Roles, ClusterRoles, RoleBindings, ClusterRoleBindings), pure functions.

``store_view`` is any object with ``list(group, resource, namespace=None) -> list[dict]`` returning stored objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..machinery.selectors import selector_from_dict

__all__ = [
    "RBAC_GROUP",
    "RequestAttributes",
    "StoreView",
    "UserInfo",
    "authorize",
    "effective_groups",
    "forbidden_message",
    "non_resource_rules_for",
    "rule_allows",
    "rules_for",
]

RBAC_GROUP = "rbac.authorization.k8s.io"
SUPERUSER_GROUP = "system:masters"


class StoreView(Protocol):
    def list(self, group: str, resource: str, namespace: str | None = None) -> list[dict]: ...


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # hashable: (key, values) pairs

    def user_info(self) -> dict:
        """As authentication.k8s.io/v1 UserInfo (TokenReview, SelfSubjectReview)."""
        out: dict = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra}
        return out


@dataclass(frozen=True)
class RequestAttributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    non_resource_url: str = ""

    @property
    def is_resource_request(self) -> bool:
        return not self.non_resource_url


def effective_groups(user: UserInfo) -> tuple[str, ...]:
    """The user's groups plus the implicit ones the authenticators add."""
    groups = list(user.groups)

    def add(g: str) -> None:
        if g not in groups:
            groups.append(g)

    if user.name.startswith("system:serviceaccount:"):
        parts = user.name.split(":")
        add("system:serviceaccounts")
        if len(parts) >= 4:
            add("system:serviceaccounts:" + parts[2])
    if user.name not in ("system:anonymous", "") and "system:unauthenticated" not in groups:
        add("system:authenticated")
    return tuple(groups)


# ---------------------------------------------------------------------------------------------------------------------
# rule evaluation (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac)


def _verb_matches(rule: dict, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _group_matches(rule: dict, group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def _resource_matches(rule: dict, resource: str, subresource: str) -> bool:
    combined = resource + "/" + subresource if subresource else resource
    for r in rule.get("resources") or []:
        if r in ("*", combined):
            return True
        if subresource and r == "*/" + subresource:
            return True
    return False


def _name_matches(rule: dict, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def _url_matches(rule: dict, url: str) -> bool:
    for u in rule.get("nonResourceURLs") or []:
        if u in ("*", url):
            return True
        if u.endswith("*") and url.startswith(u[:-1]):
            return True
    return False


def rule_allows(attrs: RequestAttributes, rule: dict) -> bool:
    if attrs.is_resource_request:
        return (
            _verb_matches(rule, attrs.verb)
            and _group_matches(rule, attrs.group)
            and _resource_matches(rule, attrs.resource, attrs.subresource)
            and _name_matches(rule, attrs.name)
        )
    return _verb_matches(rule, attrs.verb) and _url_matches(rule, attrs.non_resource_url)


# ---------------------------------------------------------------------------------------------------------------------
# bindings


def _applies(subject: dict, user: UserInfo, groups: tuple[str, ...], binding_ns: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user.name == "system:serviceaccount:%s:%s" % (ns, name)
    return False


def _describe_subject(subject: dict, binding_ns: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return '%s "%s/%s"' % (subject.get("kind"), subject.get("name"), subject.get("namespace") or binding_ns)
    return '%s "%s"' % (subject.get("kind"), subject.get("name"))


def _safe_list(store_view: Any, resource: str, namespace: str | None) -> list[dict]:
    try:
        return list(store_view.list(RBAC_GROUP, resource, namespace) or [])
    except KeyError:
        return []


def _cluster_roles(store_view: Any) -> dict[str, dict]:
    return {(r.get("metadata") or {}).get("name", ""): r for r in _safe_list(store_view, "clusterroles", None)}


def _role_rules(role: dict, cluster_roles: dict[str, dict], seen: frozenset[str] = frozenset()) -> list[dict]:
    """Rules of a (Cluster)Role, resolving ``aggregationRule`` against the other ClusterRoles' labels."""
    rules = list(role.get("rules") or [])
    agg = role.get("aggregationRule")
    if isinstance(agg, dict) and agg.get("clusterRoleSelectors"):
        name = (role.get("metadata") or {}).get("name", "")
        seen = seen | {name}
        for sel in agg.get("clusterRoleSelectors") or []:
            try:
                selector = selector_from_dict(sel)
            except ValueError:
                continue
            for other_name, other in sorted(cluster_roles.items()):
                if other_name in seen or not selector.matches((other.get("metadata") or {}).get("labels")):
                    continue
                for r in _role_rules(other, cluster_roles, seen):
                    if r not in rules:
                        rules.append(r)
    return rules


def _visit(store_view: Any, user: UserInfo, namespace: str):
    """Yield ``(source_description, rule)`` for every rule that applies to ``user`` in ``namespace``."""
    groups = effective_groups(user)
    cluster_roles = _cluster_roles(store_view)
    for crb in _safe_list(store_view, "clusterrolebindings", None):
        ref = crb.get("roleRef") or {}
        if ref.get("kind") != "ClusterRole":
            continue
        for subject in crb.get("subjects") or []:
            if not _applies(subject, user, groups, ""):
                continue
            role = cluster_roles.get(ref.get("name", ""))
            if role is None:
                break
            src = 'ClusterRoleBinding "%s" of ClusterRole "%s" to %s' % (
                (crb.get("metadata") or {}).get("name", ""), ref.get("name"), _describe_subject(subject, ""))
            for rule in _role_rules(role, cluster_roles):
                yield src, rule, True
            break
    if not namespace:
        return
    roles = {(r.get("metadata") or {}).get("name", ""): r for r in _safe_list(store_view, "roles", namespace)}
    for rb in _safe_list(store_view, "rolebindings", namespace):
        ref = rb.get("roleRef") or {}
        for subject in rb.get("subjects") or []:
            if not _applies(subject, user, groups, namespace):
                continue
            if ref.get("kind") == "Role":
                role = roles.get(ref.get("name", ""))
            elif ref.get("kind") == "ClusterRole":
                role = cluster_roles.get(ref.get("name", ""))
            else:
                role = None
            if role is None:
                break
            src = 'RoleBinding "%s/%s" of %s "%s" to %s' % (  # name/namespace, as kube-apiserver's RBAC says
                (rb.get("metadata") or {}).get("name", ""), namespace, ref.get("kind"), ref.get("name"),
                _describe_subject(subject, namespace))
            for rule in _role_rules(role, cluster_roles):
                yield src, rule, False
            break


def authorize(store_view: Any, user: UserInfo, attrs: RequestAttributes) -> tuple[bool, str]:
    """RBAC decision: ``(allowed, reason)``; the reason names the granting binding, as Kubernetes' RBAC does."""
    if SUPERUSER_GROUP in user.groups:
        return True, ""
    for src, rule, cluster in _visit(store_view, user, attrs.namespace if attrs.is_resource_request else ""):
        if not attrs.is_resource_request and not cluster:
            continue
        if rule_allows(attrs, rule):
            return True, "RBAC: allowed by %s" % src
    return False, ""


def forbidden_message(user: UserInfo, attrs: RequestAttributes, reason: str = "") -> str:
    """The message of the 403 Status the apiserver returns (``responsewriters.Forbidden``)."""
    if not attrs.is_resource_request:
        msg = 'forbidden: User "%s" cannot %s path "%s"' % (user.name, attrs.verb, attrs.non_resource_url)
    else:
        resource = attrs.resource + "/" + attrs.subresource if attrs.subresource else attrs.resource
        if attrs.namespace:
            detail = 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
                user.name, attrs.verb, resource, attrs.group, attrs.namespace)
        else:
            detail = 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
                user.name, attrs.verb, resource, attrs.group)
        qualified = attrs.resource + "." + attrs.group if attrs.group else attrs.resource
        if attrs.name:
            msg = '%s "%s" is forbidden: %s' % (qualified, attrs.name, detail)
        else:
            msg = "%s is forbidden: %s" % (qualified, detail)
    if reason:
        msg += ": " + reason
    return msg


def rules_for(store_view: Any, user: UserInfo, namespace: str) -> list[dict]:
    """``status.resourceRules`` of a SelfSubjectRulesReview for ``user`` in ``namespace``.

    Each rule looks like ``{"verbs", "apiGroups", "resources", "resourceNames"?}`` (duplicates removed).
    See ``non_resource_rules_for`` for ``status.nonResourceRules``.
    """
    if SUPERUSER_GROUP in user.groups:
        return [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    out: list[dict] = []
    for _src, rule, _cluster in _visit(store_view, user, namespace):
        if not rule.get("resources"):
            continue
        r = {
            "verbs": list(rule.get("verbs") or []),
            "apiGroups": list(rule.get("apiGroups") or []),
            "resources": list(rule.get("resources") or []),
        }
        if rule.get("resourceNames"):
            r["resourceNames"] = list(rule["resourceNames"])
        if r not in out:
            out.append(r)
    return out


def non_resource_rules_for(store_view: Any, user: UserInfo) -> list[dict]:
    """``status.nonResourceRules`` of a SelfSubjectRulesReview (only ClusterRoleBindings grant them)."""
    if SUPERUSER_GROUP in user.groups:
        return [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    out: list[dict] = []
    for _src, rule, cluster in _visit(store_view, user, ""):
        if cluster and rule.get("nonResourceURLs"):
            r = {"verbs": list(rule.get("verbs") or []), "nonResourceURLs": list(rule["nonResourceURLs"])}
            if r not in out:
                out.append(r)
    return out
