# Shared helpers for bench/run.sh and bench/smoke.sh; source it, do not run it.
# Every process started here is recorded in PIDS and killed by cleanup.

PIDS=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

die() { log "FAIL: $*"; exit 1; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}

# build ROOT OUTDIR: builds wsnode and wsbench into OUTDIR.
build() {
	local root=$1 out=$2
	(cd "$root" && go build -o "$out/wsnode" ./cmd/wsnode && go build -o "$out/wsbench" ./cmd/wsbench) ||
		die "build failed"
}

# start_redis PORT LOGFILE: a throw-away redis-server without persistence.
start_redis() {
	local port=$1 logf=$2
	command -v redis-server >/dev/null || die "redis-server not installed"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--protected-mode yes --loglevel warning >"$logf" 2>&1 &
	PIDS+=($!)
	REDIS_PID=$!
	local i
	for i in $(seq 1 100); do
		if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
			return 0
		fi
		sleep 0.05
	done
	die "redis-server on port $port did not start (see $logf)"
}

# start_cluster DIR: 3 cluster-enabled redis-servers (files and logs in
# DIR) joined without replicas; sets CLUSTER_URL (seeds, ParseClusterURL
# form). Needs $BIN/wsbench for free ports.
start_cluster() {
	local dir=$1 ports addrs=() i
	ports=($("$BIN/wsbench" freeport 6))
	for i in 0 1 2; do
		mkdir -p "$dir/rc$i"
		redis-server --port "${ports[i]}" --bind 127.0.0.1 --save "" --appendonly no \
			--cluster-enabled yes --cluster-port "${ports[i + 3]}" --cluster-config-file nodes.conf \
			--dir "$dir/rc$i" --protected-mode yes --loglevel warning >"$dir/redis-c$i.log" 2>&1 &
		PIDS+=($!)
		addrs+=("127.0.0.1:${ports[i]}")
	done
	for i in 0 1 2; do
		for _ in $(seq 1 100); do
			redis-cli -p "${ports[i]}" ping 2>/dev/null | grep -q PONG && break
			sleep 0.05
		done
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1 ||
		die "redis-cli --cluster create failed (see $dir/cluster-create.log)"
	for i in 0 1 2; do
		for _ in $(seq 1 200); do
			redis-cli -p "${ports[i]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
			sleep 0.1
		done
	done
	CLUSTER_URL="redis://${addrs[0]}?addr=${addrs[1]}&addr=${addrs[2]}"
}

# start_node NAME WSPORT ADMINPORT REDISURL SECRET LOGFILE [EXTRA FLAGS...]:
# starts $BIN/wsnode and appends its PID to NODE_PIDS. NODE_GOMAXPROCS sets
# its GOMAXPROCS; NODE_ENV adds VAR=value words to its environment.
start_node() {
	local name=$1 port=$2 admin=$3 redis=$4 secret=$5 logf=$6
	shift 6
	# shellcheck disable=SC2086 # NODE_ENV is a list of VAR=value words
	env GOMAXPROCS=${NODE_GOMAXPROCS:-} ${NODE_ENV:-} "$BIN/wsnode" --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" \
		--redis-url "$redis" --node-id "$name" --jwt-secret "$secret" \
		--msg-rate 0 --log-level warn "$@" >"$logf" 2>&1 &
	PIDS+=($!)
	NODE_PIDS+=($!)
}

# join_by SEP ITEMS...: prints the items joined by SEP.
join_by() {
	local sep=$1
	shift
	local out=$1
	shift
	local x
	for x in "$@"; do out+="$sep$x"; done
	printf '%s' "$out"
}
