# Copyright: mlops.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The last spec of a SeldonDeployment that was Available, kept on the object itself, and the way back to it.

The spec is an annotation of the SeldonDeployment (``LAST_AVAILABLE``), written by its own field manager after a
wait saw the object Available, so that it survives the task: a playbook interrupted during a failed update rolls
back on its next run. The main apply never sends the annotation, so it never removes it either.
"""

from __future__ import annotations

import json

#: the annotation that holds the last Available spec (compact JSON)
LAST_AVAILABLE = "mlops.k8s/last-available-spec"
#: the field manager that owns it (not the user's field_manager: their applies must not drop it)
FIELD_MANAGER = "mlops.k8s-rollback"
#: annotations share a 256 KiB budget per object; a spec above this is not kept (a warning says so)
MAX_BYTES = 128 * 1024


def encode(spec):
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def recorded(obj):
    """The spec in the annotation of ``obj``, or None (absent or not a JSON object)."""
    text = (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(LAST_AVAILABLE)
    if not text:
        return None
    try:
        spec = json.loads(text)
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def last_good(live, available):
    """What an update of ``live`` returns to if it fails: the live spec when the object is Available now (it serves),
    else the recorded one (None when there is neither: nothing known to have worked)."""
    if live is None:
        return None
    if available:
        return live.get("spec")
    return recorded(live)


def record(client, resource, obj, spec):
    """Keep ``spec`` as the last Available one on ``obj``. Returns None when nothing was written (already kept),
    the reason when it could not be kept, or "" when written."""
    text = encode(spec)
    if recorded(obj) is not None and encode(recorded(obj)) == text:
        return None
    if len(text.encode("utf-8")) > MAX_BYTES:
        return "the spec is %d bytes, above the %d kept in the %s annotation" % (len(text), MAX_BYTES, LAST_AVAILABLE)
    meta = obj["metadata"]
    body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "annotations": {LAST_AVAILABLE: text}}}
    client.apply(resource, body, field_manager=FIELD_MANAGER, force_conflicts=True)
    return ""


def restore_body(desired, spec):
    """The object to apply to roll back: the desired object's identity, labels and annotations with ``spec``."""
    out = {k: v for k, v in desired.items() if k != "spec"}
    out["spec"] = spec
    return out
