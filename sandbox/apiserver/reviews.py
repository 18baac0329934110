"""Create-only review kinds: SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectRulesReview, TokenReview."""

from __future__ import annotations

from . import ssa
from .auth import Authenticator
from .errors import bad_request
from .kinds import Kind
from .meta import now
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


def review(auth: Authenticator, kind: Kind, user: UserInfo, body: object, namespace: str,
           manager: str = "") -> dict:
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    if kind.kind == "SelfSubjectReview":  # no spec; the server stamps creationTimestamp
        return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": {"creationTimestamp": now()},
                "status": {"userInfo": user.user_info()}}
    # like any create through kube-apiserver's handler: the request's fields are recorded as managedFields
    meta = ssa.record_update(None, {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {}, "spec": spec},
                             manager or "unknown", kind.gvk, kind.schema)["metadata"]
    for entry in meta.get("managedFields") or []:  # spec is a struct: no "." of its own
        (entry.get("fieldsV1") or {}).get("f:spec", {}).pop(".", None)
    out = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta, "spec": spec}
    if kind.kind == "TokenReview":
        out["status"] = auth.token_review(str(spec.get("token", "")))
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
    return out
