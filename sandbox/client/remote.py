"""A component's API client over HTTPS: the same methods as the emulator's in-process `Client`
(`sandbox/controllers/base.py`), reads from the shared informer cache, writes as the component's own identity
with its field manager."""

from __future__ import annotations

import copy
import time

from ..machinery.errors import ApiError
from .cache import Cache
from .rest import Discovery, Key, Kind, Rest

VERSION = "v1.37.2"


class CachedReads:
    """What both component clients share: reads from `self.store` (the emulator's store or the informer cache;
    shared objects: copy before editing) and read-modify-write on top of the subclass's `update`."""

    store = None

    def get(self, key: Key, ns: str, name: str) -> dict | None:
        return self.store.get(key, ns, name)

    def list(self, key: Key, ns: str | None = None) -> list[dict]:
        return self.store.list(key, ns)[0]

    def mutate(self, key: Key, ns: str, name: str, change, sub: str = "") -> dict | None:
        """Read-modify-write with the resourceVersion read (a stale read gives 409, which the controller retries);
        `change(obj)` edits a copy in place and returns False to skip the write. Returns the stored object (or None
        when gone or skipped)."""
        cur = self.store.get(key, ns, name)
        if cur is None:
            return None
        new = copy.deepcopy(cur)
        if change(new) is False or new == cur:
            return None
        return self.update(key, new, sub)


class RemoteClient(CachedReads):
    def __init__(self, rest: Rest, cache: Cache, discovery: Discovery, user: str, manager: str):
        self.rest, self.cache, self.discovery = rest, cache, discovery
        self.user, self.manager = user, manager
        self.store = cache

    def kind(self, key: Key) -> Kind:
        k = self.discovery.kind(key)
        if k is None:
            raise ApiError(404, f"the server could not find the requested resource {key}", "NotFound")
        return k

    def _q(self) -> dict:
        return {"fieldManager": self.manager}


    def read(self, key: Key, ns: str, name: str, sub: str = "") -> dict | None:
        """A live GET (not the cache), or None when not found."""
        try:
            return self.rest.request("GET", self.kind(key).path(ns, name, sub))
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    # writes
    def create(self, key: Key, ns: str, body: dict) -> dict:
        kind = self.kind(key)
        body = {"apiVersion": kind.api_version, "kind": kind.kind, **body}
        return self._seen(key, self.rest.request("POST", kind.path(ns), body, query=self._q()))

    def create_sub(self, key: Key, ns: str, name: str, sub: str, body: dict) -> dict:
        """POST to a subresource (pods/binding, pods/eviction, serviceaccounts/token)."""
        return self.rest.request("POST", self.kind(key).path(ns, name, sub), body, query=self._q())

    def update(self, key: Key, obj: dict, sub: str = "") -> dict:
        kind = self.kind(key)
        m = obj["metadata"]
        return self._seen(key, self.rest.request("PUT", kind.path(m.get("namespace", ""), m["name"], sub), obj,
                                                 query=self._q()))

    def update_status(self, key: Key, obj: dict) -> dict:
        return self.update(key, obj, "status")

    def patch(self, key: Key, ns: str, name: str, body: dict, *, sub: str = "",
              content_type: str = "application/merge-patch+json", force: bool = False) -> dict:
        query = self._q()
        if force:
            query["force"] = "true"
        data = body
        if content_type == "application/apply-patch+yaml":
            kind = self.kind(key)
            data = {"apiVersion": kind.api_version, "kind": kind.kind, **body}
        return self._seen(key, self.rest.request("PATCH", self.kind(key).path(ns, name, sub), data, query=query,
                                                 content_type=content_type))

    def delete(self, key: Key, ns: str, name: str, policy: str = "Background", uid: str | None = None,
               *, grace: int | None = None) -> None:
        opts: dict = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}
        if uid:
            opts["preconditions"] = {"uid": uid}
        if grace is not None:
            opts["gracePeriodSeconds"] = grace
        try:
            self.rest.request("DELETE", self.kind(key).path(ns, name), opts)
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _seen(self, key: Key, out: dict) -> dict:
        """Wait (briefly) until the cache has this write, so the next read of this component sees it."""
        if not isinstance(out, dict) or "metadata" not in out:
            return out
        m = out["metadata"]
        rv = m.get("resourceVersion")
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            cur = self.cache.get(key, m.get("namespace", ""), m["name"])
            if cur is not None and _rv_at_least(cur["metadata"].get("resourceVersion"), rv):
                break
            time.sleep(0.01)
        return out


def _rv_at_least(have: str | None, want: str | None) -> bool:
    try:
        return int(have or 0) >= int(want or 0)
    except ValueError:
        return have == want
