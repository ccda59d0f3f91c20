#!/usr/bin/env bash
# examples/cluster/run.sh BUILD_DIR: a local etcd, three members, a client
# that logs users in; then the member hosting the most sessions is killed
# (kill -9) and the client runs again: those sessions are active elsewhere.
set -euo pipefail
build=${1:-build}
bin=$build/examples/cluster_example
command -v etcd >/dev/null || { echo "run.sh: etcd is not installed (scripts/dev.sh setup installs etcd-server)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# A loopback port nobody answers on (bash's /dev/tcp: no curl or python needed).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
healthy() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /health HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null) || return 1
  [[ $reply == *'"health":"true"'* ]]
}
cport=$(free_port); pport=$(free_port)
etcd --name demo --data-dir "$work/etcd" --log-level error \
  --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "demo=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do healthy "$cport" && break; sleep 0.1; done
ep=127.0.0.1:$cport
echo "== etcd on $ep; starting members alpha, beta, gamma"
declare -A member_pid
for m in alpha beta gamma; do
  mkfifo "$work/$m.in"
  "$bin" member "$m" "$ep" <"$work/$m.in" >"$work/$m.out" 2>&1 &
  member_pid[$m]=$!
  pids+=($!)
  exec {fd}>"$work/$m.in"   # keeps the member's stdin open
done
for m in alpha beta gamma; do
  for _ in $(seq 300); do grep -q joined "$work/$m.out" && break; sleep 0.1; done
done
echo "== the client logs six users in"
"$bin" client "$ep" 6 | tee "$work/client1.out"
victim=$(sed -n 's/^busiest: //p' "$work/client1.out")
echo "== kill -9 $victim (the member hosting the most sessions)"
kill -9 "${member_pid[$victim]}"
echo "== waiting for the others to see it down (its lease: 3 s)"
for _ in $(seq 100); do grep -q "member down: $victim" "$work"/*.out && break; sleep 0.1; done
grep -h "member down: $victim" "$work"/*.out | head -2 || true
echo "== the client again: $victim's sessions are active elsewhere now"
"$bin" client "$ep" 6
