#!/usr/bin/env python3
"""Scan text (playbook output, logs) for secret values, in clear or base64-encoded: exit 1 if any appears.

  scan_secrets.py [--secret LABEL=VALUE]... [--secret-env NAME]... [--kubeconfig FILE]... [--sandbox-dir DIR]
                  [FILE|DIR ...]            (no FILE: standard input; a DIR: every file under it)

Secrets come from:
  --secret LABEL=VALUE   a value (LABEL names it in the report; the value itself is never printed)
  --secret-env NAME      the value of environment variable NAME (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ...)
  --kubeconfig FILE      the credentials of a kubeconfig: token, password, client-key-data, auth-provider and
                         exec env values, ...
  --sandbox-dir DIR      a sandbox's directory (sandbox.json: its token, kubeconfig and S3 credentials)

Each value is looked for as is, JSON-escaped, and base64-encoded at the three byte alignments (so it is found
inside the base64 of a larger blob, such as a Secret's rclone config), standard and URL-safe. Values shorter than
--min-length (default 8) are refused: they would match by chance.

With make demo (keep its sandbox directory to know its token):
  DEMO_KEEP=1 make demo 2>&1 | tee demo.log      # the work directory is printed at the end
  .venv/bin/python hack/scan_secrets.py --sandbox-dir /tmp/mlops-k8s-demo.XXXXXX/sandbox demo.log \\
      /tmp/mlops-k8s-demo.XXXXXX/sandbox/logs
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys

SENSITIVE_KEYS = frozenset(("token", "password", "client-key-data", "id-token", "refresh-token", "access-token",
                            "client-secret", "secret", "idp-certificate-authority-data"))


def needles(value: str) -> dict[str, str]:
    """form -> the string to look for: the value, its JSON escape, and its base64 at every alignment."""
    raw = value.encode()
    out = {"clear": value, "json": json.dumps(value)[1:-1]}
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode().rstrip("=")
        # only the characters made of the value's bits alone
        core = enc[(k * 8 + 5) // 6: ((k + len(raw)) * 8) // 6]
        if len(core) >= 8:
            out["base64+%d" % k] = core
            out["base64url+%d" % k] = core.replace("+", "-").replace("/", "_")
    return out


def kubeconfig_secrets(path: str) -> dict[str, str]:
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    found = {}

    def walk(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("env"), list):  # exec plugin env: [{name, value}]
                for item in node["env"]:
                    if isinstance(item, dict) and isinstance(item.get("value"), str):
                        found["%s.env.%s" % (where, item.get("name"))] = item["value"]
            for key, value in node.items():
                if key in SENSITIVE_KEYS and isinstance(value, str) and value:
                    found["%s.%s" % (where, key)] = value
                else:
                    walk(value, "%s.%s" % (where, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                name = item.get("name") if isinstance(item, dict) else None
                walk(item, "%s[%s]" % (where, name or i))

    walk(data, "kubeconfig")
    return found


def sandbox_secrets(directory: str) -> dict[str, str]:
    """A running sandbox's sandbox.json; a stopped one (make demo's, with DEMO_KEEP=1) keeps its kubeconfig and
    state.json (the admin token), and its S3 credentials are the fixed ones of sandbox/s3.py."""
    path = os.path.join(directory, "sandbox.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    else:
        with open(os.path.join(directory, "state.json"), encoding="utf-8") as handle:
            state = json.load(handle)
        info = {"token": state["admin_token"], "kubeconfig": os.path.join(directory, "kubeconfig"),
                "env": {"AWS_SECRET_ACCESS_KEY": "sandbox-secret-key"}}
    found = {"sandbox token": info["token"]}
    env = info.get("env") or {}
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(name):
            found["sandbox %s" % name] = env[name]
    if info.get("kubeconfig") and os.path.exists(info["kubeconfig"]):
        found.update(kubeconfig_secrets(info["kubeconfig"]))
    return found


def scan(texts, secrets: dict[str, str]) -> list[dict]:
    """texts: iterable of (source, text). Findings: source, line, secret label, form (never the value)."""
    table = {label: needles(value) for label, value in secrets.items()}
    findings = []
    for source, text in texts:
        for lineno, line in enumerate(text.splitlines(), 1):
            for label, forms in table.items():
                for form, needle in forms.items():
                    if needle in line:
                        findings.append({"source": source, "line": lineno, "secret": label, "form": form})
                        break
    return findings


def read_inputs(paths):
    if not paths:
        yield "<stdin>", sys.stdin.read()
        return
    for path in paths:
        files = [path]
        if os.path.isdir(path):
            files = sorted(os.path.join(root, name) for root, _dirs, names in os.walk(path) for name in names)
        for name in files:
            try:
                with open(name, encoding="utf-8", errors="replace") as handle:
                    yield name, handle.read()
            except OSError as exc:
                print("scan_secrets: cannot read %s: %s" % (name, exc), file=sys.stderr)


def collect(args) -> dict[str, str]:
    secrets = {}
    for item in args.secret:
        label, sep, value = item.partition("=")
        if not sep:
            raise SystemExit("scan_secrets: --secret takes LABEL=VALUE")
        secrets[label] = value
    for name in args.secret_env:
        if os.environ.get(name):
            secrets["$" + name] = os.environ[name]
    for path in args.kubeconfig:
        secrets.update(kubeconfig_secrets(path))
    for directory in args.sandbox_dir:
        secrets.update(sandbox_secrets(directory))
    short = sorted(label for label, value in secrets.items() if len(value) < args.min_length)
    if short:
        raise SystemExit("scan_secrets: too short to scan for without false alarms (< %d chars): %s"
                         % (args.min_length, ", ".join(short)))
    if not secrets:
        raise SystemExit("scan_secrets: no secret to look for")
    return secrets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--secret-env", action="append", default=[])
    parser.add_argument("--kubeconfig", action="append", default=[])
    parser.add_argument("--sandbox-dir", action="append", default=[])
    parser.add_argument("--min-length", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)
    secrets = collect(args)
    findings = scan(read_inputs(args.paths), secrets)
    if args.json:
        print(json.dumps({"secrets": sorted(secrets), "findings": findings}, indent=2))
    else:
        for f in findings:
            print("%s:%d: %s (%s)" % (f["source"], f["line"], f["secret"], f["form"]))
        print("scan_secrets: %d secret value(s) looked for, %d finding(s)" % (len(secrets), len(findings)),
              file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
