#!/usr/bin/env bash
# The soak test of issue 13 (not in CI): its own redis-server, 3 nodes with
# room history on (100 messages, 5m), and `wsbench churn`: 3,000 receivers in
# 100 history rooms that rejoin with "since" after every close, 50 of their
# sockets closed per second, publishers offering 5,000 deliveries/s. Every
# SOAK_RESTART_EVERY one node in turn gets SIGTERM and is started again with
# the same id. Every 10 s each node's /metrics is sampled.
#
# It must hold, and the script exits 1 otherwise:
#   - 0 lost and 0 duplicated messages for the recovering receivers;
#   - the cluster's goroutines, and its heap after GC (the lowest total of
#     each minute), within +-10 % between minute 2 and the last minute;
#   - no orphan keys in Redis once the clients are gone: no connection,
#     user, room, node-connection or activity entry left.
# It prints a summary and writes bench/soak.svg (heap, goroutines and
# deliveries/s over time) and bench/soak-samples.tsv.
#
# Environment: SOAK_DURATION (10m), SOAK_RESTART_EVERY (120, seconds),
# SOAK_CLIENTS (3000), SOAK_ROOMS (100), SOAK_RATE (5000), SOAK_RECONNECTS (50),
# SOAK_OUT (bench/). A rolling restart under the rooms-10k load (issue 13):
#   SOAK_ROOMS=30 SOAK_RATE=10000 SOAK_RECONNECTS=0 SOAK_RESTART_EVERY=20 SOAK_DURATION=80s \
#   SOAK_OUT=/tmp/rr bench/soak.sh
# (too short for the flatness check, which then reports so and fails; the
# loss, duplicate and orphan counts are what it is for).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

DURATION=${SOAK_DURATION:-10m}
RESTART_EVERY=${SOAK_RESTART_EVERY:-120}
CLIENTS=${SOAK_CLIENTS:-3000}
RATE=${SOAK_RATE:-5000}
RECONNECTS=${SOAK_RECONNECTS:-50}
ROOMS=${SOAK_ROOMS:-100}
OUT=${SOAK_OUT:-$ROOT/bench}
SECRET="soak-$RANDOM$RANDOM"

WORK=$(mktemp -d)
BIN=$WORK
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

log "building wsnode and wsbench"
build "$ROOT" "$BIN"
PORTS=($("$BIN/wsbench" freeport 7))
REDIS_PORT=${PORTS[0]}
start_redis "$REDIS_PORT" "$WORK/redis.log"

declare -a NODE_PID WS ADMIN
# node I: starts node I (0-based) with its fixed id and ports.
node() {
	local i=$1
	NODE_PIDS=()
	start_node "soak-n$((i + 1))" "${WS[$i]}" "${ADMIN[$i]}" "redis://127.0.0.1:$REDIS_PORT/0" "$SECRET" \
		"$WORK/node$((i + 1)).log" --max-conns-per-ip 0 --history-size 100 --history-ttl 5m
	NODE_PID[$i]=${NODE_PIDS[0]}
}
URLS=()
for i in 0 1 2; do
	WS[$i]=${PORTS[$((1 + 2 * i))]} ADMIN[$i]=${PORTS[$((2 + 2 * i))]}
	node "$i"
	URLS+=("ws://127.0.0.1:${WS[$i]}/ws")
done
ready() { "$BIN/wsbench" waitready -timeout 20s "http://127.0.0.1:${ADMIN[$1]}/readyz"; }
for i in 0 1 2; do ready "$i" || die "node $((i + 1)) not ready"; done

log "churn: $CLIENTS receivers in $ROOMS rooms, $RATE deliveries/s, $RECONNECTS reconnects/s, for $DURATION; a node restarted every ${RESTART_EVERY}s"
"$BIN/wsbench" churn -urls "$(join_by , "${URLS[@]}")" -secret "$SECRET" -clients "$CLIENTS" -rooms "$ROOMS" \
	-rate "$RATE" -reconnects "$RECONNECTS" -duration "$DURATION" >"$WORK/churn.out" 2>&1 &
