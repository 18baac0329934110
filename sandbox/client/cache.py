"""Informers: for each (group, plural) a component reads, one list + watch that keeps a local copy of every object
and fans its changes out to the components' watchers, as client-go's shared informers do.

- An informer starts on the first read of its kind and the read waits until it has listed (`has synced`).
- The watch resumes from the last resourceVersion it saw (bookmarks included); a `410 Gone` or a broken stream
  relists, and the relist is turned into the ADDED / MODIFIED / DELETED events that were missed.
- A kind the server does not serve yet (a CRD not installed) reads as empty, and its informer keeps looking.

The interface is the one the components already use on the emulator's store: `get`, `list`, `watch(None)`
(a watcher with `get(timeout)` and `close()`, events with `type`, `key`, `obj`). Objects are shared: never edit
one in place.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import NamedTuple

from ..machinery.errors import ApiError
from ..machinery.watch import Watcher
from .rest import Discovery, Key, Rest

log = logging.getLogger("sandbox.client.cache")


class Event(NamedTuple):
    type: str            # ADDED | MODIFIED | DELETED
    key: Key
    obj: dict
    old: dict | None = None   # the object before this change, as the cache held it


def _ident(o: dict) -> tuple[str, str]:
    m = o["metadata"]
    return m.get("namespace", ""), m["name"]


class Informer:
    def __init__(self, cache: Cache, key: Key):
        self.cache, self.key = cache, key
        self.items: dict[tuple[str, str], dict] = {}
        self.rv = ""
        self.synced = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"informer-{key[0] or 'core'}-{key[1]}", daemon=True)

    def _list(self, kind) -> None:
        items: dict[tuple[str, str], dict] = {}
        cont = None
        while True:
            page = self.cache.rest.request("GET", kind.path(), query={"limit": 500, "continue": cont})
            for o in page.get("items") or []:
                o.setdefault("apiVersion", kind.api_version)
                o.setdefault("kind", kind.kind)
                items[_ident(o)] = o
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                rv = (page.get("metadata") or {}).get("resourceVersion") or ""
                break
        old, self.items = self.items, items
        self.rv = rv
        if self.synced.is_set():   # a relist: what changed while we were not watching
            for ident, o in items.items():
                prev = old.get(ident)
                if prev is None:
                    self.cache._fire(Event("ADDED", self.key, o))
                elif prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                    self.cache._fire(Event("MODIFIED", self.key, o, prev))
            for ident, o in old.items():
                if ident not in items:
                    self.cache._fire(Event("DELETED", self.key, o, o))
        self.synced.set()

    def _run(self) -> None:
        backoff = 0.2
        while not self.cache.stopping.is_set():
            kind = self.cache.discovery.kind(self.key)
            if kind is None:       # not served (yet): empty, synced, look again soon
                self.synced.set()
                self.cache.stopping.wait(2.0)
                continue
            try:
                if not self.rv:
                    self._list(kind)
                self._watch(kind)
                backoff = 0.2
            except ApiError as e:
                if e.code == 410:
                    self.rv = ""
                    continue
                if self.cache.stopping.is_set():
                    return
                log.debug("informer %s: %s", self.key, e)
                if e.code == 404:
                    self.rv = ""
                self.cache.stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except (OSError, ValueError) as e:
                log.debug("informer %s: stream ended: %s", self.key, e)
                self.cache.stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _watch(self, kind) -> None:
        query = {"watch": "true", "resourceVersion": self.rv, "allowWatchBookmarks": "true",
                 "timeoutSeconds": int(self.cache.watch_timeout)}
        for ev in self.cache.rest.stream(kind.path(), query, timeout=self.cache.watch_timeout + 30):
            if self.cache.stopping.is_set():
                return
            etype, o = ev.get("type"), ev.get("object") or {}
            if etype == "ERROR":
                raise ApiError(int(o.get("code") or 500), o.get("message") or "watch error", o.get("reason"))
            rv = (o.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.rv = rv
            if etype == "BOOKMARK":
                continue
            o.setdefault("apiVersion", kind.api_version)
            o.setdefault("kind", kind.kind)
            ident = _ident(o)
            prev = self.items.pop(ident, None) if etype == "DELETED" else self.items.get(ident)
            if etype != "DELETED":
                self.items[ident] = o
            self.cache._fire(Event(etype, self.key, o, prev))


class Cache:
    """The informers of one component process (all kinds, cluster-wide), read with the credentials of `rest`."""

    def __init__(self, rest: Rest, discovery: Discovery | None = None, *, sync_timeout: float = 30.0,
                 watch_timeout: float = 300.0):
        self.rest = rest
        self.discovery = discovery or Discovery(rest)
        self.sync_timeout, self.watch_timeout = sync_timeout, watch_timeout
        self.stopping = threading.Event()
        self._informers: dict[Key, Informer] = {}
        self._watchers: list[Watcher] = []
        self._lock = threading.Lock()

    def informer(self, key: Key) -> Informer:
        inf = self._informers.get(key)
        if inf is None:
            with self._lock:
                inf = self._informers.get(key)
                if inf is None:
                    inf = self._informers[key] = Informer(self, key)
                    inf.thread.start()
        if not inf.synced.wait(self.sync_timeout):
            raise ApiError(504, f"the informer of {key} did not sync in {self.sync_timeout:.0f}s", "Timeout")
        return inf

    def ensure(self, keys) -> None:
        for k in keys:
            self.informer(k)

    def get(self, key: Key, namespace: str, name: str) -> dict | None:
        return self.informer(key).items.get((namespace or "", name))

    def list(self, key: Key, namespace: str | None = None) -> tuple[list[dict], str]:
        inf = self.informer(key)
        objs = [o for (ns, _), o in list(inf.items.items()) if not namespace or ns == namespace]
        return objs, inf.rv

    def watch(self, key: Key | None = None, namespace: str | None = None) -> Watcher:
        w = Watcher(self, key, namespace)
        with self._lock:
            self._watchers.append(w)
        return w

    def _unwatch(self, w: Watcher) -> None:
        with self._lock:
            if w in self._watchers:
                self._watchers.remove(w)

    def _fire(self, ev: Event) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for w in watchers:
            if w.wants(ev):
                w.queue.put(ev)

    def close(self) -> None:
        self.stopping.set()
        with self._lock:
            watchers = list(self._watchers)
        for w in watchers:
            w.close()

    def wait_for(self, key: Key, ns: str, name: str, pred, timeout: float = 5.0) -> dict | None:
        """Until the cached object satisfies `pred` (read-your-writes for a component that just wrote)."""
        end = time.monotonic() + timeout
        while True:
            o = self.get(key, ns, name)
            if pred(o) or time.monotonic() >= end:
                return o
            time.sleep(0.02)
