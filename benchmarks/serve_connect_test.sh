#!/usr/bin/env bash
# troupe-bench serve, used by the remote workloads through --connect.
#   serve_connect_test.sh TROUPE_BENCH
set -euo pipefail
bench=$1
export TROUPE_COOKIE=${TROUPE_COOKIE:-bench-serve-test-$$}
out=$(mktemp)
"$bench" serve --port 0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '"port"' "$out" && break; sleep 0.1; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { echo "serve did not report its port" >&2; exit 1; }
"$bench" remote-pingpong --n 500 --connect "127.0.0.1:$port"
"$bench" remote-flood --n 50000 --connect "127.0.0.1:$port"
"$bench" remote-flood --n 50000 --connect "127.0.0.1:$port"  # the same serve node, twice
