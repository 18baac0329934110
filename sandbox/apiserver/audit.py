"""Audit log of every request: kept in memory for /sandbox/v1/audit and appended to DIR/logs/audit.jsonl."""

from __future__ import annotations

import json
import threading
import time
from collections import deque

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Audit:
    def __init__(self, path: str | None = None, keep: int = 200000):
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=keep)
        self.seq = 0
        self._file = open(path, "a", buffering=1, encoding="utf-8") if path else None  # noqa: SIM115

    def record(self, **entry) -> dict:
        with self._lock:
            self.seq += 1
            entry = {"seq": self.seq, "ts": round(time.time(), 3), **entry}
            self._entries.append(entry)
            if self._file:
                self._file.write(json.dumps(entry) + "\n")
            return entry

    def since(self, seq: int) -> tuple[list[dict], int]:
        with self._lock:
            return [e for e in self._entries if e["seq"] > seq], self.seq

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None
