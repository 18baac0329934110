"""ControllerRevisions of DaemonSets and StatefulSets, as pkg/controller/history and the two controllers keep them:
one revision per distinct pod template, named `<owner>-<hash>`, `data` the strategic merge patch that restores the
template (`{"spec": {"template": {..., "$patch": "replace"}}}`, getPatch), `revision` numbered from 1, a template
that comes back (a `rollout undo`) renumbering its old revision to the newest instead of adding one, and the oldest
revisions no live pod or status uses pruned down to `spec.revisionHistoryLimit`.

The hash is history.HashControllerRevision (FNV-1 of the patch's JSON and the collision count), the StatefulSet's
own; the real DaemonSet controller hashes the Go template struct (controller.ComputeHash) instead, which Python
cannot reproduce, so a DaemonSet's revision names differ from the real ones (same shape)."""

from __future__ import annotations

import copy
import json

from .apps import safe_encode
from .base import controller_ref, owned_by

REVISIONS = ("apps", "controllerrevisions")


def patch_data(owner: dict) -> dict:
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def _go_json(v) -> bytes:
    """encoding/json's bytes for a map[string]interface{}: sorted keys, compact, <>& escaped."""
    s = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)
    return s.encode()


def revision_hash(data: dict, collisions: int = 0) -> str:
    h = 0x811C9DC5
    for b in _go_json(data) + str(collisions).encode():
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= b
    return safe_encode(str(h))


def owned(client, owner: dict) -> list[dict]:
    ns, uid = owner["metadata"]["namespace"], owner["metadata"]["uid"]
    return [r for r in client.list(REVISIONS, ns) if owned_by(r, uid)]


def sync(client, owner: dict, hash_label: str) -> tuple[dict, list[dict]]:
    """The revision of `owner`'s current template (created, or renumbered to the newest) and all its revisions."""
    ns, name = owner["metadata"]["namespace"], owner["metadata"]["name"]
    collisions = int((owner.get("status") or {}).get("collisionCount") or 0)
    data = patch_data(owner)
    revs = owned(client, owner)
    top = max((int(r.get("revision") or 0) for r in revs), default=0)
    cur = next((r for r in revs if r.get("data") == data), None)
    if cur is None:
        h = revision_hash(data, collisions)
        labels = dict((((owner["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}),
                      **{hash_label: h})
        body = {"metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": labels,
                             "ownerReferences": [controller_ref(owner)]}, "data": data, "revision": top + 1}
        if owner["metadata"].get("annotations"):
            body["metadata"]["annotations"] = dict(owner["metadata"]["annotations"])
        cur = client.create(REVISIONS, ns, body)
        revs.append(cur)
    elif int(cur.get("revision") or 0) < top:
        def renumber(o):
            o["revision"] = top + 1
        cur = client.mutate(REVISIONS, ns, cur["metadata"]["name"], renumber) or cur
        revs = [cur if r["metadata"]["uid"] == cur["metadata"]["uid"] else r for r in revs]
    return cur, revs


def prune(client, owner: dict, revs: list[dict], live: set[str]) -> None:
    """Deletes the oldest revisions not in `live` (names) beyond spec.revisionHistoryLimit."""
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10))
    old = sorted((r for r in revs if r["metadata"]["name"] not in live), key=lambda r: int(r.get("revision") or 0))
    for r in old[:max(0, len(old) - limit)]:
        client.delete(REVISIONS, r["metadata"]["namespace"], r["metadata"]["name"], uid=r["metadata"]["uid"])
