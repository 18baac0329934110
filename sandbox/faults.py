"""Faults on demand (component "sandbox.faults:component"), for tests of client retry behaviour.

  POST   /sandbox/v1/faults  {"path_regex": "^/api/v1/namespaces/x/configmaps", "method": "GET", "count": 2,
                              "status": 429|500|503|..., "retry_after": 1, "drop": false, "user": null,
                              "probability": 1.0, "seed": null}
         -> the rule with its "id". The next `count` matching requests (default 1; -1: until cleared) answer
            `status` as a Status body (429 with Retry-After, also 5xx when retry_after is given) or, with
            "drop": true, have their connection closed without an answer. With "probability" p < 1 each matching
            request is faulted at random with probability p (`count` counts the faulted ones; a request the
            rule spares goes on to the next rules); "seed" makes the draws of that rule repeatable.
  GET    /sandbox/v1/faults  -> {"items": [rules with "remaining" and "hits"]}
  DELETE /sandbox/v1/faults  -> clear all;  DELETE /sandbox/v1/faults/<id> -> one rule

Matching: `path_regex` is searched in the request path (query string included when the regex contains "?");
`method` may be a list or "*". Admin paths (/sandbox/) and health checks are never faulted.
Controllers are slowed down separately: POST /sandbox/v1/controllers/<name> {"delay": seconds}.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading

from .machinery.errors import ApiError, bad_request, status

REASONS = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
           504: "Timeout", 409: "Conflict", 410: "Expired", 403: "Forbidden", 401: "Unauthorized"}
MESSAGES = {429: "the server has received too many requests and has asked us to try again later",
            500: "an error on the server (\"injected fault\") has prevented the request from succeeding",
            503: "the server is currently unable to handle the request",
            504: "the server was unable to return a response in the time allotted, but may still be processing "
                 "the request"}


class Faults:
    def __init__(self, sandbox):
        self.sb = sandbox
        self._lock = threading.Lock()
        self._rules: list[dict] = []
        self._ids = itertools.count(1)

    # -- component --
    def start(self) -> None:
        self.sb.app.request_hooks.append(self.hook)
        self.sb.app.admin_routes["/sandbox/v1/faults"] = self.route

    def stop(self) -> None:
        if self.hook in self.sb.app.request_hooks:
            self.sb.app.request_hooks.remove(self.hook)

    # -- rules --
    def add(self, spec: dict) -> dict:
        code = int(spec.get("status", 503))
        drop = bool(spec.get("drop", False))
        if not drop and not 400 <= code <= 599:
            raise ValueError("status must be a 4xx/5xx code")
        probability = float(spec.get("probability", 1.0) if spec.get("probability") is not None else 1.0)
        if not 0.0 < probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")
        methods = spec.get("method") or "*"
        methods = [methods] if isinstance(methods, str) else list(methods)
        rule = {"id": next(self._ids), "path_regex": str(spec.get("path_regex") or ""),
                "method": [m.upper() for m in methods], "count": int(spec.get("count", 1)), "status": code,
                "retry_after": spec.get("retry_after"), "drop": drop, "user": spec.get("user"),
                "message": spec.get("message"), "hits": 0, "probability": probability, "seed": spec.get("seed"),
                "spared": 0}
        rule["remaining"] = rule["count"]
        rule["_random"] = random.Random(spec.get("seed"))  # noqa: S311 - fault injection, not cryptography
        rule["_rx"] = re.compile(rule["path_regex"])
        with self._lock:
            self._rules.append(rule)
        return self._public(rule)

    def clear(self, rule_id: int | None = None) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if rule_id is not None and r["id"] != rule_id]

    def list(self) -> list[dict]:
        with self._lock:
            return [self._public(r) for r in self._rules]

    @staticmethod
    def _public(r: dict) -> dict:
        return {k: v for k, v in r.items() if not k.startswith("_")}

    # -- request hook --
    def hook(self, req):  # noqa: PLR0912 - one branch per field of a fault rule (method, user, path, count, probability, drop, status, Retry-After)
        path = req.path
        if path.startswith("/sandbox/") or path.rstrip("/") in ("/healthz", "/readyz", "/livez"):
            return None
        if not self._rules:
            return None
        full = path
        with self._lock:
            rule = None
            for r in self._rules:
                if r["remaining"] == 0:
                    continue
                if "*" not in r["method"] and req.method.upper() not in r["method"]:
                    continue
                if r["user"]:
                    try:
                        user = self.sb.auth.authenticate(req.headers.get("authorization")).name
                    except ApiError:
                        user = None
                    if user != r["user"]:
                        continue
                if "?" in r["path_regex"]:
                    from urllib.parse import urlencode
                    full = path + "?" + urlencode(req.query)
                if r["_rx"].search(full if "?" in r["path_regex"] else path):
                    if r["probability"] < 1.0 and r["_random"].random() >= r["probability"]:
                        r["spared"] += 1
                        continue
                    rule = r
                    break
            if rule is None:
                return None
            rule["hits"] += 1
            if rule["remaining"] > 0:
                rule["remaining"] -= 1
            self._rules = [r for r in self._rules if r["remaining"] != 0]
        if rule["drop"]:
            self.sb.audit.record(user=None, verb=req.method.lower(), method=req.method, path=path, query="",
                                 dry_run=False, status=0, fault="drop")
            raise ConnectionAbortedError("injected fault: connection dropped")
        from .machinery.http import Response
        code = rule["status"]
        msg = rule["message"] or MESSAGES.get(code, f"injected fault {code}")
        details = {}
        headers = {}
        if rule["retry_after"] is not None:
            details["retryAfterSeconds"] = int(rule["retry_after"])
            headers["Retry-After"] = str(int(rule["retry_after"]))
        elif code == 429:
            details["retryAfterSeconds"] = 1
            headers["Retry-After"] = "1"
        body = status(code, msg, REASONS.get(code, ""), details or None)
        return Response(code, body, headers=headers)

    # -- admin endpoint --
    def route(self, req):
        from .machinery.http import Response
        parts = req.path.rstrip("/").split("/")[4:]
        if req.method == "GET":
            return Response(200, {"items": self.list()})
        if req.method == "DELETE":
            try:
                self.clear(int(parts[0]) if parts else None)
            except ValueError as e:
                raise bad_request("DELETE /sandbox/v1/faults[/<id>]") from e
            return Response(200, {"items": self.list()})
        if req.method == "POST":
            try:
                spec = json.loads(req.body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                rule = self.add(spec)
            except (ValueError, TypeError, re.error) as e:
                raise bad_request(f"invalid fault: {e}") from e
            return Response(201, rule)
        raise ApiError(405, "method not allowed", "MethodNotAllowed")


def component(sandbox) -> Faults:
    f = Faults(sandbox)
    sandbox.faults = f
    return f
