package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// The frames the node sends. Each is built by a function or method named
// after it that returns its encoding; the bytes are new and never modified
// afterwards, so one encoding may go to any number of connections.
// Frames sent once per routed message (MessageFrame, Ack) are encoded by
// appending, without reflection; the rest go through encoding/json.

// From identifies the sender of a routed message.
type From struct {
	User   string `json:"user,omitempty"`
	ConnID string `json:"conn_id,omitempty"`
	Type   string `json:"conn_type,omitempty"`
	System bool   `json:"system,omitempty"` // sent through the admin API or the Go API
}

// ErrInvalidData reports a message whose "data" is not valid JSON.
var ErrInvalidData = errors.New("data is not valid JSON")

// nullData is sent when a message carries no "data".
var nullData = json.RawMessage("null")

// MessageFrame builds a routed frame (typ is TypeMessage, TypeDirect or
// TypeBroadcast; room is empty but for a room message), encoded once at its
// origin by appending, without reflection. The result is the JSON
// encoding/json produces for the same fields (encode_test.go checks),
// except that data is copied verbatim (not compacted), after json.Valid has
// checked it; missing data is sent as null.
func MessageFrame(typ, room string, from From, data json.RawMessage, msgID string, at time.Time) ([]byte, error) {
	n := 192 + len(room) + len(from.User) + len(from.ConnID) + len(msgID) + len(data)
	b, err := AppendMessageFrame(make([]byte, 0, n), typ, room, from, data, msgID, at)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendMessageFrame appends what MessageFrame returns to b, for callers
// that encode into a reused buffer; on error b is returned unchanged.
func AppendMessageFrame(b []byte, typ, room string, from From, data json.RawMessage, msgID string, at time.Time) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = nullData
	} else if !json.Valid(data) {
		return b, ErrInvalidData
	}
	b = append(b, `{"type":`...)
	b = AppendString(b, typ)
	if room != "" {
		b = append(b, `,"room":`...)
		b = AppendString(b, room)
	}
	b = append(b, `,"from":{`...)
	b = appendFrom(b, from)
	b = append(b, `},"data":`...)
	b = append(b, data...)
	b = append(b, `,"msg_id":`...)
	b = AppendString(b, msgID)
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
			b = AppendString(b, v)
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

// AppendString appends s as a JSON string. Names, ids and types are plain
// ASCII and take the fast path; anything else goes through encoding/json.
func AppendString(b []byte, s string) []byte {
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

// Ack answers a routed client message ("message", "direct", "broadcast")
// that carried an "id", once Redis accepted its PUBLISH:
//
//	{"type":"ack","ref":<id>,"msg_id":"<the delivered frame's msg_id>"}
//
// In a history room it also carries "offset" and "epoch", the message's
// position in the room's stream.
type Ack struct {
	Ref    json.RawMessage // the request's id: a validated JSON string or number
	MsgID  string
	Offset uint64 // 0: not a history room
	Epoch  string
}

// Frame encodes the ack (see AppendTo).
func (a Ack) Frame() []byte {
	n := 48 + len(a.Ref) + len(a.MsgID)
	if a.Offset > 0 {
		n += 48
	}
	return a.AppendTo(make([]byte, 0, n))
}

// AppendTo appends the ack's encoding to b, without reflection: it runs once
// per acknowledged message. The result is what encoding/json produces for
// the equivalent struct (encode_test.go checks), except that "ref" is copied
// as the client sent it (valid JSON, checked by Decode), not re-escaped.
func (a Ack) AppendTo(b []byte) []byte {
	b = append(b, `{"type":"ack","ref":`...)
	b = append(b, a.Ref...)
	b = append(b, `,"msg_id":`...)
	b = AppendString(b, a.MsgID)
	if a.Offset > 0 {
		b = append(b, `,"offset":`...)
		b = strconv.AppendUint(b, a.Offset, 10)
		b = append(b, `,"epoch":`...)
		b = AppendString(b, a.Epoch)
	}
	return append(b, '}')
}

// Welcome is the content of the welcome frame, the first a client gets.
type Welcome struct {
	ConnID         string `json:"conn_id"`
	NodeID         string `json:"node_id"`
	PingIntervalMS int64  `json:"ping_interval_ms"`
	AuthTimeoutMS  int64  `json:"auth_timeout_ms"`
	Guests         string `json:"guests"` // a guest policy (GuestsOff, ...)
}

// Frame encodes the welcome frame.
func (w Welcome) Frame() []byte {
	return marshal(struct {
		Type string `json:"type"`
		Welcome
	}{TypeWelcome, w})
}

// replyFrame is the answer to a request that succeeded, and the
// application ping.
type replyFrame struct {
	Type     string          `json:"type"`
	Ref      json.RawMessage `json:"ref,omitempty"`
	User     string          `json:"user,omitempty"`
	ConnType string          `json:"conn_type,omitempty"`
	Room     string          `json:"room,omitempty"`
	TS       int64           `json:"ts,omitempty"`
}

// ReplyFrame answers a request about a room (typ TypeJoined or TypeLeft);
// ref is the request's "id" (nil: none).
func ReplyFrame(typ string, ref json.RawMessage, room string) []byte {
	return marshal(replyFrame{Type: typ, Ref: ref, Room: room})
}

// AuthenticatedFrame answers an auth request that succeeded.
func AuthenticatedFrame(ref json.RawMessage, user, connType string) []byte {
	return marshal(replyFrame{Type: TypeAuthenticated, Ref: ref, User: user, ConnType: connType})
}

type presenceFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	Event    string `json:"event"`
	User     string `json:"user,omitempty"`
	ConnID   string `json:"conn_id"`
	ConnType string `json:"conn_type"`
}

