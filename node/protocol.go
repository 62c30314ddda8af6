package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
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
}

// errBadRef reports an "id" that is not a short string or number.
var errBadRef = errors.New(`"id" must be a string or number of at most 128 bytes`)

// decodeRequest parses one client frame. The returned request keeps the
// "id" even when another field is wrong, so the error can carry the ref.
func decodeRequest(data []byte) (request, error) {
	var r request
	if err := json.Unmarshal(data, &r); err != nil {
		r.ID = nil
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return r, errors.New("field " + strconv.Quote(typeErr.Field) + " has the wrong type")
		}
		return r, errors.New("frame is not a valid JSON object")
	}
	if len(r.ID) > 0 && !validRef(r.ID) {
		r.ID = nil
		return r, errBadRef
	}
	if r.Type == "" {
		return r, errors.New(`missing "type"`)
	}
	return r, nil
}

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

// outMessage is a routed frame: message (room), direct or broadcast.
type outMessage struct {
	Type  string          `json:"type"`
	Room  string          `json:"room,omitempty"`
	From  From            `json:"from"`
	Data  json.RawMessage `json:"data"`
	MsgID string          `json:"msg_id"`
	TS    int64           `json:"ts"`
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
}

// nullData is sent when a message carries no "data".
var nullData = json.RawMessage("null")

func encodeMessage(typ, room string, from From, data json.RawMessage, msgID string, at time.Time) ([]byte, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		data = nullData
	}
	return json.Marshal(outMessage{Type: typ, Room: room, From: from, Data: data, MsgID: msgID, TS: at.UnixMilli()})
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
