#!/usr/bin/env bash
# The standard wsnode benchmark (issue 5): its own redis-server on a free
# port, 3 nodes, then wsbench runs idle, connect, rooms at 10k and 30k
# deliveries/s, direct at 10k/s, and small rooms and small direct (3,000
# rooms of one receiver, 3,000 senders of direct messages, 5,000 msg/s each),
# and writes bench/BENCHMARKS.md and bench/small-latency.svg (the worst
# latency per 100 ms of the two small runs). About 5 minutes on a 2-core machine. Everything it starts is killed on
# exit.
#
# Environment knobs (defaults are the standard workload):
#   BENCH_OUT       output file            (bench/BENCHMARKS.md)
#   BENCH_DURATION  window per rate run    (30s: several stats, activity and reaper rounds)
#   BENCH_WARMUP    warm-up per rate run   (3s)
#   BENCH_SMALL_DURATION  window of the small-rooms and small-direct runs (20s)
#   BENCH_IDLE      idle sockets per node  (3000)
#   BENCH_CONNECT   sockets in connect run (9000)
#   BENCH_KEEP      directory to keep the JSON results and logs in (none)
#   BENCH_CLUSTER   1 (default): then connect and rooms-30k again on a Redis Cluster of
#                   3 primaries with the nodes in --redis-mode cluster (issue 17), compared
#                   with the single-Redis runs; 0 skips it
#   BENCH_NODE_GOMAXPROCS  GOMAXPROCS of each node (empty, the default: Go's own,
#                   all cores, as users run it; 1: three nodes share two cores with
#                   Redis and the generator like replicas with one CPU each, the
#                   setting of bench/ab.sh and of BENCHMARKS.md before 2026-12-07)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

OUT=${BENCH_OUT:-$ROOT/bench/BENCHMARKS.md}
DURATION=${BENCH_DURATION:-30s}
SMALL_DURATION=${BENCH_SMALL_DURATION:-20s}
WARMUP=${BENCH_WARMUP:-3s}
IDLE_PER_NODE=${BENCH_IDLE:-3000}
CONNECT_N=${BENCH_CONNECT:-9000}
NODES=3
export NODE_GOMAXPROCS=${BENCH_NODE_GOMAXPROCS-}
SECRET="bench-$RANDOM$RANDOM"

