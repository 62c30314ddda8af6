// Package keyspace names the Redis keys and pub/sub channels of a wsnode
// cluster that runs on Redis Cluster (--redis-mode cluster).
//
// In single and sentinel mode the names are the ones documented in
// docs/architecture.md (P:conn:<id>, P:rooms, ...; built by registry.Keys,
// pubsub and history) and they do not change. Redis Cluster needs every key
// that one script touches, and every shard channel a script publishes to, in
// one hash slot, and it must not funnel a cluster-wide index into a single
// hot key. So in cluster mode every name carries a hash tag naming a bucket:
//
//	{P:c<b>}  a connection's hash and rooms set, and bucket b of the
//	          connection index and of the activity hash
//	{P:u<b>}  a user's set, and bucket b of the user index; user channels
//	{P:r<b>}  a room's member set, metadata and history, and bucket b of the
//	          room index; room channels
//	{P:n<b>}  a node's heartbeat and connection set, and bucket b of the node
//	          index; node channels
//	{P:a}     the broadcast channel
//	{P:p}     the peak counter
//	{P:e}     the client event stream
//
// where b = Bucket(name) for the connection id, user, room or node id. With
// Buckets buckets per kind, each kind spreads over that many slots (and so
// over every shard of a cluster of up to about Buckets/4 primaries), the
// index of a kind is Buckets sets that are read together, and a change to
// one entity plus its index entry is one atomic script. The prefix is part of
// the tag so that two clusters sharing a Redis spread independently.
//
// Buckets is fixed: changing it moves every key, so it is part of the Redis
// contract (docs/architecture.md) like the names themselves.
//
// Everything here is pure and safe for concurrent use.
package keyspace

import (
	"strconv"
	"strings"
)

// Buckets is the number of hash-tag buckets per kind (connections, users,
// rooms, nodes).
const Buckets = 64

// Bucket returns the bucket of a connection id, user, room or node id:
// FNV-1a (32 bit) of the name, modulo Buckets.
func Bucket(name string) int {
	h := uint32(fnvOffset)
	for i := 0; i < len(name); i++ { // FNV-1a, inline: no allocation per call
		h ^= uint32(name[i])
		h *= fnvPrime
	}
	return int(h % Buckets)
}

// FNV-1a (32 bit) parameters, as in hash/fnv.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

// Cluster builds cluster-mode names under one prefix. The zero value is not
// useful; use New.
type Cluster struct{ prefix string }

// New returns the cluster-mode names for prefix (not validated here; names
// passed to the methods must be valid wsnode names, which exclude ':', '{'
// and '}').
func New(prefix string) Cluster { return Cluster{prefix: prefix} }

// Prefix returns the key prefix.
func (c Cluster) Prefix() string { return c.prefix }

// Tag returns the hash tag of bucket b of kind ('c', 'u', 'r' or 'n'),
// braces included: "{P:r17}".
func (c Cluster) Tag(kind byte, b int) string {
	return "{" + c.prefix + ":" + string(kind) + strconv.Itoa(b) + "}"
}

func (c Cluster) named(kind byte, what, name string) string {
	return c.Tag(kind, Bucket(name)) + ":" + what + ":" + name
}

func (c Cluster) bucket(kind byte, b int, what string) string { return c.Tag(kind, b) + ":" + what }

// Conn is the HASH of one connection: {P:c<b>}:conn:<id>.
func (c Cluster) Conn(id string) string { return c.named('c', "conn", id) }

// ConnRooms is the SET of rooms of one connection: {P:c<b>}:connrooms:<id>.
func (c Cluster) ConnRooms(id string) string { return c.named('c', "connrooms", id) }

// Conns is bucket b of the connection index (SET of ids): {P:c<b>}:conns.
func (c Cluster) Conns(b int) string { return c.bucket('c', b, "conns") }

// Activity is bucket b of the activity HASH (id -> "ms:in:out"): {P:c<b>}:activity.
func (c Cluster) Activity(b int) string { return c.bucket('c', b, "activity") }

