package cluster

import "time"

// Connection types (Conn.Type).
const (
	TypeUser        = "user"
	TypeAIAssistant = "ai_assistant"
	TypeSystem      = "system"
	TypeGuest       = "guest"
)

// Connection states (Conn.State).
const (
	StateConnected     = "connected"
	StateAuthenticated = "authenticated"
	StateInactive      = "inactive"
	StateDisconnected  = "disconnected"
)

// Conn is one connection as recorded in Redis.
type Conn struct {
	ID              string    `json:"id"`
	NodeID          string    `json:"node_id"`
	User            string    `json:"user,omitempty"`
	Type            string    `json:"type"`  // TypeUser, TypeAIAssistant, TypeSystem or TypeGuest
	State           string    `json:"state"` // StateConnected, ...
	IP              string    `json:"ip,omitempty"`
	ConnectedAt     time.Time `json:"connected_at"`
	AuthenticatedAt time.Time `json:"authenticated_at"`
	LastActivity    time.Time `json:"last_activity"`
	MessagesIn      int64     `json:"messages_in"`
	MessagesOut     int64     `json:"messages_out"`
	Rooms           []string  `json:"rooms"` // sorted
}

// Activity is a batched activity update of one connection. The counters are
// the connection's totals (the node holds them), not deltas, so a retried or
// repeated Touch never double counts.
type Activity struct {
	ConnID       string
	LastActivity time.Time
	MessagesIn   int64 // total frames received from the client
	MessagesOut  int64 // total frames written to the client
}

// Node is a node's heartbeat record.
type Node struct {
	ID             string    `json:"id"`
	Addr           string    `json:"addr,omitempty"`
	Version        string    `json:"version,omitempty"`
	StartedAt      time.Time `json:"started_at"`
	LastSeen       time.Time `json:"last_seen"`
	Connections    int       `json:"connections"`      // local connection count reported in the heartbeat
	MessagesPerSec float64   `json:"messages_per_sec"` // reported by the node
	Alive          bool      `json:"alive"`            // heartbeat key present (filled by Nodes)
	// Incarnation identifies the process that wrote the heartbeat (set by
	// Heartbeat; see Registry.Incarnation).
	Incarnation string `json:"incarnation,omitempty"`
	// Interval is how often the node beats. Heartbeat records it (default
	// HeartbeatTTL/3) so that peers can tell a node that missed a beat.
	Interval time.Duration `json:"-"`
}

// Room is a room with its members.
type Room struct {
	Name         string    `json:"name"`
	ConnIDs      []string  `json:"conn_ids"` // sorted
	Users        []string  `json:"users"`    // distinct users of members, sorted
	Connections  int       `json:"connections"`
	CreatedAt    time.Time `json:"created_at"`
	LastActivity time.Time `json:"last_activity"`
}

// RoomSummary is a room name with its connection count.
type RoomSummary struct {
	Name        string `json:"name"`
	Connections int    `json:"connections"`
}

// User is a user with its connections.
type User struct {
	Name  string `json:"name"`
	Conns []Conn `json:"conns"` // sorted by ID
}

// Counts are the cluster-wide totals.
type Counts struct {
	Active int64 `json:"active"` // SCARD P:conns
	Peak   int64 `json:"peak"`
	Users  int64 `json:"users"`
	Rooms  int64 `json:"rooms"`
	Nodes  int64 `json:"nodes"`
}
