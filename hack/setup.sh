#!/usr/bin/env bash
# Create or refresh .venv with everything the demo and the tests need. Idempotent: when the
# requirement files have not changed since the last successful run it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
UV_VERSION=0.13.9
STAMP="$VENV/.setup-stamp"
want=$(cat requirements.txt requirements-test.txt constraints.txt hack/setup.sh \
         $(ls sandbox/servers/requirements-* sandbox/servers/overrides.txt 2>/dev/null) | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi

if ! command -v python3.11 >/dev/null 2>&1 && ! python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Python 3.11 is required (ansible-core 2.19 supports it; 2.20+ needs 3.12)" >&2
  exit 1
fi
PYTHON=$(command -v python3.11 || command -v python3)

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if [ ! -x "$VENV/bin/uv" ]; then
  # uv resolves this dependency set in seconds where pip backtracks for minutes.
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip >/dev/null
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -r requirements-test.txt -c constraints.txt

# kubectl drives the sandbox conformance tests; the machine image normally has it.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: installing kubectl (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq kubectl; else sudo apt-get update -qq && sudo apt-get install -y -qq kubectl; fi
fi

# Model-server "images" for the sandbox: each prepackaged server gets its own virtualenv.
if [ -f sandbox/servers/build.py ]; then
  "$VENV/bin/python" -m sandbox.servers.build
fi

echo "$want" > "$STAMP"
echo "setup: done"
