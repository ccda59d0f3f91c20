#!/usr/bin/env bash
# Runs the chat example end to end: a server and three clients, each in its
# own process, on 127.0.0.1. Every client waits for the others, says one
# line and must hear all three. Exits 0 when all three did.
#   run_chat.sh CHAT_SERVER CHAT_CLIENT
set -euo pipefail
server_bin=$1
client_bin=$2
export TROUPE_COOKIE=${TROUPE_COOKIE:-troupe-chat-example-$$}
out=$(mktemp -d)
cleanup() {
  kill "${server_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

"$server_bin" >"$out/server" 2>"$out/server.err" &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^PORT ' "$out/server" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/^PORT //p' "$out/server")
[ -n "$port" ] || { echo "chat server did not start" >&2; cat "$out/server.err" >&2; exit 1; }

pids=()
for who in alice bob carol; do
  timeout 60 "$client_bin" --port "$port" --user "$who" --room lobby --say "hello from $who" --members 3 \
    >"$out/$who" 2>"$out/$who.err" &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
done
for who in alice bob carol; do
  echo "--- $who saw:"
  cat "$out/$who"
  [ -s "$out/$who.err" ] && grep -v '\[info\]' "$out/$who.err" >&2 || true
done
[ "$status" = 0 ] && echo "chat: all three clients heard everyone"
exit "$status"
