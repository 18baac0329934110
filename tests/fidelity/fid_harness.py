"""The differential harness: run one scenario against both servers, normalize what legitimately varies, compare.

A scenario is a function `fn(s: Side)`. It sends requests through `s` (`s.req`, `s.watch`, `s.wait`, ...), which
records every response as a step of the side's trace; `s.record(label, value)` records a derived value (JWT
claims, the outcome of a poll). The two traces are normalized (`normalize`) and compared field by field
(`compare`), giving a list of `Diff(path, emulator, real)`; `classify` sorts them into accepted and wrong with
the registries of `registry.py`.

What normalization replaces, and only that: uids (by order of first appearance, so references between objects
are still compared), RFC 3339 timestamps, resourceVersions, continue tokens (opaque by contract; the next page is
compared), the random suffix of a generateName, JWTs (replaced by their claims, with iat/nbf/exp replaced),
certificate data and the server's own address. Response headers other than Content-Type are not compared.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import http.client
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

MISSING = "<missing>"
JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID_IN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_TOO_OLD = re.compile(r"too old resource version: (\d+) \((\d+)\)")
_RV_IN_MSG = re.compile(r"(resourceVersion|resource version)[:=] ?\"?\d+\"?")
_RV_IN_RECORD = re.compile(r"ResourceVersion in record \(\d+\)")
# a Table's "date" column is an age rendered at the moment of the request (HumanDuration: 0s, 95s, 3m2s, 2d5h, ...)
_AGE = re.compile(r"^(\d+[smhdy])+$|^<invalid>$")


class Side:
    """One server as a scenario sees it: requests recorded into `trace`."""

    def __init__(self, name: str, handle, ns: str, extra: dict | None = None):
        self.name = name
        self.h = handle
        self.ns = ns
        self.trace: list[tuple[str, Any]] = []
        self.extra = extra or {}
        self.vars: dict[str, Any] = {}

    @property
    def is_real(self) -> bool:
        return self.name == "real"

    # -- requests --
    def req(self, method: str, path: str, body: Any = None, *, ctype: str = JSON, accept: str = JSON,
            token: str | None = None, label: str | None = None, record: bool = True, timeout: float = 30,
            headers: bool = False, pick: tuple = (), others: tuple = ()) -> tuple[int, Any]:
        """Send a request; record its status and body (only the `pick` fields of an object that is not a Status:
        e.g. ("spec",) where controllers race with the response for the status; `others`: managers whose
        managedFields entries are left out, for the same reason)."""
        data = body if body is None or isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        status, hdrs, raw = self.h.request(method, path, data, content_type=ctype, accept=accept, token=token,
                                           timeout=timeout)
        parsed = parse_body(raw)
        if record:
            shown = parsed
            if pick and isinstance(parsed, dict) and parsed.get("kind") != "Status":
                shown = {p: _get(parsed, p) for p in pick}
                if others and isinstance(shown.get("metadata.managedFields"), list):
                    shown["metadata.managedFields"] = [e for e in shown["metadata.managedFields"]
                                                       if e.get("manager") not in others]
            step: dict[str, Any] = {"status": status, "body": shown}
            if headers:
                step["contentType"] = content_type(hdrs)
            self.record(label or f"{method} {path}", step)
        return status, parsed

    def get(self, path: str, **kw) -> tuple[int, Any]:
        return self.req("GET", path, **kw)

    def post(self, path: str, body: Any, **kw) -> tuple[int, Any]:
        return self.req("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw) -> tuple[int, Any]:
        return self.req("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, ctype: str, **kw) -> tuple[int, Any]:
        return self.req("PATCH", path, body, ctype=ctype, **kw)

    def apply(self, path: str, body: Any, manager: str = "fid", force: bool = False, extra: str = "", **kw):
        q = f"?fieldManager={manager}" + ("&force=true" if force else "") + extra
        return self.req("PATCH", path + q, body, ctype=APPLY, **kw)

    def delete(self, path: str, body: Any = None, **kw) -> tuple[int, Any]:
        return self.req("DELETE", path, body, **kw)

    def record(self, label: str, value: Any) -> None:
        self.trace.append((f"{len(self.trace):02d} {label}", value))

    # -- polling --
    def wait(self, path: str, until, label: str | None = None, timeout: float = 45, record: bool = True):
        """GET `path` until `until(status, body)` holds (or `timeout`); record the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.req("GET", path, record=False)
            if until(status, body) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if record:
            self.record(label or f"wait GET {path}", {"status": status, "body": body,
                                                      "condition": bool(until(status, body))})
        return status, body

    # -- watch --
    def watch(self, path: str, count: int, timeout: float = 8, label: str | None = None, record: bool = True,
              stop=None) -> list[dict]:
        """Open a watch, read until `count` events (or `stop(event)` is true, or `timeout`); record them.
        Also records the HTTP status; a non-200 answer is recorded with its body."""
        u = urllib.parse.urlsplit(self.h.server)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.h._ssl, timeout=timeout)
        events: list[dict] = []
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.h.token}", "Accept": JSON})
            resp = conn.getresponse()
            if resp.status != 200:
                out = {"status": resp.status, "body": parse_body(resp.read())}
                if record:
                    self.record(label or f"WATCH {path}", out)
                return []
            deadline = time.monotonic() + timeout
            buf = b""
            while len(events) < count and time.monotonic() < deadline:
                try:
                    chunk = resp.read1(65536)
                except (TimeoutError, OSError):
                    break
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf and len(events) < count:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        ev = json.loads(line)
                        events.append(ev)
                        if stop and stop(ev):
                            count = len(events)
        finally:
            conn.close()
        if record:
            self.record(label or f"WATCH {path}", {"status": 200, "events": events})
        return events


def parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()


def content_type(headers: dict) -> str:
    for k, v in headers.items():
        if k.lower() == "content-type":
            return v
    return MISSING


# -- normalization ------------------------------------------------------------------------------------------------
def _jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for k in ("iat", "nbf", "exp"):
        if isinstance(claims.get(k), (int, float)):
            claims[k] = "<epoch>"
    if "exp" in claims and "iat" in claims:
        pass
    return {"<jwt claims>": claims}


class Normalizer:
    def __init__(self, server: str):
        self.uids: dict[str, str] = {}
        self.server = server

    def uid(self, value: str) -> str:
        return self.uids.setdefault(value, f"<uid{len(self.uids) + 1}>")

    def string(self, key: str, value: str) -> Any:
        if _UUID.match(value):
            return self.uid(value)
        if _TIME.match(value):
            return "<time>"
        if _JWT.match(value):
            with contextlib.suppress(ValueError, IndexError):
                return self.walk(_jwt_claims(value))
        if key in ("resourceVersion", "continue") and value:
            return f"<{key}>"
        if (key in ("caBundle", "certificate-authority-data", "client-certificate-data") and value) or \
                value.startswith("-----BEGIN CERTIFICATE-----"):
            return "<cert>"  # each cluster has its own CA
        value = _TOO_OLD.sub("too old resource version: <rv> (<rv>)", value)
        value = _UUID_IN.sub(lambda m: self.uid(m.group(0)), value)
        value = _RV_IN_MSG.sub(lambda m: m.group(1) + ": <rv>", value)
        value = _RV_IN_RECORD.sub("ResourceVersion in record (<rv>)", value)
        return value.replace(self.server, "<server>").replace(self.server.split("://", 1)[-1], "<server>")

    def walk(self, node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            # keys too: managedFields name owner references by uid (k:{"uid":"..."})
            # (sorted: uids are numbered in an order that does not depend on each server's key order)
            out = {_UUID_IN.sub(lambda m: self.uid(m.group(0)), k): self.walk(v, k) for k, v in sorted(node.items())}
            meta = out.get("metadata") if isinstance(out.get("metadata"), dict) else None
            if meta and isinstance(meta.get("generateName"), str) and isinstance(meta.get("name"), str):
                gen, name = meta["generateName"], meta["name"]
                if name.startswith(gen) and len(name) == len(gen) + 5:
                    meta["name"] = gen + "<random>"
            if out.get("kind") == "Table":
                _ages(out)
            return out
        if isinstance(node, list):
            out = [self.walk(v, key) for v in node]
            if key.endswith("managedFields") and all(isinstance(e, dict) for e in out):
                # both servers sort entries by (operation, time in seconds, manager, ...): entries written within
                # the same test fall on either side of a second boundary, so only "no time" sorts apart
                out.sort(key=lambda e: (str(e.get("operation")), "time" in e, str(e.get("manager")),
                                        str(e.get("subresource", "")), str(e.get("apiVersion"))))
            return out
        if isinstance(node, str):
            return self.string(key, node)
        return node


def _ages(table: dict) -> None:
    """An age cell is a timestamp seen from the clock at the moment of the request: "<age>" as a time is "<time>"
    (two servers answer a second apart). Only a well-formed duration, in a built-in printer's "Age" column
    (type string, no format) or a custom resource's column of type "date"."""
    columns = table.get("columnDefinitions")
    if not isinstance(columns, list):
        return
    dates = [i for i, c in enumerate(columns)
             if isinstance(c, dict) and (c.get("name") == "Age" or c.get("type") == "date")]
    for row in table.get("rows") or []:
        cells = row.get("cells") if isinstance(row, dict) else None
        for i in dates:
            if isinstance(cells, list) and i < len(cells) and isinstance(cells[i], str) and _AGE.match(cells[i]):
                cells[i] = "<age>"


_LABEL_RV = re.compile(r"(resourceVersion|continue)=[^&\s]+")


def normalize(trace: list[tuple[str, Any]], server: str, generated: dict[str, str] | None = None) -> dict:
    n = Normalizer(server)
    out = {}
    for raw_label, raw in trace:
        label = _LABEL_RV.sub(lambda m: f"{m.group(1)}=<{m.group(1)}>", raw_label)
        value = json.loads(_replace_all(json.dumps(raw), generated)) if generated else raw
        out[label] = n.walk(value)
    return out


def _replace_all(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


# -- comparison ---------------------------------------------------------------------------------------------------
@dataclass
class Diff:
    path: str
    emulator: Any
    real: Any
    verdict: str = "wrong"  # or "accepted"
    reason: str = ""

    def short(self, width: int = 160) -> str:
        def fmt(v):
            s = v if v == MISSING else json.dumps(v, sort_keys=True)
            return s if len(s) <= width else s[: width - 3] + "..."
        return f"{self.path}: emulator={fmt(self.emulator)} real={fmt(self.real)}"


_KEYS = (("resource",), ("subresource",), ("name",), ("type",), ("manager", "operation", "subresource"),
         ("groupVersion",), ("version",),
         ("metadata.name",), ("object.metadata.name", "type"), ("key",), ("containerPort", "protocol"), ("op", "path"))


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _keyfn(a: list, b: list):
    """A key that identifies each element of both lists uniquely (lists of named things), or None."""
    if not a or not b or not all(isinstance(x, dict) for x in a + b):
        return None
    for fields in _KEYS:
        def key(x, fields=fields):
            return "|".join(str(_get(x, f)) for f in fields)
        ka, kb = [key(x) for x in a], [key(x) for x in b]
        if all(_get(x, fields[0]) is not None for x in a + b) and len(set(ka)) == len(ka) and \
                len(set(kb)) == len(kb):
            return key
    return None


def compare(emu: Any, real: Any, path: str = "", same: list | None = None) -> list[Diff]:
    """Differences between the normalized emulator and real values; `same` (a one-element list) counts the equal
    leaves."""
    same = same if same is not None else [0]
    if isinstance(emu, dict) and isinstance(real, dict):
        out = []
        if not emu and not real:
            same[0] += 1
        for k in list(emu) + [k for k in real if k not in emu]:
            out += compare(emu.get(k, MISSING), real.get(k, MISSING), f"{path}.{k}" if path else k, same)
        return out
    if isinstance(emu, list) and isinstance(real, list):
        key = _keyfn(emu, real)
        if key is None:
            if len(emu) != len(real) and all(not isinstance(x, (dict, list)) for x in emu + real):
                return [Diff(path, emu, real)]
            if not emu and not real:
                same[0] += 1
            out = []
            for i in range(max(len(emu), len(real))):
                out += compare(emu[i] if i < len(emu) else MISSING, real[i] if i < len(real) else MISSING,
                               f"{path}[{i}]", same)
            return out
        ea, ra = {key(x): x for x in emu}, {key(x): x for x in real}
        out = []
        for k in list(ea) + [k for k in ra if k not in ea]:
            out += compare(ea.get(k, MISSING), ra.get(k, MISSING), f"{path}[{k}]", same)
        common_e = [k for k in ea if k in ra]
        common_r = [k for k in ra if k in ea]
        if common_e != common_r:
            out.append(Diff(f"{path}<order>", common_e, common_r))
        return out
    if emu != real or type(emu) is not type(real):
        return [Diff(path, emu, real)]
    same[0] += 1
    return []


# -- classification -----------------------------------------------------------------------------------------------
@dataclass
class Accepted:
    scenario: str  # fnmatch pattern on the scenario id
    path: str      # fnmatch pattern on the difference's path
    reason: str
    only_missing: bool = False  # only where the emulator lacks the entry


@dataclass
class Outcome:
    scenario: str
    same: int
    diffs: list[Diff] = field(default_factory=list)

    @property
    def accepted(self) -> list[Diff]:
        return [d for d in self.diffs if d.verdict == "accepted"]

    @property
    def wrong(self) -> list[Diff]:
        return [d for d in self.diffs if d.verdict == "wrong"]


def count_leaves(node: Any) -> int:
    if isinstance(node, dict):
        return sum(count_leaves(v) for v in node.values()) or 1
    if isinstance(node, list):
        return sum(count_leaves(v) for v in node) or 1
    return 1


def classify(scenario: str, diffs: list[Diff], accepted: list[Accepted], same: int) -> Outcome:
    for d in diffs:
        for a in accepted:
            if a.only_missing and d.emulator != MISSING:
                continue
            if fnmatch.fnmatchcase(scenario, a.scenario) and fnmatch.fnmatchcase(d.path, a.path):
                d.verdict, d.reason = "accepted", a.reason
                break
    return Outcome(scenario, same, diffs)


# -- the scenario registry ----------------------------------------------------------------------------------------
@dataclass
class Scenario:
    id: str
    fn: Any
    area: str
    namespace: bool = True
    needs: tuple = ()  # session resources the scenario uses, e.g. ("crds",)


SCENARIOS: dict[str, Scenario] = {}


def scenario(area: str, *, namespace: bool = True, needs: tuple = (), name: str | None = None):
    def register(fn):
        sid = f"{area}/{name or fn.__name__}"
        assert sid not in SCENARIOS, sid
        SCENARIOS[sid] = Scenario(sid, fn, area, namespace, needs)
        return fn
    return register
