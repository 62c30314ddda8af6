package cluster

import "encoding/json"

// Event types of the client-event stream (--events).
const (
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
	EventJoin       = "join"
	EventLeave      = "leave"
	EventMessage    = "message"
	EventDirect     = "direct"
)

// EventField is the one field of a stream entry: its value is the Event as
// JSON.
const EventField = "event"

// Event is one entry of the client-event stream P:events: something a
// client did, as JSON in the entry's EventField. Backends read the stream
// with a consumer group (package events, or XREADGROUP from any language).
type Event struct {
	Type     string `json:"type"`    // EventConnect, ...
	TS       int64  `json:"ts"`      // unix ms, when the node saw it
	NodeID   string `json:"node_id"` // the node that holds (or reaped) the connection
	ConnID   string `json:"conn_id"`
	User     string `json:"user,omitempty"` // empty for guests
	ConnType string `json:"conn_type"`
	Room     string `json:"room,omitempty"`    // join, leave, message
	ToUser   string `json:"to_user,omitempty"` // direct to a user
	ToConn   string `json:"to_conn,omitempty"` // direct to a connection
	// Data is the message's data as the client sent it (message, direct).
	Data  json.RawMessage `json:"data,omitempty"`
	MsgID string          `json:"msg_id,omitempty"` // message, direct: the id receivers see
	// Code and Reason say why a connection ended (disconnect): the close
	// code, and "reaped" when its node died and a peer removed it.
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}