// User is the SET of connection ids of one user: {P:u<b>}:user:<user>.
func (c Cluster) User(name string) string { return c.named('u', "user", name) }

// Users is bucket b of the user index (SET of users): {P:u<b>}:users.
func (c Cluster) Users(b int) string { return c.bucket('u', b, "users") }

// Room is the SET of connection ids in one room: {P:r<b>}:room:<room>.
func (c Cluster) Room(name string) string { return c.named('r', "room", name) }

// RoomMeta is the HASH created_at, last_activity of a room: {P:r<b>}:roommeta:<room>.
func (c Cluster) RoomMeta(name string) string { return c.named('r', "roommeta", name) }

// Rooms is bucket b of the room index (SET of rooms): {P:r<b>}:rooms.
func (c Cluster) Rooms(b int) string { return c.bucket('r', b, "rooms") }

// History is the STREAM of a room's history: {P:r<b>}:history:<room>.
func (c Cluster) History(room string) string { return c.named('r', "history", room) }

// HistoryMeta is the HASH epoch, offset of a room's history: {P:r<b>}:historymeta:<room>.
func (c Cluster) HistoryMeta(room string) string { return c.named('r', "historymeta", room) }

// Node is the heartbeat STRING of a node: {P:n<b>}:node:<id>.
func (c Cluster) Node(id string) string { return c.named('n', "node", id) }

// NodeConns is the SET of connection ids a node holds: {P:n<b>}:nodeconns:<id>.
func (c Cluster) NodeConns(id string) string { return c.named('n', "nodeconns", id) }

// Nodes is bucket b of the node index (SET of node ids): {P:n<b>}:nodes.
func (c Cluster) Nodes(b int) string { return c.bucket('n', b, "nodes") }

// Peak is the STRING holding the sampled peak of active connections: {P:p}:peak.
func (c Cluster) Peak() string { return "{" + c.prefix + ":p}:peak" }

// Events is the client event STREAM: {P:e}:events.
func (c Cluster) Events() string { return "{" + c.prefix + ":e}:events" }

// RoomChannel is a room's shard channel: {P:r<b>}:ch:room:<room>, in the
// slot of the room's history.
func (c Cluster) RoomChannel(room string) string { return c.named('r', "ch:room", room) }

// UserChannel is a user's shard channel: {P:u<b>}:ch:user:<user>.
func (c Cluster) UserChannel(user string) string { return c.named('u', "ch:user", user) }

// NodeChannel is a node's shard channel: {P:n<b>}:ch:node:<id>.
func (c Cluster) NodeChannel(id string) string { return c.named('n', "ch:node", id) }

// AllChannel is the broadcast shard channel: {P:a}:ch:all.
func (c Cluster) AllChannel() string { return "{" + c.prefix + ":a}:ch:all" }

// ParseChannel returns the kind ("all", "node", "room" or "user") and the
// target of a cluster-mode channel under this prefix; ok is false for
// anything else.
func (c Cluster) ParseChannel(ch string) (kind, target string, ok bool) {
	if ch == c.AllChannel() {
		return "all", "", true
	}
	// {P:<k><b>}:ch:<kind>:<target>, read in place: the receive path calls
	// this for every message.
	rest, found := strings.CutPrefix(ch, "{")
	if !found {
		return "", "", false
	}
	if rest, found = strings.CutPrefix(rest, c.prefix); !found || len(rest) < 3 || rest[0] != ':' {
		return "", "", false
	}
	letter := rest[1]
	tag, rest, found := strings.Cut(rest[2:], "}:ch:")
	if !found {
		return "", "", false
	}
	b, err := strconv.Atoi(tag)
	if err != nil {
		return "", "", false
	}
	kind, target, found = strings.Cut(rest, ":")
	if !found || target == "" {
		return "", "", false
	}
	var want byte
	switch kind {
	case "node":
		want = 'n'
	case "room":
		want = 'r'
	case "user":
		want = 'u'
	}
	if want == 0 || letter != want || b != Bucket(target) {
		return "", "", false // another kind's tag, or a bucket that does not belong to the name
	}
	return kind, target, true
}