CHURN=$!
PIDS+=("$CHURN")

SAMPLES=$WORK/samples.tsv
: >"$SAMPLES"
T0=$(date +%s)
next_restart=$RESTART_EVERY victim=0 last_line=
while kill -0 "$CHURN" 2>/dev/null; do
	sleep 10
	kill -0 "$CHURN" 2>/dev/null || break # samples only while the clients run
	t=$(($(date +%s) - T0))
	for i in 0 1 2; do
		m=$(curl -sf --max-time 2 "http://127.0.0.1:${ADMIN[$i]}/metrics" || true)
		[[ -n $m ]] || continue
		awk -v t="$t" -v n="n$((i + 1))" '
			$1 == "go_goroutines" { print t, "goroutines", n, $2 }
			$1 == "go_memstats_heap_inuse_bytes" { printf "%s heap_mib %s %.2f\n", t, n, $2 / 1048576 }' <<<"$m" >>"$SAMPLES"
	done
	line=$(grep '^t=' "$WORK/churn.out" | tail -1 || true)
	if [[ -n $line && $line != "$last_line" ]]; then
		last_line=$line
		awk -v t="$t" '{ for (i = 1; i < NF; i++) if ($i == "deliveries/s") print t, "deliveries", "all", $(i + 1) }' <<<"$line" >>"$SAMPLES"
		log "$line"
	fi
	if ((t >= next_restart)) && kill -0 "$CHURN" 2>/dev/null; then
		log "restarting node $((victim + 1)) (SIGTERM, then the same id)"
		kill -TERM "${NODE_PID[$victim]}"
		wait "${NODE_PID[$victim]}" 2>/dev/null || true
		node "$victim"
		ready "$victim" || die "node $((victim + 1)) did not come back"
		victim=$(((victim + 1) % 3)) next_restart=$((next_restart + RESTART_EVERY))
	fi
done
CHURN_RC=0
wait "$CHURN" || CHURN_RC=$?
cat "$WORK/churn.out"

# The nodes unregister the closed sockets; then nothing of them may be left.
sleep 10
rc() { redis-cli -p "$REDIS_PORT" "$@"; }
orphans=0
for pattern in 'ws:conn:*' 'ws:connrooms:*' 'ws:user:*' 'ws:room:*' 'ws:roommeta:*' 'ws:nodeconns:*'; do
	n=$(rc --scan --pattern "$pattern" | wc -l)
	if ((n > 0)); then
		log "orphans: $n keys match $pattern, e.g. $(rc --scan --pattern "$pattern" | head -3 | tr '\n' ' ')"
		orphans=$((orphans + n))
	fi
done
for key in ws:conns ws:users ws:rooms; do
	n=$(rc scard "$key")
	((n == 0)) || { log "orphans: $key holds $n members"; orphans=$((orphans + n)); }
done
n=$(rc hlen ws:activity)
((n == 0)) || { log "orphans: ws:activity holds $n entries"; orphans=$((orphans + n)); }
log "orphan entries in Redis: $orphans"

mkdir -p "$OUT"
cp "$SAMPLES" "$OUT/soak-samples.tsv"
FLAT_RC=0
"$BIN/wsbench" soakplot -o "$OUT/soak.svg" "$SAMPLES" || FLAT_RC=$?
log "wrote $OUT/soak.svg and $OUT/soak-samples.tsv"
((CHURN_RC == 0)) || log "FAIL: lost or duplicated messages (see the summary above)"
((FLAT_RC == 0)) || log "FAIL: goroutines or heap not flat"
((orphans == 0)) || log "FAIL: orphan entries in Redis"
((CHURN_RC == 0 && FLAT_RC == 0 && orphans == 0)) || exit 1
log "soak OK"
