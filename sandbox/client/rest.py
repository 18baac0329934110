"""HTTPS to a Kubernetes API server: requests with one keep-alive connection per thread, watch streams, and
discovery (which version, kind and scope serve a (group, plural)). Errors come back as `ApiError` with the
server's code, reason and message, as client-go's `StatusError` carries them."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from ..machinery.errors import ApiError

log = logging.getLogger("sandbox.client")
Key = tuple[str, str]


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    has_status: bool
    singular: str = ""
    short: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, ns: str = "", name: str = "", sub: str = "") -> str:
        return resource_path(self, ns, name, sub)


def resource_path(kind, ns: str = "", name: str = "", sub: str = "") -> str:
    """The URL path of a collection, an object or a subresource; `kind` has group, version, plural, namespaced."""
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced and ns:
        base += f"/namespaces/{quote(ns)}"
    base += f"/{kind.plural}"
    if name:
        base += f"/{quote(name)}"
    if sub:
        base += f"/{sub}"
    return base


@dataclass(frozen=True)
class Credentials:
    """How one identity authenticates: a bearer token or a client certificate (and, for an admin acting for a
    component, the user and groups it impersonates). `token_source`, when set, is asked before each request for
    the identity's own token (a ServiceAccount token from the TokenRequest API); while it has none, the static
    credentials (and impersonation) are used."""
    token: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    impersonate: str | None = None
    groups: tuple[str, ...] = ()
    token_source: Callable[[], str | None] | None = None


class Rest:
    def __init__(self, server: str, ca_file: str | None, creds: Credentials, *, user_agent: str = "sandbox",
                 timeout: float = 30.0):
        u = urlsplit(server)
        self.server, self.host, self.https = server, u.hostname or "127.0.0.1", u.scheme == "https"
        self.port = u.port or (443 if self.https else 80)
        self.ca_file, self.creds, self.timeout = ca_file, creds, timeout
        self.headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._ctx = None
        if self.https:
            self._ctx = ssl.create_default_context(cafile=ca_file)
            if creds.cert_file:
                self._ctx.load_cert_chain(creds.cert_file, creds.key_file)
        self._local = threading.local()

    def with_creds(self, creds: Credentials, user_agent: str) -> Rest:
        return Rest(self.server, self.ca_file, creds, user_agent=user_agent, timeout=self.timeout)

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _send(self, conn, method: str, url: str, data: bytes | None, content_type: str) -> None:
        conn.putrequest(method, url, skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        own = self.creds.token_source() if self.creds.token_source is not None else None
        if own:
            conn.putheader("Authorization", f"Bearer {own}")
        else:
            if self.creds.token:
                conn.putheader("Authorization", f"Bearer {self.creds.token}")
            if self.creds.impersonate:
                conn.putheader("Impersonate-User", self.creds.impersonate)
                for g in self.creds.groups:   # one header per group, as client-go sends them
                    conn.putheader("Impersonate-Group", g)
        if data is not None:
            conn.putheader("Content-Type", content_type)
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)

    @staticmethod
    def url(path: str, query: dict | None) -> str:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return path + ("?" + urlencode(q) if q else "")

    def request(self, method: str, path: str, body=None, *, query: dict | None = None,
                content_type: str = "application/json"):
        """One request; returns the decoded JSON body (None when empty). Retries once when a kept-alive
        connection turns out closed before the server answered."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        url = self.url(path, query)
        refused = stale = 0
        for _attempt in range(4):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._connect(self.timeout)
            try:
                self._send(conn, method, url, data, content_type)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                # a kept-alive connection the server had closed (EOF, reset, TLS close_notify): once more on a new one
                if reused and not stale:
                    stale += 1
                    continue
                raise ApiError(503, f"{method} {path}: {e}", "ServiceUnavailable") from e
            if resp.will_close:
                conn.close()
                self._local.conn = None
            if resp.status == 401 and refused < 2 and self._forget_token():
                # a token of an account deleted (and made again) since: a new one; twice, a moment apart, for a
                # token asked while the old account was still being deleted
                refused += 1
                time.sleep(0.5 * (refused - 1))
                continue
            return self._decode(resp.status, raw, method, path)
        raise AssertionError("unreachable")

    def _forget_token(self) -> bool:
        forget = getattr(self.creds.token_source, "invalidate", None)
        if forget is None:
            return False
        forget()
        return True

    @staticmethod
    def _decode(code: int, raw: bytes, method: str, path: str):
        try:
            out = json.loads(raw) if raw else None
        except ValueError:
            out = None
        if code >= 400:
            if isinstance(out, dict) and out.get("kind") == "Status":
                raise ApiError(code, out.get("message") or "", out.get("reason") or None, out.get("details"))
            raise ApiError(code, f"{method} {path}: {raw[:300].decode('utf-8', 'replace')}")
        return out if out is not None or not raw else raw.decode("utf-8", "replace")

    def stream(self, path: str, query: dict, timeout: float):
        """A watch: yields each decoded event until the server ends the stream or `timeout` passes without a
        byte. Its own connection, closed at the end."""
        conn = self._connect(timeout)
        try:
            self._send(conn, "GET", self.url(path, query), None, "")
            resp = conn.getresponse()
            if resp.status >= 400:
                self._decode(resp.status, resp.read(), "GET", path)
            while True:
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()


