#!/usr/bin/env bash
# The reconnect-storm benchmark of issue 16 (point 3), not in CI: its own
# redis-server, 3 nodes (default --max-pending-connects), and `wsbench storm`
# twice: 9,000 receivers (3,000 per node, rooms of 10 spread over the nodes)
# with publishers on nodes 1 and 2 offering 5,000 deliveries/s; node 3 gets
# SIGTERM and its 3,000 clients (closed with 1001) reconnect round-robin to
# nodes 1 and 2 and rejoin:
#   A: after a full jitter of 0-1 s each;
#   B: at once.
# A 503 is retried after Retry-After (1 s) plus 0-1 s. Between the runs node 3
# is started again with the same id. Each run reports the rejoin times from
# the signal, clients not back within 30 s, 503s and retries, the p99 of
# deliveries to never-disconnected clients over the storm window, and node and
# Redis CPU; the script prints a markdown table of both and writes
# bench/storm.svg and bench/storm.md. About 1 minute on 2 cores. The drained
# node's clients run in a child process of wsbench, apart from the clients
# whose deliveries are timed (STORM_FLAGS=-split=false puts them together).
#
# Environment: STORM_PER_NODE (3000), STORM_RATE (5000), STORM_JITTER (1s),
# STORM_OUT (bench/), STORM_KEEP (directory for the JSON results and logs),
# STORM_FLAGS (more `wsbench storm` flags),
# BENCH_NODE_GOMAXPROCS (1, as run.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

PER_NODE=${STORM_PER_NODE:-3000}
RATE=${STORM_RATE:-5000}
JITTER=${STORM_JITTER:-1s}
OUT=${STORM_OUT:-$ROOT/bench}
export NODE_GOMAXPROCS=${BENCH_NODE_GOMAXPROCS-1}
SECRET="storm-$RANDOM$RANDOM"

WORK=$(mktemp -d)
BIN=$WORK
finish() {
	cleanup
	if [[ -n ${STORM_KEEP:-} ]]; then
		mkdir -p "$STORM_KEEP" && cp "$WORK"/*.json "$WORK"/*.log "$STORM_KEEP"/ 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "building wsnode and wsbench"
build "$ROOT" "$BIN"
PORTS=($("$BIN/wsbench" freeport 7))
REDIS_PORT=${PORTS[0]}
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
start_redis "$REDIS_PORT" "$WORK/redis.log"

declare -a NODE_PID WS ADMIN
# node I: starts node I (0-based) with its fixed id and ports.
node() {
	local i=$1
	NODE_PIDS=()
	start_node "storm-n$((i + 1))" "${WS[$i]}" "${ADMIN[$i]}" "$REDIS_URL" "$SECRET" \
		"$WORK/node$((i + 1))-$2.log" --max-conns-per-ip 0
	NODE_PID[$i]=${NODE_PIDS[0]}
}
URLS=()
for i in 0 1 2; do
	WS[$i]=${PORTS[$((1 + 2 * i))]} ADMIN[$i]=${PORTS[$((2 + 2 * i))]}
	node "$i" a
	URLS+=("ws://127.0.0.1:${WS[$i]}/ws")
done
ready() { "$BIN/wsbench" waitready -timeout 20s "http://127.0.0.1:${ADMIN[$1]}/readyz"; }
for i in 0 1 2; do ready "$i" || die "node $((i + 1)) not ready"; done

# storm FILE LABEL JITTER: one variant, its result in $WORK/FILE.json; node 3
# is drained by wsbench and reaped here.
storm() {
	local file=$1 name=$2 jitter=$3
	log "storm $name"
	# shellcheck disable=SC2086 # STORM_FLAGS is a list of flags
	"$BIN/wsbench" storm -urls "$(join_by , "${URLS[@]}")" -pids "$(join_by , "${NODE_PID[@]}")" \
		-secret "$SECRET" -redis-url "$REDIS_URL" -drain 3 -jitter "$jitter" -per-node "$PER_NODE" \
		-rate "$RATE" -label "$name" -out "$WORK/$file.json" ${STORM_FLAGS:-} &
	local pid=$!
	PIDS+=("$pid")
	wait "$pid" || log "wsbench storm $name exited non-zero"
	wait "${NODE_PID[2]}" 2>/dev/null || true
	for i in 0 1; do
		kill -0 "${NODE_PID[$i]}" 2>/dev/null || { tail -n 30 "$WORK"/node*.log >&2; die "node $((i + 1)) died during $name"; }
	done
}

storm a "A: jitter 0-$JITTER" "$JITTER"
sleep 3 # the nodes unregister the sockets just closed
node 2 b
ready 2 || die "node 3 did not come back"
storm b "B: no jitter" 0

mkdir -p "$OUT"
{
	"$BIN/wsbench" stormplot -o "$OUT/storm.svg" "$WORK/a.json" "$WORK/b.json"
	printf '\n%s receivers per node, %s deliveries/s offered, 3 nodes with GOMAXPROCS=%s and `--max-conns-per-ip 0`, other flags default; ' \
		"$PER_NODE" "$RATE" "${NODE_GOMAXPROCS:-default}"
	printf 'Redis, the nodes and the load generator on one machine: %s cores,%s; ' "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
	printf 'run %s UTC; whole script %s s; load average before %s, after %s.\n' "$(date -u '+%Y-%m-%d %H:%M')" "$(($(date +%s) - T0))" "$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$WORK/storm.md"
cp "$WORK/storm.md" "$OUT/storm.md"
cat "$OUT/storm.md"
log "wrote $OUT/storm.md and $OUT/storm.svg"
