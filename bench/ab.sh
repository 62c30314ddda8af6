#!/usr/bin/env bash
# A/B comparison of two wsnode builds on two clusters running side by side.
#
#   bench/ab.sh [-n PAIRS] [-s SCENARIO] A B
#
# A and B are git revisions of this repository (built from `git archive`) or
# paths to wsnode binaries. Each gets its own redis-server and 3 nodes
# (GOMAXPROCS=1 each, as in run.sh, unless AB_NODE_GOMAXPROCS says
# otherwise); wsbench then alternates runs between the two clusters, A B B A A B ..., so both see the same hour of a shared
# machine. On a 2-core VM whose speed drifts by 10-20 % between hours, this
# shows differences of a few per cent that separate full runs cannot.
#
#   SCENARIO  connect (default: 9,000 connections, concurrency 64) | rooms-10k | rooms-30k
#             | noisy (noisy neighbours: a probe client on node 1 and one on node 2
#             send a room message every 50 ms and time its round trip, for
#             NOISY_DURATION (10s) without noise, then again while 50
#             "wsbench noise" clients on node 1 send malformed frames as fast
#             as it takes them)
#             | small-rooms (3,000 rooms of 1 receiver + 1 publisher, 5,000 msg/s, 20 s)
#             | small-direct (3,000 receivers, 3,000 senders of direct messages, 5,000/s, 20 s)
#   PAIRS     runs per build (default 6)
#   AB_ENV_A, AB_ENV_B  extra environment for that cluster's nodes, e.g. AB_ENV_B="GOGC=200"
#                       (to compare settings with the same binary twice)
#   AB_NODE_FLAGS       extra flags for every node, e.g. "--msg-rate 100" (the
#                       nodes run with --msg-rate 0 otherwise, as in run.sh)
#   AB_REDIS_A, AB_REDIS_B  that cluster's Redis: single (default: one redis-server) or
#                       cluster (3 cluster-enabled redis-servers without replicas, as in
#                       run.sh's cluster phase, the nodes in --redis-mode cluster), e.g.
#                       AB_REDIS_B=cluster bench/ab.sh HEAD HEAD compares the Redis tiers
#   AB_NODE_GOMAXPROCS  GOMAXPROCS of every node (1, as in run.sh; empty = Go's default)
#   AB_KEEP             a directory that keeps every run's JSON result (pairN-NAME.json), for
#                       "wsbench plot"
#
# Prints one line per run and, per build, the mean node CPU per connection or
# delivery, the mean rate, in how many pairs it was the cheaper one, and the
# mean Redis CPU per connection or delivery (redis=, from INFO); for
# noisy, the probes' p50/p99/max in ms and node 1's CPU seconds, per phase.
# Everything it starts is killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"

PAIRS=6 SCENARIO=connect
while getopts "n:s:" opt; do
	case $opt in
	n) PAIRS=$OPTARG ;;
	s) SCENARIO=$OPTARG ;;
	*) die "usage: bench/ab.sh [-n PAIRS] [-s connect|rooms-10k|rooms-30k|noisy|small-rooms|small-direct] A B" ;;
	esac
done
shift $((OPTIND - 1))
(($# == 2)) || die "usage: bench/ab.sh [-n PAIRS] [-s connect|rooms-10k|rooms-30k|noisy|small-rooms|small-direct] A B"

case $SCENARIO in
connect) RUN_ARGS=(-scenario connect -conns 9000 -members 100 -concurrency 64) SETTLE=3 ;;
rooms-10k) RUN_ARGS=(-scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 10000 -warmup 3s -duration 15s) SETTLE=3 ;;
rooms-30k) RUN_ARGS=(-scenario rooms -rooms 30 -members 100 -pubs 1 -payload 128 -rate 30000 -warmup 3s -duration 15s) SETTLE=3 ;;
small-rooms) RUN_ARGS=(-scenario rooms -rooms 3000 -members 1 -pubs 1 -payload 128 -rate 5000 -warmup 3s -duration 20s) SETTLE=4 ;;
small-direct) RUN_ARGS=(-scenario direct -conns 3000 -pubs 3000 -payload 128 -rate 5000 -warmup 3s -duration 20s) SETTLE=4 ;;
noisy) RUN_ARGS=() SETTLE=4 NOISY_DURATION=${NOISY_DURATION:-10s} ;;
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
declare -A URLS PIDLIST REDIS_URL
export NODE_GOMAXPROCS=${AB_NODE_GOMAXPROCS-1}
# cluster NAME FIRST_PORT_INDEX: redis-server and 3 nodes of $WORK/NAME/wsnode,
# started like run.sh's, with AB_ENV_NAME in their environment.
cluster() {
	local name=$1 p=$2 i urls=() ready=() env_var=AB_ENV_$1 redis_var=AB_REDIS_$1 mode=()
	case ${!redis_var:-single} in
	single)
		REDIS_URL[$name]=redis://127.0.0.1:${PORTS[$p]}/0
		start_redis "${PORTS[$p]}" "$WORK/redis-$name.log"
		;;
	cluster)
		BIN=$WORK start_cluster "$WORK/redis-$name"
		REDIS_URL[$name]=$CLUSTER_URL
		mode=(--redis-mode cluster)
		;;
	*) die "$redis_var: single or cluster, not ${!redis_var}" ;;
	esac
	BIN=$WORK/$name NODE_ENV=${!env_var:-} NODE_PIDS=()
	for i in 1 2 3; do
		local ws=${PORTS[$((p + 2 * i - 1))]} admin=${PORTS[$((p + 2 * i))]}
		# shellcheck disable=SC2086 # AB_NODE_FLAGS is a list of flags
		start_node "$name$i" "$ws" "$admin" "${REDIS_URL[$name]}" "$SECRET" \
			"$WORK/node-$name$i.log" --max-conns-per-ip 0 "${mode[@]}" ${AB_NODE_FLAGS:-}
		urls+=("ws://127.0.0.1:$ws/ws")
		ready+=("http://127.0.0.1:$admin/readyz")
	done
	"$WORK/wsbench" waitready -timeout 30s "${ready[@]}" || die "cluster $name not ready"
	URLS[$name]=$(join_by , "${urls[@]}")
	PIDLIST[$name]=$(join_by , "${NODE_PIDS[@]}")
}
cluster A 0
cluster B 7
log "A: $1 ${AB_ENV_A:-} (Redis ${AB_REDIS_A:-single}); B: $2 ${AB_ENV_B:-} (Redis ${AB_REDIS_B:-single}); nodes: ${AB_NODE_FLAGS:-default flags}; $PAIRS pairs of $SCENARIO"

