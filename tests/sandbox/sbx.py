"""Helpers shared by the sandbox API server tests."""

from __future__ import annotations

import json
import os
import time

DATA = os.path.join(os.path.dirname(__file__), "data")
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
JSONPATCH = "application/json-patch+json"


def call(sandbox, method, path, obj=None, *, content_type="application/json", token=None, raw=None):
    """(status, parsed JSON body) of one request."""
    body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else None)
    code, _, data = sandbox.request(method, path, body, content_type=content_type, token=token)
    try:
        return code, json.loads(data) if data else None
    except ValueError:
        return code, data.decode(errors="replace")


def wait_for(fn, timeout=60.0, interval=0.1, what="condition"):
    """Call ``fn`` until it returns something true and return that; fail the test after ``timeout`` seconds,
    naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
