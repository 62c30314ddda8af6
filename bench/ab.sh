#!/usr/bin/env bash
# A/B comparison of two wsnode builds on two clusters running side by side.
#
#   bench/ab.sh [-n PAIRS] [-s SCENARIO] A B
#
# A and B are git revisions of this repository (built from `git archive`) or
# paths to wsnode binaries. Each gets its own redis-server and 3 nodes
# (GOMAXPROCS=1 each, as in run.sh); wsbench then alternates runs between the
# two clusters, A B B A A B ..., so both see the same hour of a shared
# machine. On a 2-core VM whose speed drifts by 10-20 % between hours, this
# shows differences of a few per cent that separate full runs cannot.
#
#   SCENARIO  connect (default: 9,000 connections, concurrency 64) | rooms-10k | rooms-30k
#   PAIRS     runs per build (default 6)
#   AB_ENV_A, AB_ENV_B  extra environment for that cluster's nodes, e.g. AB_ENV_B="GOGC=200"
#                       (to compare settings with the same binary twice)
#
# Prints one line per run and, per build, the mean node CPU per connection or
# delivery, the mean rate, and in how many pairs it was the cheaper one.
# Everything it starts is killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

PAIRS=6 SCENARIO=connect
while getopts "n:s:" opt; do
	case $opt in
	n) PAIRS=$OPTARG ;;
	s) SCENARIO=$OPTARG ;;
	*) die "usage: bench/ab.sh [-n PAIRS] [-s connect|rooms-10k|rooms-30k] A B" ;;
	esac
done
shift $((OPTIND - 1))
(($# == 2)) || die "usage: bench/ab.sh [-n PAIRS] [-s connect|rooms-10k|rooms-30k] A B"

case $SCENARIO in
connect) RUN_ARGS=(-scenario connect -conns 9000 -members 100 -concurrency 64) SETTLE=3 ;;
rooms-10k) RUN_ARGS=(-scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 10000 -warmup 3s -duration 15s) SETTLE=3 ;;
rooms-30k) RUN_ARGS=(-scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 30000 -warmup 3s -duration 15s) SETTLE=3 ;;
*) die "unknown scenario $SCENARIO" ;;
esac

WORK=$(mktemp -d)
NODE_PIDS=()
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
SECRET="ab-$RANDOM$RANDOM"

# binary SPEC OUT: OUT is SPEC itself if it is a file, else SPEC built as a git revision.
binary() {
	local spec=$1 out=$2
	if [[ -f $spec ]]; then
		cp "$spec" "$out"
		return
	fi
	local src=$WORK/src-$(basename "$(dirname "$out")")
	mkdir -p "$src"
	git -C "$ROOT" archive "$spec" | tar -x -C "$src" || die "cannot export revision $spec"
	(cd "$src" && go build -o "$out" ./cmd/wsnode) || die "build of $spec failed"
}

log "building"
(cd "$ROOT" && go build -o "$WORK/wsbench" ./cmd/wsbench) || die "wsbench build failed"
mkdir -p "$WORK/A" "$WORK/B"
binary "$1" "$WORK/A/wsnode"
binary "$2" "$WORK/B/wsnode"

PORTS=($("$WORK/wsbench" freeport 14))
declare -A URLS PIDLIST REDIS
export NODE_GOMAXPROCS=1
# cluster NAME FIRST_PORT_INDEX: redis-server and 3 nodes of $WORK/NAME/wsnode,
# started like run.sh's, with AB_ENV_NAME in their environment.
cluster() {
	local name=$1 p=$2 i urls=() ready=() env_var=AB_ENV_$1
	REDIS[$name]=${PORTS[$p]}
	start_redis "${PORTS[$p]}" "$WORK/redis-$name.log"
	BIN=$WORK/$name NODE_ENV=${!env_var:-} NODE_PIDS=()
	for i in 1 2 3; do
		local ws=${PORTS[$((p + 2 * i - 1))]} admin=${PORTS[$((p + 2 * i))]}
		start_node "$name$i" "$ws" "$admin" "redis://127.0.0.1:${PORTS[$p]}/0" "$SECRET" \
			"$WORK/node-$name$i.log" --max-conns-per-ip 0
		urls+=("ws://127.0.0.1:$ws/ws")
		ready+=("http://127.0.0.1:$admin/readyz")
	done
	"$WORK/wsbench" waitready -timeout 20s "${ready[@]}" || die "cluster $name not ready"
	URLS[$name]=$(join_by , "${urls[@]}")
	PIDLIST[$name]=$(join_by , "${NODE_PIDS[@]}")
}
cluster A 0
cluster B 7
log "A: $1 ${AB_ENV_A:-}; B: $2 ${AB_ENV_B:-}; $PAIRS pairs of $SCENARIO"

# run NAME: one wsbench run against cluster NAME; prints "NAME rate us".
run() {
	local name=$1 out
	out=$("$WORK/wsbench" -urls "${URLS[$name]}" -pids "${PIDLIST[$name]}" -secret "$SECRET" \
		-redis-url "redis://127.0.0.1:${REDIS[$name]}/0" -src-count 4 "${RUN_ARGS[@]}" 2>&1) ||
		{ printf '%s\n' "$out" | tail -5 >&2; die "wsbench against $name failed"; }
	local rate us
	if [[ $SCENARIO == connect ]]; then
		rate=$(printf '%s\n' "$out" | sed -n 's/^connect: \([0-9]*\) conn\/s.*/\1/p' | tail -1)
	else
		rate=$(printf '%s\n' "$out" | sed -n 's/.*delivered \([0-9]*\)\/s.*/\1/p' | tail -1)
	fi
	us=$(printf '%s\n' "$out" | sed -n 's/^nodes: cpu [0-9.]*s (\([0-9.]*\) us.*/\1/p')
	[[ -n $rate && -n $us ]] || { printf '%s\n' "$out" | tail -5 >&2; die "cannot parse wsbench output"; }
	echo "$name $rate $us"
	sleep "$SETTLE" # the nodes unregister the closed sockets
}

RESULTS=$WORK/results
for i in $(seq 1 "$PAIRS"); do
	if ((i % 2)); then order=(A B); else order=(B A); fi
	for name in "${order[@]}"; do
		line=$(run "$name")
		echo "pair $i $line" | tee -a "$RESULTS" >&2
	done
done

unit=$([[ $SCENARIO == connect ]] && echo "conn/s, node us/connection" || echo "deliveries/s, node us/delivery")
awk -v unit="$unit" '
	{ rate[$3] += $4; us[$3] += $5; n[$3]++; pair_us[$2, $3] = $5 }
	END {
		for (p = 1; (p, "A") in pair_us; p++) {
			if (pair_us[p, "A"] < pair_us[p, "B"]) win["A"]++
			else if (pair_us[p, "B"] < pair_us[p, "A"]) win["B"]++
		}
		print "means (" unit "):"
		for (k = 0; k < 2; k++) {
			name = k ? "B" : "A"
			printf "  %s: %.0f, %.1f us; cheaper in %d of %d pairs\n", name, rate[name] / n[name], us[name] / n[name], win[name], n[name]
		}
	}' "$RESULTS"
