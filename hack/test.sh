#!/usr/bin/env bash
# Every test of the project, in stages. `hack/test.sh` runs them all; `hack/test.sh STAGE...` runs some.
# Stages: lint sanity ansible-lint galaxy molecule pytest (unit + sandbox + integration tests on the emulator)
# kube (the collection's integration tests, tests/kube and the differential suite on the real control plane),
# kube-molecule (the default molecule scenario on the real control plane; by hand, not in `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0

stages=("$@")
# kube-build and kube-bg start first: the real control plane builds (minutes on a fresh machine) and then runs its
# tier in the background while the other stages run here (much of the tiers' time is spent waiting on pods and
# controllers, not on the CPU); `kube` then waits for it and prints its output. The collection's integration tests
# run once, on the real control plane (the judge), when it runs; on the emulator only those that need it.
[ ${#stages[@]} -gt 0 ] || stages=(kube-build kube-bg lint sanity ansible-lint galaxy molecule pytest kube)

# A throw-away `ansible_collections/mlops/k8s` holding the collection's files as git sees them,
# without the development tooling that is not collection content (the sandbox and its tests, the
# benchmarks, hack/): ruff and pytest cover those.
collection_copy() {
  local root="$1"
  local dest="$root/ansible_collections/mlops/k8s"
  mkdir -p "$dest"
  git ls-files -co --exclude-standard -z \
    | grep -zvE '^(sandbox|benchmarks|hack|tests/sandbox)/' \
    | xargs -0 -I{} cp --parents -- {} "$dest/"
  echo "$dest"
}

step() { printf '\n=== %s === [+%ds]\n' "$*" "$SECONDS"; }

run_lint() {
  step "ruff"
  ruff check .
  step "yamllint"
  yamllint -s .
}

run_sanity() {
  step "ansible-test sanity"
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  local dest; dest=$(collection_copy "$tmp")
  local pipver; pipver=$(python - <<'PY'
import pathlib, re, ansible_test
src = pathlib.Path(ansible_test.__file__).parent.joinpath("_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
  local bootstrap="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
  [ -f "$bootstrap" ] || install -D -m 0644 hack/get_pip_offline.py "$bootstrap"
  # Tests that need docker, network access to other collections or a different Python are skipped
  # by ansible-test itself with a reason; everything that applies to Python 3.11 runs.
  (cd "$dest" && git init -q && git add -A && ansible-test sanity --python 3.11 --venv \
      --color no "${SANITY_ARGS[@]}")
}

run_ansible_lint() {
  step "ansible-lint (production profile)"
  # Playbooks refer to mlops.k8s.* and group/mlops.k8s.k8s: make this checkout resolvable as the collection.
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/ansible_collections/mlops" && ln -s "$PWD" "$tmp/ansible_collections/mlops/k8s"
  ANSIBLE_COLLECTIONS_PATH="$tmp" ansible-lint --offline -q
}

run_galaxy() {
  step "galaxy build + install + ansible-doc"
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  ansible-galaxy collection build --force --output-path "$tmp/dist" . >/dev/null
  local tarball; tarball=$(ls "$tmp"/dist/mlops-k8s-*.tar.gz)
  if tar -tzf "$tarball" | grep -E '^(sandbox|tests|benchmarks|\.venv|\.cache)/' ; then
    echo "galaxy: the artifact contains files that build_ignore should drop" >&2; return 1
  fi
  ANSIBLE_COLLECTIONS_PATH="$tmp/collections" ansible-galaxy collection install -p "$tmp/collections" "$tarball" >/dev/null
  local mod n=0
  for mod in plugins/modules/*.py; do
    mod=$(basename "$mod" .py); [ "$mod" = __init__ ] && continue
    ANSIBLE_COLLECTIONS_PATH="$tmp/collections" ansible-doc "mlops.k8s.$mod" >/dev/null
    n=$((n + 1))
  done
  echo "galaxy: built $(basename "$tarball"), installed it, ansible-doc rendered $n modules"
}

# molecule: `syntax` of every scenario (kind needs Docker, so only its syntax runs here), then the full
# `test` of the default scenario on the sandbox. The collection resolves through a temporary
# ansible_collections/mlops/k8s symlink to this checkout; S3 and gateway ports are picked free.
run_molecule() {
  step "molecule"
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/ansible_collections/mlops" && ln -s "$PWD" "$tmp/ansible_collections/mlops/k8s"
  local ports; ports=$(python -c 'import socket
ss = [socket.socket() for _ in range(2)]
[s.bind(("127.0.0.1", 0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])')
  local s3_port gw_port; read -r s3_port gw_port <<<"$ports"
  local env=(env ANSIBLE_COLLECTIONS_PATH="$tmp" MLOPS_MOLECULE_S3_PORT="$s3_port" MLOPS_MOLECULE_GATEWAY_PORT="$gw_port")
  "${env[@]}" molecule syntax -s kind
  "${env[@]}" molecule test -s default
}

run_pytest() {
  step "pytest"
  set +e
  # Two workers (the machines have two cores); a test file stays on one worker, and each worker starts its own
  # sandboxes (one for the conformance tests, one for the collection's integration tests).
  # tests/kube and tests/fidelity need the real control plane: the `kube` stage runs them, sealed.
  python -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" --dist loadfile --durations=15 \
    --ignore=tests/kube --ignore=tests/fidelity "${PYTEST_ARGS[@]}"
  local rc=$?
  set -e
  # Exit 5 means no test was collected at all; that is a failure of the suite, not a pass.
  return $rc
}

# The real control plane (hack/kube/build.sh builds it; cached, a second build returns at once). Its tests run
# inside a private network namespace that has only loopback (as root: `unshare --net`), so nothing the real API
# server dials (webhooks, aggregated APIs) can leave the machine even by mistake.
no_go() {
  echo "kube: real-control-plane tier skipped: 'go' is not on the PATH, so hack/kube/build.sh cannot build it"
}

# `make kube` in the background while the other stages run (a fresh machine builds for several minutes, mostly
# on other cores than the single-threaded linters use); the `kube` stage waits for it. Cached: then instant.
KUBE_BUILD_PID=""
KUBE_BUILD_LOG=""
KUBE_BG_PID=""
KUBE_BG_LOG=""
# (each command of the trap must not fail: under `set -e` a pkill that finds nothing would turn a pass into exit 1)
trap 'for p in $KUBE_BUILD_PID $KUBE_BG_PID; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done' EXIT
run_kube_build() {
  command -v go >/dev/null 2>&1 || return 0  # the kube stage says in one line why its tier is skipped
  step "build the real control plane (make kube), in the background"
  KUBE_BUILD_LOG=$(mktemp)
  # the exit code goes to a file: the kube stage may wait for it from a background subshell (kube-bg)
  (bash hack/kube/build.sh >"$KUBE_BUILD_LOG" 2>&1; echo $? >"$KUBE_BUILD_LOG.rc") &
  KUBE_BUILD_PID=$!
  echo "kube: building in the background (pid $KUBE_BUILD_PID)"
}

# The kube stage in the background (its output in a file), for the `kube` stage to collect.
run_kube_bg() {
  command -v go >/dev/null 2>&1 || return 0
  step "real control plane tier started in the background (its output follows the kube stage)"
  KUBE_BG_LOG=$(mktemp)
  (MLOPS_FLOW_ON_EMULATOR=1 run_kube) >"$KUBE_BG_LOG" 2>&1 &
  KUBE_BG_PID=$!
  export MLOPS_INTEGRATION_ON_KUBE=1
  echo "kube: tier running (log $KUBE_BG_LOG); each integration test runs once: the emulator's pytest stage" \
       "keeps tests/integration's emulator_only and flow tests, the real control plane the others"
}

collect_kube() {
  if [ -z "$KUBE_BG_PID" ]; then run_kube; return; fi
  local rc=0 t0=$SECONDS
  wait "$KUBE_BG_PID" || rc=$?
  KUBE_BG_PID=""
  step "real control plane tier (ran in the background; waited $((SECONDS - t0)) s for it here)"
  cat "$KUBE_BG_LOG"; rm -f "$KUBE_BG_LOG"
  return "$rc"
}

run_kube() {
  step "real control plane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler)"
  if ! command -v go >/dev/null 2>&1; then no_go; return 0; fi
  if [ -n "$KUBE_BUILD_LOG" ]; then
    local rc t0=$SECONDS
    while [ ! -s "$KUBE_BUILD_LOG.rc" ]; do sleep 2; done
    rc=$(cat "$KUBE_BUILD_LOG.rc")
    echo "kube: waited $((SECONDS - t0)) s for the background build"
    cat "$KUBE_BUILD_LOG"; rm -f "$KUBE_BUILD_LOG" "$KUBE_BUILD_LOG.rc"; KUBE_BUILD_PID=""; KUBE_BUILD_LOG=""
    [ "$rc" = 0 ] || { echo "kube: the build failed ($rc)" >&2; return "$rc"; }
  fi
  local bin; bin=$(bash hack/kube/build.sh | tail -n 1)
  echo "kube: binaries in $bin ($(tr '\n' ' ' < "$(dirname "$bin")/versions"))"
  local args=(-p no:cacheprovider -n "${PYTEST_WORKERS:-2}" --dist loadfile --durations=25 -m "not emulator_only"
              tests/integration tests/kube tests/fidelity "${PYTEST_ARGS[@]}")
  if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
    echo "kube: tests run in a private network namespace (loopback only)"
  else
    echo "kube: not root (or no unshare): running without a private network namespace; aggregator routing and" \
         "loopback addresses alone keep the traffic on this machine"
  fi
  local rc=0
  on_kube "$bin" python -m pytest "${args[@]}" || rc=$?
  step "real control plane tier done"
  return "$rc"
}

# The default molecule scenario on the real control plane (not in `make test`: the `molecule` stage runs it on
# the emulator and the kube tier's tests/integration run the same roles and playbooks on the real server).
run_kube_molecule() {
  command -v go >/dev/null 2>&1 || { no_go; return 0; }
  local bin; bin=$(bash hack/kube/build.sh | tail -n 1)
  step "molecule (default scenario) on the real control plane"
  on_kube "$bin" bash hack/test.sh molecule
}

# Run "$@" with the sandbox on the real control plane (MLOPS_CONTROL_PLANE=kube), in a private network namespace
# that has only loopback when this is root.
on_kube() {
  local bin=$1; shift
  local cmd=(env MLOPS_CONTROL_PLANE=kube MLOPS_KUBE_BIN="$bin" "$@")
  if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
    unshare --net -- bash -c 'ip link set lo up && exec env MLOPS_SEALED_NETNS=1 "$@"' sealed "${cmd[@]}"
  else
    "${cmd[@]}"
  fi
}

SANITY_ARGS=()
PYTEST_ARGS=()
failed=0
for s in "${stages[@]}"; do
  case "$s" in
    lint) run_lint ;;
    sanity) run_sanity ;;
    ansible-lint) run_ansible_lint ;;
    galaxy) run_galaxy ;;
    molecule) run_molecule ;;
    pytest) run_pytest || failed=$? ;;  # the kube tier's result is still collected and printed
    kube-build) run_kube_build ;;
    kube-bg) run_kube_bg ;;
    kube) collect_kube || failed=$? ;;
    kube-molecule) run_kube_molecule ;;
    unit) PYTEST_ARGS=(tests/unit tests/sandbox/unit); run_pytest ;;
    integration) PYTEST_ARGS=(-m sandbox); run_pytest ;;
    *) echo "unknown stage: $s" >&2; exit 2 ;;
  esac
done
step "done (exit $failed)"
exit "$failed"
