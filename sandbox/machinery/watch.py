"""A watch subscription as the emulator's store and the components' informer cache both hand it out: a queue of
events (anything with `key` and `obj`), filtered by kind and namespace, closed through its source's `_unwatch`."""

from __future__ import annotations

import queue
from typing import Any

Key = tuple[str, str]
Event = Any   # a NamedTuple with at least `type`, `key` and `obj` (the store's and the cache's)


class Watcher:
    def __init__(self, store, key: Key | None, namespace: str | None = None):
        self.store, self.key, self.namespace = store, key, namespace
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.closed = False

    def wants(self, ev: Event) -> bool:
        if self.key is not None and ev.key != self.key:
            return False
        return not self.namespace or ev.obj.get("metadata", {}).get("namespace") == self.namespace

    def get(self, timeout: float | None = None) -> Event | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed = True
        self.store._unwatch(self)
        self.queue.put(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