// PresenceFrame tells a room's members that a connection joined or left it
// (event PresenceJoin or PresenceLeave); user is empty for a guest.
func PresenceFrame(room, event, user, connID, connType string) []byte {
	return marshal(presenceFrame{Type: TypePresence, Room: room, Event: event, User: user, ConnID: connID, ConnType: connType})
}

// PongFrame answers a client's ping frame.
func PongFrame(ref json.RawMessage, at time.Time) []byte {
	return marshal(replyFrame{Type: TypePong, Ref: ref, TS: at.UnixMilli()})
}

// PingFrame is the node's application ping.
func PingFrame(at time.Time) []byte {
	return marshal(replyFrame{Type: TypePing, TS: at.UnixMilli()})
}

// Joined answers a join in a room that keeps history, or any join with
// "since" (a plain join gets ReplyFrame).
type Joined struct {
	Ref       json.RawMessage `json:"ref,omitempty"`
	Room      string          `json:"room"`
	Offset    *uint64         `json:"offset,omitempty"`
	Epoch     string          `json:"epoch,omitempty"`
	Recovered *bool           `json:"recovered,omitempty"`
}

// Frame encodes the joined frame.
func (j Joined) Frame() []byte {
	return marshal(struct {
		Type string `json:"type"`
		Joined
	}{TypeJoined, j})
}

// History answers a history request: a page of a room's history.
type History struct {
	Ref  json.RawMessage `json:"ref,omitempty"`
	Room string          `json:"room"`
	// Messages are complete message frames, oldest first.
	Messages []json.RawMessage `json:"messages"`
	// Offset and Epoch are the room's current position.
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
	// Recovered is set when the request asked for what followed a
	// position: true when Messages start right after it.
	Recovered *bool `json:"recovered,omitempty"`
}

// Frame encodes the history frame.
func (h History) Frame() []byte {
	return marshal(struct {
		Type string `json:"type"`
		History
	}{TypeHistory, h})
}

type errorFrame struct {
	Type    string          `json:"type"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Ref     json.RawMessage `json:"ref,omitempty"`
	MsgID   string          `json:"msg_id,omitempty"`
}

// ErrorFrame is an error frame with an error code (CodeBadRequest, ...) and
// a message for people; ref is the request's "id" (nil: none).
func ErrorFrame(ref json.RawMessage, code, msg string) []byte {
	return marshal(errorFrame{Type: TypeError, Code: code, Message: msg, Ref: ref})
}

// MessageErrorFrame is ErrorFrame for a routed message that may be lost: it
// carries the message's msg_id, so the sender can recognise the message if
// it arrives after all.
func MessageErrorFrame(ref json.RawMessage, msgID, code, msg string) []byte {
	return marshal(errorFrame{Type: TypeError, Code: code, Message: msg, Ref: ref, MsgID: msgID})
}

// internalErrorFrame is sent if a frame cannot be encoded.
var internalErrorFrame = []byte(`{"type":"error","code":"` + CodeInternal + `","message":"internal error"}`)

// marshal encodes a frame. Its fields are strings, numbers and
// already-validated raw JSON, so encoding cannot fail in practice; if it
// ever does, the client gets an internal error frame instead of a panic.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return internalErrorFrame
	}
	return b
}
