"""Helpers shared by the sandbox API server tests."""

from __future__ import annotations

import json
import os

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
