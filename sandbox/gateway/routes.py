"""Ambassador/Emissary routing semantics: Mapping resources (getambassador.io v2/v3alpha1) and the
`getambassador.io/config` annotation on Services -> an ordered route table."""

from __future__ import annotations

import logging
import random
import re
import threading
from dataclasses import dataclass, field

import yaml

log = logging.getLogger("sandbox.gateway")
MAPPING_KEYS = (("getambassador.io", "mappings"), ("x.getambassador.io", "mappings"))
SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")
CONFIG_ANN = "getambassador.io/config"
DEFAULT_TIMEOUT_MS = 3000


@dataclass
class Mapping:
    name: str
    namespace: str
    prefix: str
    service: str
    rewrite: str | None = "/"
    prefix_regex: bool = False
    weight: int | None = None
    shadow: bool = False
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    headers: dict = field(default_factory=dict)
    host: str = ""
    method: str = ""
    precedence: int = 0
    add_request_headers: dict = field(default_factory=dict)
    add_response_headers: dict = field(default_factory=dict)
    source: str = ""

    @property
    def group(self) -> tuple:
        return (self.prefix, self.prefix_regex, tuple(sorted(self.headers.items())), self.host, self.method)

    def matches(self, path: str, method: str, headers: dict, host: str) -> bool:  # noqa: PLR0911 - one return per Mapping match rule (prefix or regex, method, host, headers)
        if self.prefix_regex:
            try:
                if not re.fullmatch(self.prefix, path):
                    return False
            except re.error:
                return False
        elif not path.startswith(self.prefix):
            return False
        if self.method and method.upper() != self.method.upper():
            return False
        if self.host and self.host != "*" and host.split(":", maxsplit=1)[0].lower() != self.host.split(":")[0].lower():
            return False
        for k, v in self.headers.items():
            got = headers.get(k.lower())
            if got is None or (v is not True and str(v) != got):
                return False
        return True

    def rewritten(self, path: str) -> str:
        if self.rewrite is None or self.rewrite == "" or self.prefix_regex:
            return path
        out = self.rewrite + path[len(self.prefix):]
        while out.startswith("//"):
            out = out[1:]
        return out or "/"


def _ids_ok(spec: dict) -> bool:
    ids = spec.get("ambassador_id")
    if ids is None:
        return True
    ids = [ids] if isinstance(ids, str) else list(ids)
    return "default" in ids or "_automatic_" in ids


def _headers_of(v) -> dict:
    if not isinstance(v, dict):
        return {}
    out = {}
    for k, val in v.items():
        out[str(k)] = val.get("value") if isinstance(val, dict) else val
    return out


def mapping_from_spec(spec: dict, name: str, namespace: str, source: str) -> Mapping | None:
    if not isinstance(spec, dict) or not spec.get("prefix") or not spec.get("service") or not _ids_ok(spec):
        return None
    try:
        weight = int(spec["weight"]) if spec.get("weight") is not None else None
        timeout = int(spec.get("timeout_ms", DEFAULT_TIMEOUT_MS) or 0)
        precedence = int(spec.get("precedence") or 0)
    except (TypeError, ValueError):
        return None
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict):
        headers = {}
    return Mapping(name=name, namespace=namespace, prefix=str(spec["prefix"]), service=str(spec["service"]),
                   rewrite=None if "rewrite" in spec and spec["rewrite"] is None else str(spec.get("rewrite", "/")),
                   prefix_regex=bool(spec.get("prefix_regex")), weight=weight, shadow=bool(spec.get("shadow")),
                   timeout_ms=timeout, headers={str(k): v for k, v in headers.items()},
                   host=str(spec.get("hostname") or spec.get("host") or ""), method=str(spec.get("method") or ""),
                   precedence=precedence, add_request_headers=_headers_of(spec.get("add_request_headers")),
                   add_response_headers=_headers_of(spec.get("add_response_headers")), source=source)


def collect(store) -> list[Mapping]:
    out: list[Mapping] = []
    for key in MAPPING_KEYS:
        for obj in store.list(key)[0]:
            m = obj["metadata"]
            mp = mapping_from_spec(obj.get("spec") or {}, m["name"], m.get("namespace", "default"),
                                   f"Mapping {m.get('namespace')}/{m['name']}")
            if mp is not None:
                out.append(mp)
    for svc in store.list(SERVICES)[0]:
        text = (svc["metadata"].get("annotations") or {}).get(CONFIG_ANN)
        if not text:
            continue
        ns = svc["metadata"].get("namespace", "default")
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            log.warning("bad %s annotation on service %s/%s: %s", CONFIG_ANN, ns, svc["metadata"]["name"], e)
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "Mapping":
                continue
            spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else doc
            mp = mapping_from_spec(spec, str(doc.get("name") or (doc.get("metadata") or {}).get("name") or ""),
                                   str(doc.get("namespace") or ns), f"Service {ns}/{svc['metadata']['name']}")
            if mp is not None:
                out.append(mp)
    return out


class RouteTable:
    def __init__(self, mappings: list[Mapping]):
        groups: dict[tuple, list[Mapping]] = {}
        for m in mappings:
            groups.setdefault(m.group, []).append(m)
        self.groups = sorted(groups.values(), key=lambda ms: (
            -max(m.precedence for m in ms), -(len(ms[0].headers) + bool(ms[0].host and ms[0].host != "*")
                                               + bool(ms[0].method)), -len(ms[0].prefix)))
        self.mappings = mappings
        self._lock = threading.Lock()
        self._current: dict[tuple, list[float]] = {}

    def match(self, path: str, method: str, headers: dict, host: str) -> tuple[Mapping | None, list[Mapping]]:
        """(the mapping chosen by weight, the shadow mappings to mirror to) or (None, [])."""
        for ms in self.groups:
            if not ms[0].matches(path, method, headers, host):
                continue
            primary = [m for m in ms if not m.shadow]
            shadows = [m for m in ms if m.shadow and (m.weight is None or random.random() * 100 < m.weight)]  # noqa: S311
            if not primary:
                continue
            return self._pick(ms[0].group, primary), shadows
        return None, []

    def _pick(self, group: tuple, ms: list[Mapping]) -> Mapping:
        """Weighted choice, spread evenly (smooth weighted round robin): exact shares over every 100 requests,
        so a 25% canary gets 25 of each 100 requests."""
        if len(ms) == 1:
            return ms[0]
        shares = weights(ms)
        total = sum(shares)
        if total <= 0:
            return ms[0]
        with self._lock:
            cur = self._current.get(group)
            if cur is None or len(cur) != len(ms):
                cur = self._current[group] = [0.0] * len(ms)
            for i, w in enumerate(shares):
                cur[i] += w
            best = max(range(len(ms)), key=lambda i: cur[i])
            cur[best] -= total
        return ms[best]


def weights(ms: list[Mapping]) -> list[float]:
    """Ambassador's rule: weighted Mappings get their weight, unweighted ones share what is left of 100."""
    unweighted = [m for m in ms if m.weight is None]
    used = sum(max(0, m.weight) for m in ms if m.weight is not None)
    rest = max(0, 100 - used)
    return [float(max(0, m.weight)) if m.weight is not None else rest / len(unweighted) for m in ms]
