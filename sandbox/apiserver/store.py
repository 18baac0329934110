"""In-memory object store: one global resourceVersion counter, an event history window and watch fan-out.

This is also the internal API for in-process controllers: `store.watch(key=None)` yields every event,
`store.lock` serialises read-modify-write sequences.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import NamedTuple

from ..machinery.watch import Watcher

Key = tuple[str, str]  # (group, plural)


class Event(NamedTuple):
    type: str            # ADDED | MODIFIED | DELETED
    key: Key
    obj: dict            # never mutated after it is committed
    old: dict | None
    rv: int


class TooOld(Exception):
    def __init__(self, requested: int, oldest: int):
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested, self.oldest = requested, oldest


class Store:
    def __init__(self, history: int = 20000):
        self.lock = threading.RLock()
        self.rv = 0
        self.data: dict[Key, dict[tuple[str, str], dict]] = {}
        self.history: deque[Event] = deque(maxlen=history)
        self.compacted_rv = 0
        self._watchers: set[Watcher] = set()

    # -- reads (objects returned are shared: copy before mutating) --
    def get(self, key: Key, namespace: str, name: str) -> dict | None:
        return self.data.get(key, {}).get((namespace or "", name))

    def list(self, key: Key, namespace: str | None = None) -> tuple[list[dict], int]:
        with self.lock:
            items = self.data.get(key, {})
            objs = [o for (ns, _), o in items.items() if not namespace or ns == namespace]
            rv = self.rv
        objs.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return objs, rv

    def collections(self) -> list[Key]:
        with self.lock:
            return list(self.data)

    # -- writes --
    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, key: Key, obj: dict) -> dict:
        """Store `obj` (ADDED or MODIFIED) with a fresh resourceVersion; returns it."""
        with self.lock:
            meta = obj["metadata"]
            ident = (meta.get("namespace", ""), meta["name"])
            old = self.data.get(key, {}).get(ident)
            rv = self.next_rv()
            meta["resourceVersion"] = str(rv)
            self.data.setdefault(key, {})[ident] = obj
            self._emit(Event("MODIFIED" if old is not None else "ADDED", key, obj, old, rv))
            return obj

    def remove(self, key: Key, namespace: str, name: str) -> dict | None:
        with self.lock:
            old = self.data.get(key, {}).pop((namespace or "", name), None)
            if old is None:
                return None
            rv = self.next_rv()
            final = dict(old)
            final["metadata"] = dict(old["metadata"], resourceVersion=str(rv))
            self._emit(Event("DELETED", key, final, old, rv))
            return final

    def drop_collection(self, key: Key) -> None:
        with self.lock:
            self.data.pop(key, None)

    def _emit(self, ev: Event) -> None:
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(ev)
        for w in list(self._watchers):
            if w.wants(ev):
                w.queue.put(ev)

    # -- watch --
    def watch(self, key: Key | None, namespace: str | None = None, since: int | None = None) -> Watcher:
        """Events after resourceVersion `since` (history replay), or only future events when None."""
        with self.lock:
            if since is not None and since < self.compacted_rv:
                raise TooOld(since, self.compacted_rv + 1)
            w = Watcher(self, key, namespace)
            if since is not None:
                for ev in self.history:
                    if ev.rv > since and w.wants(ev):
                        w.queue.put(ev)
            self._watchers.add(w)
            return w

    def _unwatch(self, w: Watcher) -> None:
        with self.lock:
            self._watchers.discard(w)

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def watchers_by_namespace(self) -> dict[str, int]:
        """Open watches per namespace ("" for those of every namespace), for tests that share a server."""
        counts: dict[str, int] = {}
        with self.lock:
            for w in self._watchers:
                counts[w.namespace or ""] = counts.get(w.namespace or "", 0) + 1
        return counts

    # -- persistence --
    def dump(self) -> str:
        with self.lock:
            return json.dumps({"rv": self.rv, "objects": [
                {"key": list(k), "obj": o} for k, coll in self.data.items() for o in coll.values()]})

    def load(self, text: str) -> None:
        doc = json.loads(text)
        with self.lock:
            self.rv = int(doc["rv"])
            self.compacted_rv = self.rv
            for item in doc["objects"]:
                o = item["obj"]
                self.data.setdefault(tuple(item["key"]), {})[(o["metadata"].get("namespace", ""),
                                                               o["metadata"]["name"])] = o
