#!/usr/bin/env bash
# End-to-end smoke check of wsnode + wsbench, for CI (well under 10 s once
# built): one node with embedded Redis, a few clients, a tiny rooms run.
# Fails (exit 1) unless something was delivered with zero loss, zero
# duplicates and no connection failures.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

WORK=$(mktemp -d)
BIN=$WORK
NODE_PIDS=()
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

build "$ROOT" "$BIN"
PORTS=($("$BIN/wsbench" freeport 2))
WS=${PORTS[0]} ADMIN=${PORTS[1]}
SECRET=smoke-secret

# Empty --redis-url: embedded Redis, single node.
start_node smoke "$WS" "$ADMIN" "" "$SECRET" "$WORK/node.log"
"$BIN/wsbench" waitready -timeout 8s "http://127.0.0.1:$ADMIN/readyz" ||
	{ cat "$WORK/node.log" >&2; die "node not ready"; }

"$BIN/wsbench" -scenario rooms -urls "ws://127.0.0.1:$WS/ws" -secret "$SECRET" \
	-rooms 2 -members 4 -pubs 1 -rate 400 -warmup 300ms -duration 1500ms -drain 3s \
	-concurrency 8 -procs 1 -pids "${NODE_PIDS[0]}" -strict ||
	{ cat "$WORK/node.log" >&2; die "smoke run failed"; }
log "smoke OK"
