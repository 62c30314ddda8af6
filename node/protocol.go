package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/wsnode/wsnode/pubsub"
)

// Frame types of wire protocol v1.
const (
	typeAuth          = "auth"
	typeAuthenticated = "authenticated"
	typeJoin          = "join"
	typeJoined        = "joined"
	typeLeave         = "leave"
	typeLeft          = "left"
	typeMessage       = "message"
	typeDirect        = "direct"
	typeBroadcast     = "broadcast"
	typePing          = "ping"
	typePong          = "pong"
	typeWelcome       = "welcome"
	typeError         = "error"
	typeHistory       = "history"
	typeAck           = "ack"
)

// maxRefLen bounds the client-chosen request id echoed back as "ref".
const maxRefLen = 128

// request is any client frame. Unknown fields are ignored.
type request struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id,omitempty"`
	Token  string          `json:"token,omitempty"`
	Room   string          `json:"room,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Echo   *bool           `json:"echo,omitempty"`
	ToUser string          `json:"to_user,omitempty"`
	ToConn string          `json:"to_conn,omitempty"`
	// Since (join, history): the last position the client saw.
	Since json.RawMessage `json:"since,omitempty"`
	// Limit (history): how many messages; clipped to the history size.
	Limit int `json:"limit,omitempty"`
}

// errBadRef reports an "id" that is not a short string or number.
var errBadRef = errors.New(`"id" must be a string or number of at most 128 bytes`)

func validRef(id json.RawMessage) bool {
	if len(id) > maxRefLen {
		return false
	}
	c := id[0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// From identifies the sender of a routed message.
type From struct {
	User   string `json:"user,omitempty"`
	ConnID string `json:"conn_id,omitempty"`
	Type   string `json:"conn_type,omitempty"`
	System bool   `json:"system,omitempty"` // sent through the admin API or the Go API
}

type welcomeFrame struct {
	Type           string `json:"type"`
	ConnID         string `json:"conn_id"`
	NodeID         string `json:"node_id"`
	PingIntervalMS int64  `json:"ping_interval_ms"`
	AuthTimeoutMS  int64  `json:"auth_timeout_ms"`
	Guests         string `json:"guests"`
}

type replyFrame struct {
	Type     string          `json:"type"`
	Ref      json.RawMessage `json:"ref,omitempty"`
	User     string          `json:"user,omitempty"`
	ConnType string          `json:"conn_type,omitempty"`
	Room     string          `json:"room,omitempty"`
	TS       int64           `json:"ts,omitempty"`
}

type errorFrame struct {
	Type    string          `json:"type"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Ref     json.RawMessage `json:"ref,omitempty"`
	MsgID   string          `json:"msg_id,omitempty"` // set for a routed message that may be lost (ack.go)
}

// nullData is sent when a message carries no "data".
var nullData = json.RawMessage("null")

// newMessage fills env with a routed frame, encoded once here at its
// origin with a fresh msg_id and timestamp.
func newMessage(env pubsub.Envelope, typ, room string, from From, data json.RawMessage) (pubsub.Envelope, error) {
	env, _, err := newMessageID(env, typ, room, from, data)
	return env, err
}

// newMessageID is newMessage that also returns the msg_id it chose, for the
// sender's ack or error frame.
func newMessageID(env pubsub.Envelope, typ, room string, from From, data json.RawMessage) (pubsub.Envelope, string, error) {
	msgID := uuid.NewString()
	payload, err := encodeMessage(typ, room, from, data, msgID, time.Now())
	if err != nil {
		return env, "", err
	}
	env.Op, env.Payload = pubsub.OpDeliver, payload
	return env, msgID, nil
}

// encodeMessage builds a routed frame by appending, without reflection: it
// runs once per message at its origin. The result is the JSON encoding/json
// produces for the same fields (protocol_test.go checks), except that data
// is copied verbatim (not compacted), after json.Valid has checked it.
func encodeMessage(typ, room string, from From, data json.RawMessage, msgID string, at time.Time) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = nullData
	} else if !json.Valid(data) {
		return nil, errors.New("data is not valid JSON")
	}
	b := make([]byte, 0, 192+len(room)+len(from.User)+len(from.ConnID)+len(msgID)+len(data))
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	if room != "" {
		b = append(b, `,"room":`...)
		b = appendString(b, room)
	}
	b = append(b, `,"from":{`...)
	b = appendFrom(b, from)
	b = append(b, `},"data":`...)
	b = append(b, data...)
	b = append(b, `,"msg_id":`...)
	b = appendString(b, msgID)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, at.UnixMilli(), 10)
	return append(b, '}'), nil
}

func appendFrom(b []byte, f From) []byte {
	sep := ""
	field := func(name, v string) {
		if v != "" {
			b = append(b, sep...)
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendString(b, v)
			sep = ","
		}
	}
	field("user", f.User)
	field("conn_id", f.ConnID)
	field("conn_type", f.Type)
	if f.System {
		b = append(b, sep...)
		b = append(b, `"system":true`...)
	}
	return b
}

// appendString appends s as a JSON string. Names, ids and types are plain
// ASCII and take the fast path; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// internalErrorFrame is sent if a server frame cannot be encoded.
var internalErrorFrame = []byte(`{"type":"error","code":"internal","message":"internal error"}`)

// mustJSON encodes server-built frames. Their fields are strings, numbers
// and already-validated raw JSON, so encoding cannot fail in practice; if it
// ever does, the client gets an internal error frame instead of a panic.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return internalErrorFrame
	}
	return b
}

func nowMS() int64 { return time.Now().UnixMilli() }
