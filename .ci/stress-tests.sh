#!/usr/bin/env bash
# Runs the README's test command (go test -race ./...) several times in a row
# while busy loops keep every core busy, to find tests that only hold on an
# idle machine. Not called by .ci/run: it takes 5 x several minutes.
#
#   .ci/stress-tests.sh [runs] [go test args...]   (default: 5 runs of ./...)
#
# Each run's output is kept in a temp dir (printed); at the end it prints
# "N passed, M failed" with the failing tests' names and exits non-zero if
# any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
shift $(($# > 0 ? 1 : 0))
pkgs=("$@")
((${#pkgs[@]})) || pkgs=(./...)

command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
export GOTOOLCHAIN=auto
export WS_REQUIRE_REDIS=1
# Run every test for real, never from the test cache.
export GOFLAGS=-count=1

out=$(mktemp -d "${TMPDIR:-/tmp}/wsnode-stress.XXXXXX")
busy=()
tests=
cleanup() {
  # go test leaves its test binaries (and their nodes) running when it is
  # killed, so each run has its own process group, killed as a whole.
  [ -n "$tests" ] && kill -- -"$tests" 2>/dev/null
  for pid in "${busy[@]}"; do
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Build first, so compiling does not eat into the first run's timing.
go test -race -run '^$' "${pkgs[@]}" >"$out/build.log" 2>&1 || {
  echo "build failed, see $out/build.log" >&2
  exit 2
}

cores=$(nproc 2>/dev/null || echo 2)
((cores < 2)) && cores=2
for ((i = 0; i < cores; i++)); do
  (while :; do :; done) &
  busy+=($!)
done
echo "stress: $runs runs of go test -race ${pkgs[*]} with $cores busy loops; logs in $out"

passed=0 failed=0
for ((r = 1; r <= runs; r++)); do
  log="$out/run$r.log"
  start=$SECONDS
  setsid go test -race "${pkgs[@]}" >"$log" 2>&1 &
  tests=$!
  wait "$tests"
  rc=$?
  tests=
  if ((rc == 0)); then
    passed=$((passed + 1))
    echo "run $r: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    echo "run $r: FAIL ($((SECONDS - start)) s), $log"
    # Top-level and subtest failures, and packages that failed to build or panicked.
    grep -E -e '^\s*--- FAIL: ' -e '^FAIL\s' -e '^panic: ' "$log" | sed 's/^/    /' | sort -u
  fi
done

echo "$passed passed, $failed failed"
if ((failed)); then
  echo "failing tests (runs failed in):"
  grep -h -E -o -e '--- FAIL: [^ ]+' "$out"/run*.log | sed 's/--- FAIL: //' | sort | uniq -c | sort -rn | sed 's/^/    /'
  exit 1
fi
