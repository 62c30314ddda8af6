#!/usr/bin/env bash
# The Redis tier's capacity model (issue 17): what one connect, join, room
# message and direct message cost Redis, on one redis-server ("single") and
# on a Redis Cluster of 3 primaries without replicas ("cluster", the nodes in
# --redis-mode cluster, sharded pub/sub). For each topology: 3 nodes, then
# wsbench runs connect without and with a join, rooms of 100, rooms of 1 and
# direct messages; Redis CPU is used_cpu_user+used_cpu_sys of every
# primary over each run's window. Writes bench/redis-tier.md (a table from
# "wsbench capacity"). About 4 minutes on a 2-core machine; everything it
# starts is killed on exit. Not in CI.
#
# Environment knobs:
#   TIER_OUT        output file                  (bench/redis-tier.md)
#   TIER_DURATION   window per message run       (15s)
#   TIER_CONNS      sockets per connect run      (3000)
#   TIER_MODES      topologies to run            ("single cluster")
#   BENCH_NODE_GOMAXPROCS  GOMAXPROCS per node   (1, as bench/run.sh)
#   BENCH_KEEP      directory to keep the JSON results and logs in (none)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

OUT=${TIER_OUT:-$ROOT/bench/redis-tier.md}
DURATION=${TIER_DURATION:-15s}
CONNS=${TIER_CONNS:-3000}
MODES=${TIER_MODES:-single cluster}
NODES=3
export NODE_GOMAXPROCS=${BENCH_NODE_GOMAXPROCS-1}
SECRET="bench-$RANDOM$RANDOM"

WORK=$(mktemp -d)
BIN=$WORK
finish() {
	cleanup
	if [[ -n ${BENCH_KEEP:-} ]]; then
		mkdir -p "$BENCH_KEEP" && cp -r "$WORK"/res-* "$WORK"/*.log "$BENCH_KEEP"/ 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "building wsnode and wsbench"
build "$ROOT" "$BIN"

# run_mode MODE: Redis, nodes and the five runs, JSON into $WORK/res-MODE.
run_mode() {
	local mode=$1 url res=$WORK/res-$1 i
	mkdir -p "$res"
	NODE_PIDS=()
	if [[ $mode == cluster ]]; then
		start_cluster "$WORK"
		url=$CLUSTER_URL
	else
		local p
		p=$("$BIN/wsbench" freeport 1)
		start_redis "$p" "$WORK/redis-single.log"
		url="redis://127.0.0.1:$p/0"
	fi
	local ports urls=() ready=()
	ports=($("$BIN/wsbench" freeport $((2 * NODES))))
	for ((i = 0; i < NODES; i++)); do
		start_node "tier-$mode-n$i" "${ports[2 * i]}" "${ports[2 * i + 1]}" "$url" "$SECRET" "$WORK/node-$mode-$i.log" \
			--max-conns-per-ip 0 --redis-mode "$mode"
		urls+=("ws://127.0.0.1:${ports[2 * i]}/ws")
		ready+=("http://127.0.0.1:${ports[2 * i + 1]}/readyz")
	done
	"$BIN/wsbench" waitready -timeout 30s "${ready[@]}" || { tail -n 20 "$WORK"/node-"$mode"-*.log >&2; die "$mode: nodes not ready"; }
	log "$mode: nodes ready on $url"
	local common=(-urls "$(join_by , "${urls[@]}")" -secret "$SECRET" -pids "$(join_by , "${NODE_PIDS[@]}")"
		-redis-url "$url" -src-count 4)
	one() {
		local name=$1
		shift
		log "$mode: $name"
		"$BIN/wsbench" "${common[@]}" -label "$mode $name" -out "$res/$name.json" "$@" || log "wsbench $name exited non-zero"
		for pid in "${NODE_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null || { tail -n 30 "$WORK"/node-"$mode"-*.log >&2; die "$mode: node pid $pid died during $name"; }
		done
		sleep 3
	}
	one connect-nojoin -scenario connect -conns "$CONNS" -members 1 -no-join -concurrency 64
	one connect -scenario connect -conns "$CONNS" -members 1 -concurrency 64
	one rooms -scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 20000 -warmup 3s -duration "$DURATION"
	one small-rooms -scenario rooms -rooms 3000 -members 1 -pubs 1 -payload 128 -rate 3000 -warmup 3s -duration "$DURATION"
	one small-direct -scenario direct -conns 3000 -pubs 3000 -payload 128 -rate 3000 -warmup 3s -duration "$DURATION"
	cleanup # nodes and Redis of this mode
}

COLS=()
for mode in $MODES; do
	run_mode "$mode"
	COLS+=("$mode=$WORK/res-$mode")
done
REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
{
	echo "# Redis tier: cost per operation"
	echo
	echo "Written by \`bench/redis-tier.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1));"
	echo "redis-server $REDIS_VERSION; $NODES wsnode nodes with GOMAXPROCS=${NODE_GOMAXPROCS:-default}, the load generator on the same machine."
	echo "single: one redis-server. cluster: 3 primaries, no replicas, \`--redis-mode cluster\`. Redis CPU is summed over every primary"
	echo "over each run's window and divided by its connects or published messages; a join is a connect with one join minus one without."
	echo "Message runs: rooms of 100 at 20,000 deliveries/s, rooms of 1 and direct messages at 3,000/s, ${DURATION} windows; connects: $CONNS sockets."
	echo "The run took $(($(date +%s) - T0)) s; load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	"$BIN/wsbench" capacity "${COLS[@]}"
} >"$OUT"
log "wrote $OUT"