class Discovery:
    """(group, plural) -> Kind, from the server's discovery documents; refreshed on a miss (a CRD added since),
    at most once per `min_refresh` seconds."""

    def __init__(self, rest: Rest, min_refresh: float = 1.0):
        self.rest, self.min_refresh = rest, min_refresh
        self._kinds: dict[Key, Kind] = {}
        self._lock = threading.Lock()
        self._at = 0.0

    def kind(self, key: Key) -> Kind | None:
        k = self._kinds.get(key)
        if k is None:
            with self._lock:
                if key not in self._kinds and time.monotonic() - self._at >= self.min_refresh:
                    self._refresh()
            k = self._kinds.get(key)
        return k

    def by_kind(self, api_version: str, kind: str) -> Kind | None:
        """The resource of `kind` in exactly `api_version` (any served version, not only the preferred one)."""
        group, _, version = api_version.rpartition("/")
        found = [k for k in self._version(group, version) if k.kind == kind]
        return found[0] if found else None

    def by_name(self, name: str) -> Kind | None:
        """What kubectl accepts as a type: plural, singular, short name, each optionally `.group`."""
        name = name.lower()
        self.kind(("", ""))   # refresh when nothing is known yet
        for k in list(self._kinds.values()):
            names = (k.plural, k.singular, *k.short)
            if name in names or name in (f"{n}.{k.group}" for n in names if k.group):
                return k
        return None

    def _version(self, group: str, version: str) -> list[Kind]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            return self._parse(group, version, (self.rest.request("GET", path) or {}).get("resources") or [])
        except ApiError as e:
            if e.code == 404:
                return []
            raise

    @staticmethod
    def _parse(group: str, version: str, res: list[dict]) -> list[Kind]:
        subs = {r["name"] for r in res if "/" in r["name"]}
        return [Kind(group, version, r["name"], r["kind"], r["namespaced"], f"{r['name']}/status" in subs,
                     r.get("singularName") or r["kind"].lower(), tuple(r.get("shortNames") or ()))
                for r in res if "/" not in r["name"]]

    def _refresh(self) -> None:
        kinds: dict[Key, Kind] = {}
        versions = [("", "v1", "/api/v1")]
        for g in (self.rest.request("GET", "/apis") or {}).get("groups") or []:
            v = (g.get("preferredVersion") or {}).get("version") or g["versions"][0]["version"]
            versions.append((g["name"], v, f"/apis/{g['name']}/{v}"))
        for group, version, path in versions:
            try:
                res = (self.rest.request("GET", path) or {}).get("resources") or []
            except ApiError as e:   # an aggregated API that is not available
                log.debug("discovery %s: %s", path, e)
                continue
            for k in self._parse(group, version, res):
                kinds[(group, k.plural)] = k
        self._kinds = kinds
        self._at = time.monotonic()


def admin_api(sandbox) -> tuple[Rest, Discovery]:
    """An administrator's HTTPS client and discovery for the API server a component's host talks to: the
    emulator's own (`sandbox.server.Sandbox`) or any other (`client.host.RemoteHost`). Created once per host."""
    api = getattr(sandbox, "_admin_api", None)
    if api is None:
        rest = getattr(sandbox, "rest", None)
        if rest is None:
            rest = Rest(sandbox.server, sandbox.certs["ca.crt"], Credentials(token=sandbox.token),
                        user_agent="sandbox-components")
        api = sandbox._admin_api = (rest, getattr(sandbox, "discovery", None) or Discovery(rest))
    return api
