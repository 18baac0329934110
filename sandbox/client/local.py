"""The emulator's in-process client: a component identity that writes through `sandbox.objects` (the same code
path as HTTP requests, audited under the component's user) and reads the store directly. Components get it from
`sandbox.controllers.base.client_for` when they run inside the emulator; `remote.RemoteClient` has the same
methods over HTTPS."""

from __future__ import annotations

import copy
import json

from ..apiserver.objects import Ctx
from ..apiserver.rbac import UserInfo
from ..machinery.errors import ApiError
from .remote import CachedReads
from .rest import resource_path

Key = tuple[str, str]
VERSION = "v1.32.0"


class Client(CachedReads):
    """The API as one controller identity: the same code path as HTTP requests (sandbox.objects)."""

    def __init__(self, sandbox, user: str, manager: str = "kube-controller-manager"):
        self.sb = sandbox
        self.store = sandbox.store
        self.objects = sandbox.objects
        self.user = UserInfo(user, ("system:serviceaccounts", "system:serviceaccounts:kube-system",
                                    "system:authenticated") if user.startswith("system:serviceaccount:")
                             else ("system:nodes", "system:authenticated") if user.startswith("system:node:")
                             else ("system:authenticated",))
        self.manager = manager

    def ctx(self) -> Ctx:
        return Ctx(self.user, {"fieldManager": self.manager}, f"{self.manager}/{VERSION} (linux/amd64) sandbox")

    def kind(self, key: Key):
        k = self.objects.kind_for_key(key)
        if k is None:
            raise ApiError(404, f"no kind for {key}", "NotFound")
        return k

    @staticmethod
    def _path(kind, ns: str, name: str = "", sub: str = "") -> str:
        return resource_path(kind, ns, name, sub)

    def _audit(self, verb: str, method: str, kind, ns: str, name: str, sub: str, code: int) -> None:  # noqa: PLR0917
        audit = getattr(self.sb, "audit", None)
        if audit is not None:
            audit.record(user=self.user.name, verb=verb, method=method, path=self._path(kind, ns, name, sub),
                         query=f"fieldManager={self.manager}", dry_run=False, status=code)

    def _do(self, verb, method, kind, ns, name, *, sub="", fn, ok):
        try:
            out = fn()
        except ApiError as e:
            self._audit(verb, method, kind, ns, name, sub, e.code)
            raise
        self._audit(verb, method, kind, ns, name, sub, ok)
        return out

    def read(self, key: Key, ns: str, name: str, sub: str = "") -> dict | None:
        """The stored object (a copy), or None when not found (as `RemoteClient.read`)."""
        cur = self.store.get(self.kind(key).key, ns, name)
        return copy.deepcopy(cur) if cur is not None else None

    # writes
    def patch(self, key: Key, ns: str, name: str, body: dict, *, sub: str = "",
              content_type: str = "application/merge-patch+json") -> dict:
        kind = self.kind(key)
        return self._do("patch", "PATCH", kind, ns, name, sub=sub, ok=200, fn=lambda: self.objects.patch(
            kind, ns, name, json.dumps(body).encode(), self.ctx(), ctype=content_type, sub=sub)[0])

    def create(self, key: Key, ns: str, body: dict) -> dict:
        kind = self.kind(key)
        return self._do("create", "POST", kind, ns, "",
                        fn=lambda: self.objects.create(kind, ns, body, self.ctx()), ok=201)

    def update(self, key: Key, obj: dict, sub: str = "") -> dict:
        kind = self.kind(key)
        m = obj["metadata"]
        return self._do("update", "PUT", kind, m.get("namespace", ""), m["name"], sub=sub,
                        fn=lambda: self.objects.update(kind, m.get("namespace", ""), m["name"], obj, self.ctx(),
                                                       sub=sub),
                        ok=200)

    def update_status(self, key: Key, obj: dict) -> dict:
        return self.update(key, obj, "status")

    def delete(self, key: Key, ns: str, name: str, policy: str = "Background", uid: str | None = None,
               *, grace: int | None = None) -> None:
        kind = self.kind(key)
        opts: dict = {"propagationPolicy": policy}
        if uid:
            opts["preconditions"] = {"uid": uid}
        if grace is not None:
            opts["gracePeriodSeconds"] = grace
        try:
            self._do("delete", "DELETE", kind, ns, name,
                     fn=lambda: self.objects.delete(kind, ns, name, opts, self.ctx()), ok=200)
        except ApiError as e:
            if e.code not in (404, 409):
                raise

