#!/usr/bin/env bash
# deploy/local-cluster.sh: a wsnode cluster on one machine, without Docker.
#
# Starts a private redis-server (or, in cluster mode, a Redis Cluster of 3
# primaries and 3 replicas), NODES wsnode nodes and haproxy, all on
# loopback ports that were free, with the haproxy config rendered from
# deploy/haproxy.cfg (its bind and server lines replaced, Docker's resolver
# dropped). It builds wsnode once, waits until every node's /readyz answers
# 200 and haproxy routes, prints the client URL, the admin URLs, the admin
# key and a token, and runs until Ctrl-C (or SIGTERM), which drains the
# nodes and stops everything it started.
#
#   deploy/local-cluster.sh [wsnode flags...]    the flags go to every node
#
# Environment:
#   NODES=3             number of nodes
#   LB_PORT=            haproxy's client port (default: a free one)
#   WS_REDIS_URL=       use this Redis instead of starting redis-server
#   WS_REDIS_MODE=      single (default) or cluster: start a Redis Cluster (3 primaries,
#                       3 replicas, redis-cli --cluster create) and run the nodes with
#                       --redis-mode cluster; --redis-mode on the command line does the same.
#                       sentinel needs WS_REDIS_URL naming the sentinels
#   WS_JWT_SECRET=      token secret (default: a random one, printed)
#   WS_ADMIN_KEY=       admin key (default: a random one)
#   TOKEN_ROOMS=        the "rooms" claim of the printed tokens (default lobby,team-*;
#                       the nodes run --rooms-policy claim unless WS_ROOMS_POLICY says otherwise)
#   WS_...=             any other env twin of a wsnode flag reaches every node
#   WSNODE_BIN=         a prebuilt wsnode binary instead of building one
#   KEEP_WORKDIR=1      keep the temporary directory with the logs
#
# Needs bash, go (unless WSNODE_BIN), redis-server (unless WS_REDIS_URL) and
# haproxy. integration/localcluster_test.go runs this script.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${NODES:-3}
[[ $NODES =~ ^[1-9][0-9]*$ ]] || { echo "NODES must be a positive number, not '$NODES'" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wsnode-local.XXXXXX")

REDIS_PIDS=() LB_PID="" NODE_PIDS=() FORCE=0
# Children run in their own session, so a Ctrl-C in the terminal reaches
# this script only, and cleanup stops them in order: haproxy, then the
# nodes (they drain while Redis is still up), then Redis. They are still
# this shell's children, so it reaps them.
SETSID=()
command -v setsid >/dev/null && SETSID=(setsid)

say() { printf '%s\n' "$*" >&2; }

# stop_pids SECONDS PIDS...: SIGTERM, then SIGKILL after SECONDS (at once
# after a second Ctrl-C); reaps them.
stop_pids() {
	local grace=$1 pid i
	shift
	(($#)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	for ((i = 0; i < grace * 10 && !FORCE; i++)); do
		local alive=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	kill -KILL "$@" 2>/dev/null || true
	for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

cleanup() {
	local code=$?
	trap - EXIT
	trap 'FORCE=1' INT TERM HUP
	say "stopping (Ctrl-C again to kill at once)"
	[[ -n $LB_PID ]] && stop_pids 5 "$LB_PID"
	((${#NODE_PIDS[@]})) && stop_pids 20 "${NODE_PIDS[@]}"
	((${#REDIS_PIDS[@]})) && stop_pids 5 "${REDIS_PIDS[@]}"
	if [[ ${KEEP_WORKDIR:-} == 1 ]]; then
		say "logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

die() {
	say "local-cluster: $*"
	exit 1
}

# show_log FILE: the end of a child's log, after a failure.
show_log() { say "--- $1 ---"; tail -n 20 "$1" >&2 || true; }

# free_port VAR: sets VAR to a loopback port nobody listens on, below the
# kernel's ephemeral range (so no outgoing connection takes it meanwhile),
# and not handed out before by this script.
TAKEN=" "
free_port() {
	local lo=20000 hi=32768 p i
	if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
		read -r hi _ </proc/sys/net/ipv4/ip_local_port_range
	fi
	((hi - lo >= 1000)) || { lo=40000 hi=60000; }
	for ((i = 0; i < 200; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		[[ $TAKEN == *" $p "* ]] && continue
		if { exec 3<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
			exec 3>&- 3<&- # someone listens there
			continue
		fi
		TAKEN+="$p "
		printf -v "$1" '%s' "$p"
		return 0
	done
	die "no free port found"
}

# http_status PORT PATH: the HTTP status of GET PATH on 127.0.0.1:PORT, or 0.
http_status() {
	local status=0 line
	if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 2>/dev/null || true
		if IFS=' ' read -r -t 2 _ line _ <&3 2>/dev/null; then status=$line; fi
		exec 3>&- 3<&-
	fi
	echo "$status"
}

# redis_pong PORT: true when a Redis on 127.0.0.1:PORT answers PING.
redis_pong() {
	local line="" ok=1
	if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
		printf 'PING\r\n' >&3 2>/dev/null || true
		IFS= read -r -t 2 line <&3 2>/dev/null || true
		[[ $line == +PONG* ]] && ok=0
		exec 3>&- 3<&-
	fi
	return $ok
}

# wait_until SECONDS PID LOG WHAT CMD...: polls CMD until it succeeds; dies
# when PID exits or SECONDS pass.
wait_until() {
	local secs=$1 pid=$2 logf=$3 what=$4 i
	shift 4
	for ((i = 0; i < secs * 20; i++)); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || { show_log "$logf"; die "$what exited"; }
		sleep 0.05
	done
	show_log "$logf"
	die "$what not ready after ${secs}s"
}

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install -y haproxy)"

# ---- wsnode, built once
BIN=${WSNODE_BIN:-}
if [[ -z $BIN ]]; then
	say "building wsnode"
	(cd "$ROOT" && go build -o "$WORK/wsnode" ./cmd/wsnode) || die "go build failed"
	BIN=$WORK/wsnode
fi
[[ -x $BIN ]] || die "$BIN is not an executable"

# ---- secrets: the nodes get them through the environment, not argv
GENERATED_SECRET=0
if [[ -z ${WS_JWT_SECRET:-} ]]; then
	WS_JWT_SECRET=$(random_hex)
	GENERATED_SECRET=1
fi
WS_ADMIN_KEY=${WS_ADMIN_KEY:-$(random_hex)}
export WS_JWT_SECRET WS_ADMIN_KEY
# Room history on by default here (recovery on rejoin); override with the env twins.
export WS_HISTORY_SIZE=${WS_HISTORY_SIZE:-100} WS_HISTORY_TTL=${WS_HISTORY_TTL:-5m}
# Joins restricted to the token's "rooms" claim, presence in every room and
# the client events in the stream <prefix>:events; override with the env twins.
export WS_ROOMS_POLICY=${WS_ROOMS_POLICY:-claim} WS_PRESENCE_ROOMS=${WS_PRESENCE_ROOMS:-*}
export WS_EVENTS=${WS_EVENTS-connect,disconnect,join,leave,message,direct}
# The rooms the printed tokens may join (under --rooms-policy claim).
TOKEN_ROOMS=${TOKEN_ROOMS:-lobby,team-*}

# ---- redis
REDIS_MODE=${WS_REDIS_MODE:-single}
prev=""
for arg in "$@"; do
	[[ $prev == --redis-mode || $prev == -redis-mode ]] && REDIS_MODE=$arg
	[[ $arg == --redis-mode=* || $arg == -redis-mode=* ]] && REDIS_MODE=${arg#*=}
	prev=$arg
done
export WS_REDIS_MODE=$REDIS_MODE

# cluster_ok PORT: true when the Redis Cluster node on PORT reports state ok.
cluster_ok() { redis-cli -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

if [[ -n ${WS_REDIS_URL:-} ]]; then
	REDIS_URL=$WS_REDIS_URL
elif [[ $REDIS_MODE == sentinel ]]; then
	die "--redis-mode sentinel: set WS_REDIS_URL to the sentinels (redis://s1:26379/0?master_name=NAME&addr=s2:26379)"
elif [[ $REDIS_MODE == cluster ]]; then
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
		die "redis-server and redis-cli are not installed (apt-get install -y redis-server), or set WS_REDIS_URL"
	CLUSTER_ADDRS=() REDIS_PORTS=()
	for ((i = 1; i <= 6; i++)); do
		free_port port
		free_port bus
		mkdir -p "$WORK/redis$i"
		"${SETSID[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
			--cluster-enabled yes --cluster-port "$bus" --cluster-config-file nodes.conf \
			--cluster-node-timeout 2000 --repl-diskless-sync-delay 0 --dir "$WORK/redis$i" \
			--protected-mode yes --loglevel warning >"$WORK/redis$i.log" 2>&1 &
		REDIS_PIDS+=($!)
		REDIS_PORTS+=("$port")
		CLUSTER_ADDRS+=("127.0.0.1:$port")
	done
	for ((i = 1; i <= 6; i++)); do
		wait_until 10 "${REDIS_PIDS[i - 1]}" "$WORK/redis$i.log" "redis-server $i" redis_pong "${REDIS_PORTS[i - 1]}"
	done
	redis-cli --cluster create "${CLUSTER_ADDRS[@]}" --cluster-replicas 1 --cluster-yes >"$WORK/cluster-create.log" 2>&1 ||
		{ show_log "$WORK/cluster-create.log"; die "redis-cli --cluster create failed"; }
	for ((i = 1; i <= 6; i++)); do
		wait_until 30 "${REDIS_PIDS[i - 1]}" "$WORK/redis$i.log" "redis cluster node $i" cluster_ok "${REDIS_PORTS[i - 1]}"
	done
	REDIS_URL="redis://${CLUSTER_ADDRS[0]}?addr=${CLUSTER_ADDRS[1]}&addr=${CLUSTER_ADDRS[2]}"
else
	command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install -y redis-server), or set WS_REDIS_URL"
	free_port REDIS_PORT
	"${SETSID[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
		--protected-mode yes --loglevel warning >"$WORK/redis.log" 2>&1 &
	REDIS_PIDS+=($!)
	wait_until 10 "${REDIS_PIDS[0]}" "$WORK/redis.log" "redis-server" redis_pong "$REDIS_PORT"
	REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
fi

# ---- nodes
WS_PORTS=() ADMIN_PORTS=()
for ((i = 1; i <= NODES; i++)); do
	free_port port
	WS_PORTS+=("$port")
	free_port port
	ADMIN_PORTS+=("$port")
	"${SETSID[@]}" "$BIN" --addr "127.0.0.1:${WS_PORTS[i - 1]}" --admin-addr "127.0.0.1:${ADMIN_PORTS[i - 1]}" \
		--node-id "node$i" --redis-url "$REDIS_URL" "$@" >"$WORK/node$i.log" 2>&1 &
	NODE_PIDS+=($!)
done
node_ready() { [[ $(http_status "$1" /readyz) == 200 ]]; }
for ((i = 1; i <= NODES; i++)); do
	wait_until 30 "${NODE_PIDS[i - 1]}" "$WORK/node$i.log" "node$i" node_ready "${ADMIN_PORTS[i - 1]}"
done

# ---- haproxy, configured like deploy/haproxy.cfg
[[ -n ${LB_PORT:-} ]] || free_port LB_PORT
awk -v lb="$LB_PORT" -v ws="${WS_PORTS[*]}" -v adm="${ADMIN_PORTS[*]}" '
	BEGIN { n = split(ws, W, " "); split(adm, A, " ") }
	/^[ \t]*bind[ \t]+[^ \t]*:8080/ { sub(/[^ \t]*:8080/, "127.0.0.1:" lb) }
	/^[ \t]*server[ \t]/ {
		if (!done) {
			for (i = 1; i <= n; i++) {
				line = $0
				sub(/server[ \t]+[^ \t]+[ \t]+[^ \t]+/, "server node" i " 127.0.0.1:" W[i], line)
				sub(/check port [0-9]+/, "check port " A[i], line)
				print line
			}
			done = 1
		}
		next
	}
	/^resolvers[ \t]/ { skip = 1 }
	skip && /^[ \t]*$/ { skip = 0; next }
	skip { next }
	{ gsub(/[ \t]+resolvers[ \t]+docker/, ""); print }
' "$ROOT/deploy/haproxy.cfg" >"$WORK/haproxy.cfg"
haproxy -c -q -f "$WORK/haproxy.cfg" >"$WORK/haproxy-check.log" 2>&1 ||
	{ show_log "$WORK/haproxy-check.log"; die "haproxy rejects the rendered $WORK/haproxy.cfg"; }
"${SETSID[@]}" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
LB_PID=$!
lb_routes() { [[ $(http_status "$LB_PORT" /) == 200 ]]; }
wait_until 10 "$LB_PID" "$WORK/haproxy.log" "haproxy" lb_routes

TOKEN=$("$BIN" token --user alice --rooms "$TOKEN_ROOMS,dm.alice.*") || die "wsnode token failed"
if ((GENERATED_SECRET)); then
	MORE="WS_JWT_SECRET=$WS_JWT_SECRET $BIN token --user bob --rooms '$TOKEN_ROOMS,dm.bob.*'"
else
	MORE="WS_JWT_SECRET=\${WS_JWT_SECRET:?} $BIN token --user bob --rooms '$TOKEN_ROOMS,dm.bob.*'"
fi

cat <<EOF
wsnode local cluster: $NODES nodes behind haproxy, Redis ($REDIS_MODE) at $REDIS_URL
client URL: ws://127.0.0.1:$LB_PORT/ws
demo page: http://127.0.0.1:$LB_PORT/
$(for ((i = 1; i <= NODES; i++)); do echo "admin URL: http://127.0.0.1:${ADMIN_PORTS[i - 1]} (node$i)"; done)
admin key: $WS_ADMIN_KEY
token: $TOKEN
more tokens: $MORE
logs: $WORK
Ctrl-C stops everything (and removes $WORK unless KEEP_WORKDIR=1).
EOF

# Run until a signal, or until a child dies on its own.
while true; do
	wait -n || true
	for pid in "${NODE_PIDS[@]}" $LB_PID "${REDIS_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "a process stopped by itself (pid $pid); see the logs in $WORK (KEEP_WORKDIR=1 keeps them)"
	done
done
