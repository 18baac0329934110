"""Watch streams: history replay or synthetic ADDED events, selector transitions, bookmarks, timeouts."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..machinery.selectors import (
    FieldSelector,
    LabelSelector,
    check_field_selector,
    parse_field_selector,
    parse_label_selector,
)
from .errors import ApiError, bad_request, status
from .kinds import Kind
from .store import Event, Store, TooOld, Watcher

BOOKMARK_EVERY = 1.0
DEFAULT_TIMEOUT = 1800.0


def _line(ev_type: str, obj: dict) -> bytes:
    return (json.dumps({"type": ev_type, "object": obj}, separators=(",", ":")) + "\n").encode()


@dataclass
class Params:
    labels: LabelSelector
    fields: FieldSelector
    timeout: float
    since: int | None         # None: start with the current state (synthetic ADDED events)
    bookmarks: bool
    send_initial: bool

    @classmethod
    def parse(cls, kind: Kind, query: dict) -> Params:
        try:
            labels = parse_label_selector(query.get("labelSelector", ""))
            fields = parse_field_selector(query.get("fieldSelector", ""))
            check_field_selector(kind.group, kind.plural, fields, kind.kind)
        except ValueError as e:
            raise bad_request(str(e)) from e
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        except ValueError as e:
            raise bad_request("invalid timeoutSeconds") from e
        rv = query.get("resourceVersion", "")
        if rv and not rv.isdigit():  # kube-apiserver answers 500 here (the watch cache's parse error)
            raise ApiError(500, f'resourceVersion: Invalid value: "{rv}": strconv.ParseUint: parsing "{rv}": '
                           "invalid syntax", "")
        since = int(rv) if rv not in ("", "0") else None
        if query.get("sendInitialEvents") == "true" and query.get("resourceVersionMatch") != "NotOlderThan":
            why = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            raise ApiError(422, f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: {why}',
                           "Invalid", {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
                               {"reason": "FieldValueForbidden", "message": f"Forbidden: {why}",
                                "field": "resourceVersionMatch"}]})
        return cls(labels, fields, timeout, since, query.get("allowWatchBookmarks") in ("true", "1"),
                   query.get("sendInitialEvents") == "true")

    def matches(self, obj: dict | None) -> bool:
        return obj is not None and self.labels.matches(obj.get("metadata", {}).get("labels") or {}) and \
            self.fields.matches(obj)


class WatchStream:
    """Iterator of newline-delimited JSON watch events for one client."""

    def __init__(self, store: Store, kind: Kind, namespace: str | None, p: Params, *,
                 render: Callable[[dict], dict], stopping: threading.Event):
        self.store, self.kind, self.p, self.render, self.stopping = store, kind, p, render, stopping
        self.initial: list[dict] = []
        self.error: dict | None = None
        self.watcher: Watcher | None = None
        ns = namespace if kind.namespaced else None
        with store.lock:  # subscribe and snapshot atomically: no event is lost or doubled
            try:
                if p.since is None or p.send_initial:
                    self.initial, self.start_rv = store.list(kind.key, ns)
                    self.watcher = store.watch(kind.key, ns, None)
                else:
                    self.watcher = store.watch(kind.key, ns, p.since)
                    self.start_rv = p.since
            except TooOld as e:
                self.error = status(410, f"too old resource version: {e.requested} ({e.oldest})", "Expired")

    def _view(self, obj: dict | None) -> dict | None:
        """The object as this API version shows it (selectors use its field names)."""
        conv = self.kind.from_storage
        return conv(obj) if conv is not None and obj is not None else obj

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: dict = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return _line("BOOKMARK", {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": meta})

    def _translate(self, ev: Event) -> str | None:
        """The event type this client sees, given its selectors (objects move in and out of a selection)."""
        new_ok = ev.type != "DELETED" and self.p.matches(self._view(ev.obj))
        old_ok = ev.type != "ADDED" and self.p.matches(self._view(ev.old))
        if ev.type == "DELETED":
            return "DELETED" if old_ok else None
        if new_ok:
            return "MODIFIED" if old_ok else "ADDED"
        return "DELETED" if old_ok else None

    def __iter__(self) -> Iterator[bytes]:
        if self.error is not None:
            yield _line("ERROR", self.error)
            return
        try:
            for obj in self.initial:
                if self.p.matches(self._view(obj)):
                    yield _line("ADDED", self.render(obj))
            if self.p.send_initial and self.p.bookmarks:
                yield self._bookmark(self.start_rv, initial_end=True)
            yield from self._live()
        finally:
            self.close()

    def close(self) -> None:
        if self.watcher is not None and not self.watcher.closed:
            self.watcher.close()

    def _live(self) -> Iterator[bytes]:
        deadline = time.monotonic() + self.p.timeout
        next_bookmark = time.monotonic() + BOOKMARK_EVERY
        while not self.stopping.is_set() and not self.watcher.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ev = self.watcher.get(timeout=min(left, 0.5))
            if ev is None:
                if self.p.bookmarks and time.monotonic() >= next_bookmark:
                    next_bookmark = time.monotonic() + BOOKMARK_EVERY
                    yield self._bookmark(self.store.rv)
                else:
                    yield b""  # idle tick: lets the HTTP layer notice a client that went away
                continue
            seen = self._translate(ev)
            if seen == "DELETED" and ev.type != "DELETED" and ev.old is not None:
                # it left the selection: the previous content at the event's resourceVersion (as the watch cache)
                old = copy.deepcopy(ev.old)
                old["metadata"]["resourceVersion"] = ev.obj["metadata"]["resourceVersion"]
                yield _line(seen, self.render(old))
            elif seen:
                yield _line(seen, self.render(ev.obj))


def prepare(store: Store, kind: Kind, namespace: str | None, query: dict, *, render: Callable[[dict], dict],
            stopping: threading.Event) -> WatchStream:
    """Validate parameters and subscribe now (errors raise before the stream starts); returns the stream."""
    return WatchStream(store, kind, namespace, Params.parse(kind, query), render=render, stopping=stopping)
