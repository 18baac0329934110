"""Create-only review kinds: SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectRulesReview, TokenReview."""

from __future__ import annotations

from .auth import Authenticator
from .errors import bad_request
from .kinds import Kind
from .rbac import RequestAttributes, UserInfo, non_resource_rules_for, rules_for


def _attrs(spec: dict, namespace: str = "") -> RequestAttributes:
    ra = spec.get("resourceAttributes")
    if isinstance(ra, dict):
        return RequestAttributes(verb=str(ra.get("verb", "")), group=str(ra.get("group", "")),
                                 resource=str(ra.get("resource", "")), subresource=str(ra.get("subresource", "")),
                                 namespace=str(ra.get("namespace", namespace or "")), name=str(ra.get("name", "")))
    nra = spec.get("nonResourceAttributes")
    if isinstance(nra, dict):
        return RequestAttributes(verb=str(nra.get("verb", "")), non_resource_url=str(nra.get("path", "")))
    raise bad_request("spec.resourceAttributes or spec.nonResourceAttributes is required")


def review(auth: Authenticator, kind: Kind, user: UserInfo, body: object, namespace: str) -> dict:
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    out = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": {"creationTimestamp": None},
           "spec": spec}
    if kind.kind == "TokenReview":
        out["status"] = auth.token_review(str(spec.get("token", "")))
        return out
    if kind.kind == "SelfSubjectReview":
        out["status"] = {"userInfo": {"username": user.name, "groups": list(user.groups)}}
        return out
    if kind.kind == "SelfSubjectRulesReview":
        ns = str(spec.get("namespace", ""))
        out["status"] = {"resourceRules": rules_for(auth.view, user, ns),
                         "nonResourceRules": non_resource_rules_for(auth.view, user), "incomplete": False}
        return out
    if kind.kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        subject = UserInfo(str(spec.get("user", "")), tuple(spec.get("groups") or ()))
    else:
        subject = user
    ok, reason = auth.allowed(subject, _attrs(spec, namespace))
    out["status"] = {"allowed": ok}
    if reason:
        out["status"]["reason"] = reason
    if not ok:
        out["status"]["denied"] = False
    return out
