#!/usr/bin/env bash
# The demo on a FRESH embedded sandbox (called by hack/demo.sh, i.e. `make demo`):
#   start a sandbox in a temporary directory -> train the iris model twice (seed 0, and seed 1 for the canary)
#   -> load the iris training image into the sandbox (its Argo steps run it) -> ansible-playbook playbooks/demo.yml
#   (install platform -> namespace -> upload -> deploy -> predict -> canary -> Argo train -> deploy -> teardown ->
#   summary). The sandbox is always stopped, even on failure or Ctrl-C; the exit code is the
#   playbook's. Extra arguments go to ansible-playbook (e.g. -v, -e demo_canary_requests=200).
#   DEMO_KEEP=1 keeps the work directory (sandbox logs, models) after a successful run; it is always kept on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
if [ ! -x "$PY" ] || [ ! -x "$ROOT/.venv/bin/ansible-playbook" ]; then
  echo "run-demo: .venv is missing; run 'make setup' (or 'make demo')." >&2
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlops-k8s-demo.XXXXXX")
SANDBOX_DIR=$WORK/sandbox
STARTED=$(date +%s)
SANDBOX_STARTED=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$SANDBOX_STARTED" = 1 ]; then
    "$PY" -m sandbox stop --dir "$SANDBOX_DIR" >"$WORK/sandbox-stop.log" 2>&1 \
      || echo "run-demo: stopping the sandbox failed, see $WORK/sandbox-stop.log" >&2
  fi
  if [ "$rc" -eq 0 ] && [ "${DEMO_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    echo "run-demo: work directory kept: $WORK (sandbox logs in $SANDBOX_DIR/logs)" >&2
  fi
  echo "run-demo: exit code $rc after $(($(date +%s) - STARTED)) s" >&2
  exit "$rc"
}
PLAYBOOK_PID=
on_signal() {
  # stop the playbook (it runs in the background so that a signal is handled at once), then clean up
  if [ -n "$PLAYBOOK_PID" ]; then
    kill -TERM "$PLAYBOOK_PID" 2>/dev/null
    wait "$PLAYBOOK_PID" 2>/dev/null
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# Nothing from the caller's environment may point the demo at a real cluster or bucket.
for var in $(env | sed -n 's/^\(K8S_AUTH_[A-Z_]*\)=.*/\1/p'); do unset "$var"; done
unset KUBECONFIG AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 MLOPS_K8S_GATEWAY_URL

echo "run-demo: starting a fresh sandbox in $SANDBOX_DIR"
mkdir -p "$SANDBOX_DIR"
SANDBOX_STARTED=1
if ! "$PY" -m sandbox start --dir "$SANDBOX_DIR" >"$WORK/sandbox-start.log" 2>&1; then
  cat "$WORK/sandbox-start.log" >&2
  echo "run-demo: the sandbox did not start" >&2
  exit 1
fi
# shellcheck disable=SC1091
source "$SANDBOX_DIR/env"
export K8S_AUTH_KUBECONFIG=$KUBECONFIG
export MLOPS_K8S_GATEWAY_URL=${AMBASSADOR_URL:?the sandbox exported no AMBASSADOR_URL}
echo "run-demo: sandbox up: API $(sed -n 's/^ *server: //p' "$KUBECONFIG" | head -1), S3 $AWS_ENDPOINT_URL, gateway $MLOPS_K8S_GATEWAY_URL"

echo "run-demo: training the iris model (seed 0) and its retrained canary (seed 1)"
"$PY" examples/iris/train.py "$WORK/iris-v1" >/dev/null || exit 1
"$PY" examples/iris/train.py --seed 1 "$WORK/iris-v2" >/dev/null || exit 1

# The Argo step of the demo runs the training image: on the sandbox an image is a directory, loaded like
# `kind load docker-image` (on a real cluster: docker build -t ghcr.io/mlops-k8s/iris-train:0.1.0 examples/iris).
echo "run-demo: loading the iris training image (examples/iris) into the sandbox"
if ! "$PY" -m sandbox load-image ghcr.io/mlops-k8s/iris-train:0.1.0 examples/iris --dir "$SANDBOX_DIR" \
    >"$WORK/load-image.log" 2>&1; then
  cat "$WORK/load-image.log" >&2
  echo "run-demo: loading the training image failed" >&2
  exit 1
fi

# The collection under test is this checkout, as mlops.k8s.
mkdir -p "$WORK/collections/ansible_collections/mlops"
ln -s "$ROOT" "$WORK/collections/ansible_collections/mlops/k8s"
export ANSIBLE_COLLECTIONS_PATH=$WORK/collections
export ANSIBLE_PYTHON_INTERPRETER=$PY
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_LOCAL_TEMP=$WORK/ansible-tmp

"$ROOT/.venv/bin/ansible-playbook" -i localhost, -c local playbooks/demo.yml \
  -e demo_model_dir="$WORK/iris-v1" -e demo_canary_model_dir="$WORK/iris-v2" "$@" &
PLAYBOOK_PID=$!
wait "$PLAYBOOK_PID"
