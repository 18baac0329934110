"""URL parsing: which group/version/namespace/resource/name/subresource a request addresses."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote


@dataclass
class Target:
    group: str
    version: str
    namespace: str | None = None
    plural: str | None = None
    name: str | None = None
    sub: str = ""
    legacy_watch: bool = False
    proxy_path: str = ""  # the rest of the path after <name>/proxy (the proxy subresources)


def parse_resource_path(path: str) -> Target | None:
    """None when `path` is not under /api/v1 or /apis/<group>/<version>."""
    raw = path.strip("/").split("/")
    parts = [unquote(p) for p in raw]
    if parts[:1] == ["api"] and len(parts) >= 2:
        t, rest = Target("", parts[1]), parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        t, rest = Target(parts[1], parts[2]), parts[3:]
    else:
        return None
    if rest[:1] == ["watch"]:
        t.legacy_watch, rest = True, rest[1:]
    if not rest:
        return t
    if rest[0] == "namespaces" and len(rest) >= 3 and not (t.group == "" and rest[2] in ("status", "finalize")
                                                           and len(rest) == 3):
        t.namespace, rest = rest[1], rest[2:]
    t.plural = rest[0]
    if len(rest) >= 3 and rest[2] == "proxy" and rest[1]:
        # <name>/proxy/<anything>: the path after proxy is the backend's, kept as sent (with its trailing slash)
        t.name, t.sub = rest[1], "proxy"
        tail = raw[len(raw) - len(rest) + 3:]
        t.proxy_path = ("/" + "/".join(tail)) if tail else ""
        if tail and path.endswith("/") and not t.proxy_path.endswith("/"):
            t.proxy_path += "/"
        return t
    if len(rest) >= 2:
        t.name = rest[1]
    if len(rest) >= 3:
        t.sub = rest[2]
    if len(rest) > 3 or any(p == "" for p in rest):
        return Target(t.group, t.version, plural="\0invalid")
    return t