WORK=$(mktemp -d)
BIN=$WORK
RES=$WORK/results
mkdir -p "$RES"
NODE_PIDS=()
finish() {
	cleanup
	if [[ -n ${BENCH_KEEP:-} ]]; then
		mkdir -p "$BENCH_KEEP" && cp -r "$RES" "$WORK"/*.log "$BENCH_KEEP"/ 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "building wsnode and wsbench"
build "$ROOT" "$BIN"

PORTS=($("$BIN/wsbench" freeport $((1 + 2 * NODES))))
REDIS_PORT=${PORTS[0]}
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
log "redis-server on port $REDIS_PORT"
start_redis "$REDIS_PORT" "$WORK/redis.log"

URLS=() READY=() ADMINS=()
for i in $(seq 0 $((NODES - 1))); do
	ws=${PORTS[$((1 + 2 * i))]} admin=${PORTS[$((2 + 2 * i))]}
	ADMINS+=("http://127.0.0.1:$admin")
	# Every benchmark client dials from loopback, so the per-IP cap is lifted.
	start_node "bench-n$((i + 1))" "$ws" "$admin" "$REDIS_URL" "$SECRET" "$WORK/node$((i + 1)).log" \
		--max-conns-per-ip 0
	URLS+=("ws://127.0.0.1:$ws/ws")
	READY+=("http://127.0.0.1:$admin/readyz")
done
"$BIN/wsbench" waitready -timeout 20s "${READY[@]}" || { tail -n 20 "$WORK"/node*.log >&2; die "nodes not ready"; }
log "nodes ready: ${URLS[*]} (pids ${NODE_PIDS[*]})"

COMMON=(-urls "$(join_by , "${URLS[@]}")" -secret "$SECRET" -pids "$(join_by , "${NODE_PIDS[@]}")"
	-redis-url "$REDIS_URL" -src-count 4)

# bench NAME ARGS...: one wsbench run, JSON into $RES/NAME.json.
bench() {
	local name=$1
	shift
	log "running $name"
	# In the background, so that an INT/TERM trap runs at once and cleanup stops it.
	"$BIN/wsbench" "${COMMON[@]}" -label "$name" -out "$RES/$name.json" "$@" &
	local pid=$!
	PIDS+=("$pid")
	wait "$pid" || log "wsbench $name exited non-zero"
	for pid in "${NODE_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || { tail -n 30 "$WORK"/node*.log >&2; die "node pid $pid died during $name"; }
	done
	sleep 3 # let the nodes finish unregistering the sockets just closed
}

bench idle -scenario idle -conns $((IDLE_PER_NODE * NODES)) -members 100 -settle 3s -procs 2 \
	-admins "$(join_by , "${ADMINS[@]}")"
bench connect -scenario connect -conns "$CONNECT_N" -members 100 -concurrency 64
bench rooms-10k -scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 10000 \
	-warmup "$WARMUP" -duration "$DURATION"
bench rooms-30k -scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 30000 \
	-warmup "$WARMUP" -duration "$DURATION"
bench direct-10k -scenario direct -conns 3000 -pubs 30 -payload 128 -rate 10000 \
	-warmup "$WARMUP" -duration "$DURATION"
# Issue 18's shape: many connections that each send a little, nothing
# amortised over a fan-out (an assistant and its user, a direct message).
bench small-rooms -scenario rooms -rooms 3000 -members 1 -pubs 1 -payload 128 -rate 5000 \
	-warmup "$WARMUP" -duration "$SMALL_DURATION"
bench small-direct -scenario direct -conns 3000 -pubs 3000 -payload 128 -rate 5000 \
	-warmup "$WARMUP" -duration "$SMALL_DURATION"

# Redis Cluster: the same connect and rooms-30k runs with the nodes in
# --redis-mode cluster on 3 primaries, after the single-Redis nodes and
# Redis are gone (so both phases get the whole machine).
if [[ ${BENCH_CLUSTER:-1} == 1 ]]; then
	cleanup
	NODE_PIDS=()
	start_cluster "$WORK"
	PORTS=($("$BIN/wsbench" freeport $((2 * NODES))))
	URLS=() READY=()
	for i in $(seq 0 $((NODES - 1))); do
		ws=${PORTS[$((2 * i))]} admin=${PORTS[$((2 * i + 1))]}
		start_node "bench-c$((i + 1))" "$ws" "$admin" "$CLUSTER_URL" "$SECRET" "$WORK/cnode$((i + 1)).log" \
			--max-conns-per-ip 0 --redis-mode cluster
		URLS+=("ws://127.0.0.1:$ws/ws")
		READY+=("http://127.0.0.1:$admin/readyz")
	done
	"$BIN/wsbench" waitready -timeout 30s "${READY[@]}" || { tail -n 20 "$WORK"/cnode*.log >&2; die "cluster-mode nodes not ready"; }
	log "cluster-mode nodes ready on $CLUSTER_URL"
	COMMON=(-urls "$(join_by , "${URLS[@]}")" -secret "$SECRET" -pids "$(join_by , "${NODE_PIDS[@]}")"
		-redis-url "$CLUSTER_URL" -src-count 4)
	bench cluster-connect -scenario connect -conns "$CONNECT_N" -members 100 -concurrency 64
	bench cluster-rooms-30k -scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 30000 \
		-warmup "$WARMUP" -duration "$DURATION"
	if [[ -f $RES/cluster-connect.json && -f $RES/cluster-rooms-30k.json ]]; then
		"$BIN/wsbench" clustercmp -o "$WORK/clustercmp.md" -single-connect "$RES/connect.json" -single-rooms "$RES/rooms-30k.json" \
			-cluster-connect "$RES/cluster-connect.json" -cluster-rooms "$RES/cluster-rooms-30k.json"
	fi
fi

REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
FILES=()
for f in idle connect rooms-10k rooms-30k direct-10k small-rooms small-direct; do
	[[ -f $RES/$f.json ]] && FILES+=("$RES/$f.json")
done
"$BIN/wsbench" report -o "$OUT" \
	-note "$NODES wsnode nodes on 127.0.0.1: \`--msg-rate 0 --log-level warn --max-conns-per-ip 0\`, other flags default; GOMAXPROCS=${NODE_GOMAXPROCS:-the Go default (all cores)} per node (BENCH_NODE_GOMAXPROCS=1 gives one core each, as bench/ab.sh)" \
	-note "redis-server $REDIS_VERSION on a free port, \`--save \"\" --appendonly no\`, shared by the nodes" \
	-note "Redis, the nodes and the load generator all share this machine; nothing else is pinned" \
	-note "wsbench dials from 127.0.0.1-4, spreads every room over all nodes, workers capped at 15,000 sockets each" \
	-note "rate runs: ${WARMUP} warm-up, then a ${DURATION} measured window; idle: ${IDLE_PER_NODE} sockets per node" \
	-note "whole run took $(($(date +%s) - T0)) s; load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the box shows up here)" \
	"${FILES[@]}"
if [[ -f $RES/small-rooms.json && -f $RES/small-direct.json ]]; then
	"$BIN/wsbench" plot -o "$(dirname "$OUT")/small-latency.svg" -title "small rooms and direct messages: worst latency per 100 ms" \
		"small rooms=$RES/small-rooms.json" "small direct=$RES/small-direct.json" >/dev/null
	printf '\n![worst latency per 100 ms of the small-rooms and small-direct windows](small-latency.svg)\n\n' >>"$OUT"
fi
if [[ -f $WORK/clustercmp.md ]]; then
	{
		echo
		echo "Redis Cluster: 3 cluster-enabled redis-servers (no replicas) on the same machine, the nodes in \`--redis-mode cluster\`, the same connect and rooms-30k runs after the single-Redis nodes and Redis were stopped."
		echo
		cat "$WORK/clustercmp.md"
		echo
	} >>"$OUT"
fi
cat "$ROOT/bench/analysis.md" >>"$OUT"
log "wrote $OUT"
