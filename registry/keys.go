package registry

// Keys builds the Redis key and channel names for one prefix. The layout is
// fixed in docs/internal-contract.md: a name is always the last segment and
// names cannot contain ':', so no two keys can collide. The Lua scripts in
// scripts.go build the same keys; TestLifecycleLeavesNoKeys keeps them in step.
//
// Keys does not validate names; callers validate with ValidateName first.
// The zero value is not useful; use NewKeys or (*Registry).Keys.
type Keys struct{ prefix string }

// NewKeys returns the key builder for prefix (not validated here).
func NewKeys(prefix string) Keys { return Keys{prefix: prefix} }

// Prefix returns the key prefix.
func (k Keys) Prefix() string { return k.prefix }

func (k Keys) fixed(name string) string       { return k.prefix + ":" + name }
func (k Keys) named(kind, name string) string { return k.prefix + ":" + kind + ":" + name }

// Conn is the HASH of one connection.
func (k Keys) Conn(id string) string { return k.named("conn", id) }

// ConnRooms is the SET of rooms of one connection.
func (k Keys) ConnRooms(id string) string { return k.named("connrooms", id) }

// Conns is the SET of every live connection id.
func (k Keys) Conns() string { return k.fixed("conns") }

// Peak is the STRING holding the peak of SCARD(Conns).
func (k Keys) Peak() string { return k.fixed("peak") }

// User is the SET of connection ids of one user.
func (k Keys) User(name string) string { return k.named("user", name) }

// Users is the SET of users with at least one connection.
func (k Keys) Users() string { return k.fixed("users") }

// Room is the SET of connection ids in one room.
func (k Keys) Room(name string) string { return k.named("room", name) }

// RoomMeta is the HASH with created_at and last_activity of one room.
func (k Keys) RoomMeta(name string) string { return k.named("roommeta", name) }

// Rooms is the SET of rooms with at least one member.
func (k Keys) Rooms() string { return k.fixed("rooms") }

// Nodes is the SET of known node ids.
func (k Keys) Nodes() string { return k.fixed("nodes") }

// Node is the heartbeat STRING (JSON, with TTL) of one node.
func (k Keys) Node(id string) string { return k.named("node", id) }

// NodeConns is the SET of connection ids held by one node.
func (k Keys) NodeConns(id string) string { return k.named("nodeconns", id) }

// Activity is the HASH connection id -> "last_activity_ms:msgs_in:msgs_out",
// written by the batched activity flush.
func (k Keys) Activity() string { return k.fixed("activity") }

// Events is the client event stream (cluster.Event entries).
func (k Keys) Events() string { return k.fixed("events") }
