"""Authentication (client certificates, admin bearer token, ServiceAccount tokens from TokenRequest) and
authorization."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid

from . import rbac
from .errors import ApiError
from .meta import parse_time
from .rbac import RequestAttributes, UserInfo
from .store import Store

ADMIN = UserInfo("sandbox-admin", ("system:masters", "system:authenticated"))
SA_KEY = ("", "serviceaccounts")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class StoreView:
    """What rbac.authorize needs: list(group, resource, namespace)."""

    def __init__(self, store: Store):
        self.store = store

    def list(self, group: str, resource: str, namespace: str | None = None) -> list[dict]:
        return self.store.list((group, resource), namespace)[0]


# What kube-apiserver's Node authorizer lets a kubelet (user system:node:<name>, group system:nodes) do, as its
# static rules (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy NodeRules); the real authorizer
# further limits secrets, configmaps, volumes and tokens to those of the pods bound to that node.
NODE_RULES = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["create", "get", "list", "watch", "update", "patch"]},
    {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch", "update"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch", "update"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"],
     "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["get", "patch", "update"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
     "verbs": ["get", "create", "update", "patch", "delete"]},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews", "localsubjectaccessreviews"],
     "verbs": ["create"]},
]


class Authenticator:
    def __init__(self, store: Store, admin_token: str, signing_key: bytes, issuer: str = "https://kubernetes.default.svc.cluster.local"):
        self.store, self.admin_token, self.key, self.issuer = store, admin_token, signing_key, issuer
        self.view = StoreView(store)

    # -- ServiceAccount tokens: HS256 JWTs bound to the ServiceAccount's uid --
    def issue(self, namespace: str, sa: dict, expiration: int, audiences: list[str]) -> tuple[str, int]:
        iat = int(time.time())
        exp = iat + max(600, int(expiration))
        claims = {"iss": self.issuer, "aud": audiences, "iat": iat, "nbf": iat, "exp": exp,
                  "sub": f"system:serviceaccount:{namespace}:{sa['metadata']['name']}",
                  "jti": str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
                  "kubernetes.io": {"namespace": namespace,
                                    "serviceaccount": {"name": sa["metadata"]["name"], "uid": sa["metadata"]["uid"]}}}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "sandbox"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}", exp

    def issue_legacy(self, namespace: str, sa: dict, secret_name: str) -> str:
        """The token the token controller writes into a kubernetes.io/service-account-token Secret: no expiry, the
        legacy claims."""
        p = "kubernetes.io/serviceaccount/"
        claims = {"iss": "kubernetes/serviceaccount", p + "namespace": namespace, p + "secret.name": secret_name,
                  p + "service-account.name": sa["metadata"]["name"], p + "service-account.uid": sa["metadata"]["uid"],
                  "sub": f"system:serviceaccount:{namespace}:{sa['metadata']['name']}"}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "sandbox"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def _sa_user(self, token: str) -> UserInfo | None:
        try:
            head, body, sig = token.split(".")
            want = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(want, sig):
                return None
            claims = json.loads(_unb64(body))
            if "exp" in claims and claims["exp"] < time.time():
                return None
            if "kubernetes.io" in claims:  # a bound token (TokenRequest)
                k = claims["kubernetes.io"]
                ns, name, uid = k["namespace"], k["serviceaccount"]["name"], k["serviceaccount"]["uid"]
            else:  # a legacy Secret token
                p = "kubernetes.io/serviceaccount/"
                ns, name = claims[p + "namespace"], claims[p + "service-account.name"]
                uid = claims[p + "service-account.uid"]
                secret = self.store.get(("", "secrets"), ns, claims[p + "secret.name"])
                if secret is None:
                    return None
        except (ValueError, KeyError, TypeError):
            return None
        sa = self.store.get(SA_KEY, ns, name)
        if sa is None or sa["metadata"].get("uid") != uid:
            return None
        extra = (("authentication.kubernetes.io/credential-id", (f"JTI={claims['jti']}",)),) \
            if claims.get("jti") else ()
        return UserInfo(f"system:serviceaccount:{ns}:{name}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"), uid, extra)

    def _secret_token_user(self, token: str) -> UserInfo | None:
        """Legacy token Secrets (type kubernetes.io/service-account-token) filled by the token controller."""
        return self._sa_user(token)

    def authenticate(self, header: str | None, client_cert: tuple[str, tuple[str, ...]] | None = None) -> UserInfo:
        """kube-apiserver's authenticators in its order: a verified client certificate (CN = user, O = groups;
        one without a CN authenticates no one), then the bearer token."""
        if client_cert is not None and client_cert[0]:
            groups = client_cert[1]
            user = UserInfo(client_cert[0], groups if "system:authenticated" in groups
                            else (*groups, "system:authenticated"))
            return ADMIN if user == ADMIN else user
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "Unauthorized", "Unauthorized")
        token = header[len("Bearer "):].strip()
        if hmac.compare_digest(token, self.admin_token):
            return ADMIN
        user = self._sa_user(token)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return user

    def token_review(self, token: str) -> dict:
        try:
            user = self.authenticate(f"Bearer {token}")
        except ApiError:
            return {"user": {}, "error": "invalid bearer token"}
        out = {"authenticated": True, "user": user.user_info()}
        aud = self._audiences(token)
        if aud:
            out["audiences"] = aud
        return out

    @staticmethod
    def _audiences(token: str) -> list[str]:
        try:
            aud = json.loads(_unb64(token.split(".")[1])).get("aud")
        except (ValueError, IndexError):
            return []
        return [aud] if isinstance(aud, str) else list(aud or [])

    def impersonate(self, user: UserInfo, headers: dict) -> UserInfo:
        """`Impersonate-User` / `Impersonate-Group`: act as another identity when `user` may `impersonate` it
        (and each group); the result is authorized as that identity from then on, as kube-apiserver does."""
        target = headers.get("impersonate-user")
        groups_h = [g.strip() for g in (headers.get("impersonate-group") or "").split(",") if g.strip()]
        if not target:
            if groups_h:
                raise ApiError(500, "Internal error occurred: requested [{Kind:Group Name:%s}] without "
                                    "impersonating a user" % groups_h[0], "InternalError")
            return user

        def check(resource: str, name: str, ns: str = "") -> None:
            ok, _ = self.allowed(user, RequestAttributes(verb="impersonate", resource=resource, namespace=ns,
                                                         name=name))
            if not ok:
                scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
                raise ApiError(403, f'{resource} "{name}" is forbidden: User "{user.name}" cannot impersonate '
                                    f'resource "{resource}" in API group "" {scope}', "Forbidden",
                               {"name": name, "kind": resource})
        groups: list[str] = []
        parts = target.split(":")
        if len(parts) == 4 and target.startswith("system:serviceaccount:"):
            check("serviceaccounts", parts[3], parts[2])
            groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
        else:
            check("users", target)
        for g in groups_h:
            check("groups", g)
            if g not in groups:
                groups.append(g)
        if target != "system:anonymous" and "system:authenticated" not in groups:
            groups.append("system:authenticated")
        return UserInfo(target, tuple(groups))

    # -- authorization --
    def allowed(self, user: UserInfo, attrs: RequestAttributes) -> tuple[bool, str]:
        if "system:masters" in user.groups:
            return True, ""
        if "system:nodes" in user.groups and user.name.startswith("system:node:") and \
                any(rbac.rule_allows(attrs, r) for r in NODE_RULES):
            return True, ""   # the Node authorizer (its static rules; the graph of the node's pods is not kept)
        return rbac.authorize(self.view, user, attrs)

    def authorize(self, user: UserInfo, attrs: RequestAttributes) -> None:
        ok, _ = self.allowed(user, attrs)
        if not ok:
            details = {"kind": attrs.resource}
            if attrs.name:
                details["name"] = attrs.name
            if attrs.group:
                details["group"] = attrs.group
            raise ApiError(403, rbac.forbidden_message(user, attrs), "Forbidden",
                           details if attrs.resource else None)


def expiration_of(ts: str) -> float:
    t = parse_time(ts)
    return t.timestamp() if t else 0.0
