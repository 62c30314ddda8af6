// Package registry is the Redis model of a wsnode cluster: which connections
// exist and on which node, which users and rooms they belong to, which nodes
// are alive, and the peak connection count. It also reaps the entries of dead
// nodes and lets a live node re-assert its own state after a Redis flush or
// restart. It never imports node, pubsub or stats.
//
// # Keys
//
// Every key starts with the configurable prefix P (default "ws"). A name is
// always the last segment and names cannot contain ':' (see ValidateName), so
// no two keys can collide for any allowed names. Times are unix milliseconds.
//
//	P:conn:<id>          HASH    node, user, type, state, ip, connected_at,
//	                             authenticated_at, last_activity, msgs_in, msgs_out
//	P:activity           HASH    conn id -> "last_activity:msgs_in:msgs_out" (Touch)
//	P:connrooms:<id>     SET     rooms of the connection
//	P:conns              SET     every live connection id (SCARD = active count)
//	P:peak               STRING  peak of SCARD(P:conns)
//	P:user:<user>        SET     connection ids of the user
//	P:users              SET     users with >= 1 connection
//	P:room:<room>        SET     connection ids in the room
//	P:roommeta:<room>    HASH    created_at, last_activity (last join or leave)
//	P:rooms              SET     rooms with >= 1 member
//	P:nodes              SET     known node ids
//	P:node:<id>          STRING  heartbeat: JSON node info, with TTL
//	P:nodeconns:<id>     SET     connection ids held by the node
//
// Keys builds these names for other packages and tests. The stats hashes
// (stats) and the pub/sub channels (pubsub) are named by their own packages
// under the same prefix; docs/internal-contract.md lists them all.
//
// # Invariants
//
// Every multi-key mutation is one Lua script, so it is atomic, and every
// script is idempotent. An emptied set goes together with its index entry: a
// room's last member leaving deletes its metadata and removes it from
// P:rooms; a user's last connection leaving removes it from P:users. Touch
// and SetState never create a hash for a connection or room that does not
// exist. The peak is raised inside the register script, so it is exact under
// concurrent registrations.
//
// # Failure handling
//
// Each node calls Heartbeat on a timer well inside HeartbeatTTL and
// ReapDead periodically. ReapDead removes the connections of nodes whose
// heartbeat expired, one batch per script call; each call re-checks the
// heartbeat, so a node that comes back is never damaged. When Heartbeat
// reports lost (the key had expired or Redis lost its data), the node calls
// Reassert with its live connections and the registry matches the node again.
//
// Each Registry has a random incarnation (one per process), stored in the
// heartbeat and in every connection it registers. A process restarted with
// the same node id removes its predecessor's connections once the heartbeat
// shows the predecessor dead (see Heartbeat), and the per-user limit counts
// only connections of live incarnations whose node has not missed a beat.
//
// The single-mode scripts compute keys from the prefix inside Lua, so this
// layout needs a single Redis (or a primary with replicas).
//
// # Redis Cluster
//
// With Config.Cluster the registry uses the layout and the operations of
// docs/redis-cluster.md on a Redis Cluster (pass a *redis.ClusterClient):
// every key carries a hash tag naming one of 64 buckets of its kind
// (internal/keyspace), every script gets its keys through KEYS and touches
// one slot only, and every index (connections, users, rooms, nodes, the
// activity hash) is 64 bucket keys read together: Counts sums a pipelined
// SCARD per bucket, listings SSCAN every bucket in pipelined rounds.
//
// A change that spans slots is a sequence of idempotent single-slot steps
// (the cluster_*.go files list them): the node's connection set is written
// first and cleared last, so a failure at any step leaves only what Reap
// (of a dead node) or Reassert (of a live one) finishes. Authenticate
// marks the record user_pending before the user slot's atomic limit check
// and add; the liveness of the user's other connections is checked from
// the client when the set looks full. Reap reads a node's connections
// instead of popping them; the connection step's atomic delete tells
// exactly one reaper that it removed a record, and only that reaper
// returns the connection and appends its disconnect event (right after
// that step, so an event whose XADD fails is lost, never doubled). The
// peak is a sample taken after each Heartbeat and by Counts, so it is a
// lower bound of the true peak. Keys returns single-mode names only.
//
// # Concurrency
//
// A *Registry is safe for concurrent use by multiple goroutines. Everything
// lives in Redis except the reaper's cached node list and the heartbeat's
// takeover state (each guarded by a mutex).
//
// The connection scripts of concurrent callers (Register, Authenticate,
// Join, Leave, SetState and Unregister in single mode, and the single-slot
// steps of cluster mode, batched per primary) share round trips
// (internal/cmdbatch): a call that finds none in flight is sent at once on
// its caller's goroutine, and calls that arrive meanwhile go together as one
// pipeline when it returns. Each call still returns only once its own
// script has run.
package registry
