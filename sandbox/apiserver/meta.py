"""Small helpers on object metadata: timestamps, uids, names, generation, no-op detection."""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
import uuid

from .errors import invalid

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"
DNS_LABEL_KINDS = {"Namespace", "Service"}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_ts(t: float) -> str:
    """A Unix time as metav1.Time (RFC 3339 UTC, whole seconds)."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> dt.datetime | None:
    """RFC 3339 UTC time (metav1.Time) or with microseconds (metav1.MicroTime)."""
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return dt.datetime.strptime(s, fmt).replace(tzinfo=dt.UTC)
        except (TypeError, ValueError):
            continue
    return None


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    return prefix + "".join(random.choice(_GEN_CHARS) for _ in range(5))  # noqa: S311 - names, not secrets


def check_name(kind: str, group: str, name: str) -> None:
    if group == "rbac.authorization.k8s.io" or kind in ("ClusterTrustBundle", "APIService"):  # path segment names
        bad = name in (".", "..") or "/" in name or "%" in name
        if bad:
            raise invalid(kind, group, name, [{"reason": "FieldValueInvalid", "field": "metadata.name",
                                               "message": f'Invalid value: "{name}": may not contain \'/\' or '
                                                          "'%' and may not be '.' or '..'"}])
        return
    if kind in DNS_LABEL_KINDS:
        ok, what, rx = (len(name) <= 63 and LABEL.fullmatch(name), "a lowercase RFC 1123 label must consist of "
                        "lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
                        "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')", LABEL)
    else:
        ok, what, rx = (len(name) <= 253 and SUBDOMAIN.fullmatch(name), "a lowercase RFC 1123 subdomain must "
                        "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
                        "alphanumeric character (e.g. 'example.com', regex used for validation is "
                        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", SUBDOMAIN)
    del rx
    if not ok:
        raise invalid(kind, group, name, [{"reason": "FieldValueInvalid", "field": "metadata.name",
                                           "message": f'Invalid value: "{name}": {what}'}])


def spec_part(obj: dict) -> dict:
    """Everything that counts for `generation`: the object outside metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _strip_times(managed: list | None) -> list:
    return [{k: v for k, v in e.items() if k != "time"} for e in managed or []]


def same_object(a: dict, b: dict) -> bool:
    """True when a write would not change anything (ignoring resourceVersion and managedFields times)."""
    ma, mb = dict(a.get("metadata", {})), dict(b.get("metadata", {}))
    for m in (ma, mb):
        m.pop("resourceVersion", None)
        m["managedFields"] = _strip_times(m.get("managedFields"))
    return ma == mb and {k: v for k, v in a.items() if k != "metadata"} == \
        {k: v for k, v in b.items() if k != "metadata"}


def deep(obj):
    return copy.deepcopy(obj)


def human_age(ts: str | None) -> str:
    """kubectl-style short durations: 45s, 3m20s, 15m, 5h10m, 20h, 3d4h, 40d, 2y10d."""
    t = parse_time(ts or "")
    if t is None:
        return "<unknown>"
    secs = max(0, int((dt.datetime.now(dt.UTC) - t).total_seconds()))
    mins, hours, days = secs // 60, secs // 3600, secs // 86400
    steps = ((secs < 120, f"{secs}s"), (mins < 10, f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"),
             (hours < 3, f"{mins}m"), (hours < 8, f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"),
             (hours < 48, f"{hours}h"), (days < 8, f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"),
             (days < 730, f"{days}d"))
    return next((text for cond, text in steps if cond), f"{days // 365}y{days % 365}d")