# run_noisy NAME: the noisy scenario against cluster NAME; prints "NAME"
# and, for the quiet and then the noisy phase, the probe on node 1's
# p50 p99 max, the probe on node 2's p99 (ms) and node 1's CPU seconds.
run_noisy() {
	local name=$1 urls probe_urls pids phase out noise line fields=()
	IFS=, read -r -a urls <<<"${URLS[$name]}"
	probe_urls="${urls[0]},${urls[1]}"
	pids=${PIDLIST[$name]}
	for phase in quiet noisy; do
		noise=
		if [[ $phase == noisy ]]; then
			"$WORK/wsbench" noise -url "${urls[0]}" -secret "$SECRET" -clients 50 >"$WORK/noise-$name.out" 2>&1 &
			noise=$!
			PIDS+=("$noise")
			sleep 2
		fi
		out=$("$WORK/wsbench" probe -urls "$probe_urls" -secret "$SECRET" -pids "$pids" -label "$phase" \
			-duration "$NOISY_DURATION" 2>&1) || { printf '%s\n' "$out" >&2; die "wsbench probe against $name failed"; }
		if [[ -n $noise ]]; then
			kill "$noise" 2>/dev/null || true
			wait "$noise" 2>/dev/null || true
		fi
		printf '%s\n' "$out" | sed "s/^/  $name /" >&2
		line=$(printf '%s\n' "$out" | awk '
			/^probe/ { n++; if (n == 1) { p50 = $9; p99 = $11; mx = $13 } else { o99 = $11 } }
			/^cpu/ { cpu = $3 }
			END { print p50, p99, mx, o99, cpu }')
		fields+=("$line")
	done
	echo "$name ${fields[*]}"
}

# run NAME PAIR: one wsbench run against cluster NAME; prints "NAME rate us"
# and, for delivery scenarios, "p99 p99.9 max" in ms.
run() {
	local name=$1 pair=$2 out keep=()
	if [[ $SCENARIO == noisy ]]; then
		run_noisy "$name"
		sleep "$SETTLE"
		return
	fi
	[[ -n ${AB_KEEP:-} ]] && keep=(-out "$AB_KEEP/pair$pair-$name.json")
	out=$("$WORK/wsbench" -urls "${URLS[$name]}" -pids "${PIDLIST[$name]}" -secret "$SECRET" \
		-redis-url "${REDIS_URL[$name]}" -src-count 4 "${RUN_ARGS[@]}" "${keep[@]}" 2>&1) ||
		{ printf '%s\n' "$out" | tail -5 >&2; die "wsbench against $name failed"; }
	local rate us
	if [[ $SCENARIO == connect ]]; then
		rate=$(printf '%s\n' "$out" | sed -n 's/^connect: \([0-9]*\) conn\/s.*/\1/p' | tail -1)
	else
		rate=$(printf '%s\n' "$out" | sed -n 's/.*delivered \([0-9]*\)\/s.*/\1/p' | tail -1)
	fi
	us=$(printf '%s\n' "$out" | sed -n 's/^nodes: cpu [0-9.]*s (\([0-9.]*\) us.*/\1/p')
	[[ -n $rate && -n $us ]] || { printf '%s\n' "$out" | tail -5 >&2; die "cannot parse wsbench output"; }
	local lat=
	[[ $SCENARIO != connect ]] && lat=$(printf '%s\n' "$out" | sed -n 's/^latency .* p99 \([0-9.]*\) p99.9 \([0-9.]*\) max \([0-9.]*\) ms.*/\1 \2 \3/p')
	# Redis CPU per connection or delivery, in the unit of the node figure:
	# Redis's CPU seconds (INFO, all primaries) scaled by node us / node seconds.
	local rcpu ncpu red=
	rcpu=$(printf '%s\n' "$out" | sed -n 's/^redis: .* cpu \([0-9.]*\)s.*/\1/p' | tail -1)
	ncpu=$(printf '%s\n' "$out" | sed -n 's/^nodes: cpu \([0-9.]*\)s .*/\1/p' | tail -1)
	[[ -n $rcpu && -n $ncpu ]] && red=$(awk -v r="$rcpu" -v n="$ncpu" -v u="$us" 'BEGIN { if (n > 0) printf "redis=%.1f", r * u / n }')
	echo "$name $rate $us $lat $red"
	sleep "$SETTLE" # the nodes unregister the closed sockets
}

RESULTS=$WORK/results
[[ -n ${AB_KEEP:-} ]] && mkdir -p "$AB_KEEP"
for i in $(seq 1 "$PAIRS"); do
	if ((i % 2)); then order=(A B); else order=(B A); fi
	for name in "${order[@]}"; do
		line=$(run "$name" "$i")
		echo "pair $i $line" | tee -a "$RESULTS" >&2
	done
done

if [[ $SCENARIO == noisy ]]; then
	awk '
		{ n[$3]++; for (i = 4; i <= NF; i++) sum[$3, i] += $i }
		END {
			print "means (ms; cpu: node 1 CPU seconds per window), quiet | noisy:"
			print "       node1 p50  p99    max  node2 p99  cpu | node1 p50    p99    max  node2 p99   cpu"
			for (k = 0; k < 2; k++) {
				name = k ? "B" : "A"
				if (!n[name]) continue
				printf "  %s: %9.2f %5.2f %6.2f %9.2f %5.2f | %9.2f %6.2f %6.2f %9.2f %5.2f\n", name,
					sum[name, 4] / n[name], sum[name, 5] / n[name], sum[name, 6] / n[name], sum[name, 7] / n[name], sum[name, 8] / n[name],
					sum[name, 9] / n[name], sum[name, 10] / n[name], sum[name, 11] / n[name], sum[name, 12] / n[name], sum[name, 13] / n[name]
			}
		}' "$RESULTS"
	exit 0
fi
unit=$([[ $SCENARIO == connect ]] && echo "conn/s, node us/connection" || echo "deliveries/s, node us/delivery")
awk -v unit="$unit" '
	{ rate[$3] += $4; us[$3] += $5; n[$3]++; pair_us[$2, $3] = $5; pair_rate[$2, $3] = $4
	  if ($NF ~ /^redis=/) { red[$3] += substr($NF, 7); nred[$3]++ }
	  if (NF >= 8) { lat[$3] = 1; p99[$3] += $6; p999[$3] += $7; mx[$3] += $8; if ($8 > worst[$3]) worst[$3] = $8 } }
	END {
		for (p = 1; (p, "A") in pair_us; p++) {
			if (pair_us[p, "A"] < pair_us[p, "B"]) win["A"]++
			else if (pair_us[p, "B"] < pair_us[p, "A"]) win["B"]++
		}
		print "means (" unit "):"
		for (k = 0; k < 2; k++) {
			name = k ? "B" : "A"
			printf "  %s: %.0f, %.1f us; cheaper in %d of %d pairs", name, rate[name] / n[name], us[name] / n[name], win[name], n[name]
			if (nred[name]) printf "; Redis CPU %.1f us per unit", red[name] / nred[name]
			if (lat[name]) printf "; latency means p99 %.2f p99.9 %.2f max %.1f ms, worst max %.1f ms", p99[name] / n[name], p999[name] / n[name], mx[name] / n[name], worst[name]
			printf "\n"
		}
		# Per-pair ratios: each pair ran within a minute, so its ratio is less
		# exposed to the drift of the machine over the whole run than the means.
		np = 0
		for (p = 1; (p, "A") in pair_us && (p, "B") in pair_us; p++) {
			np++
			ru[np] = pair_us[p, "B"] / pair_us[p, "A"]
			rr[np] = pair_rate[p, "B"] / pair_rate[p, "A"]
		}
		if (np > 0) printf "B / A per pair, median (range): node us %.3f (%.3f-%.3f), rate %.3f (%.3f-%.3f)\n", median(ru, np), lo(ru, np), hi(ru, np), median(rr, np), lo(rr, np), hi(rr, np)
	}
	function median(a, n,   i, j, t, b) {
		for (i = 1; i <= n; i++) b[i] = a[i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
		return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
	}
	function lo(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
	function hi(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }' "$RESULTS"
