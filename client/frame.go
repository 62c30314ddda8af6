package client

import (
	"encoding/json"
)

// Frame is one frame the node sent, decoded loosely: the fields of every
// frame type the protocol defines (docs/protocol.md, "Frames"); fields a
// frame type does not carry stay zero. Raw holds the frame as received, for
// fields Frame does not name.
type Frame struct {
	Type string `json:"type"`
	// Ref is the "id" of the request this frame answers, as JSON (nil when
	// the frame answers none).
	Ref json.RawMessage `json:"ref,omitempty"`

	// welcome
	ConnID         string `json:"conn_id,omitempty"`
	NodeID         string `json:"node_id,omitempty"`
	PingIntervalMS int64  `json:"ping_interval_ms,omitempty"`
	AuthTimeoutMS  int64  `json:"auth_timeout_ms,omitempty"`
	Guests         string `json:"guests,omitempty"`
	// authenticated
	User     string `json:"user,omitempty"`
	ConnType string `json:"conn_type,omitempty"`

	// message, direct, broadcast, joined, left, history
	Room  string          `json:"room,omitempty"`
	From  *From           `json:"from,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	MsgID string          `json:"msg_id,omitempty"`
	TS    int64           `json:"ts,omitempty"`
	// Offset and Epoch: the position of a message, ack, joined or history
	// frame in a room with history (HasPosition reports whether the frame
	// carried one). Recovered is set on a joined or history frame that
	// answered a request with "since".
	Offset    uint64            `json:"offset,omitempty"`
	Epoch     string            `json:"epoch,omitempty"`
	Recovered *bool             `json:"recovered,omitempty"`
	Messages  []json.RawMessage `json:"messages,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`

	Raw []byte `json:"-"`

	hasOffset bool
}

// From is the sender of a message, direct or broadcast frame.
type From struct {
	User     string `json:"user,omitempty"`
	ConnID   string `json:"conn_id,omitempty"`
	ConnType string `json:"conn_type,omitempty"`
	System   bool   `json:"system,omitempty"`
}

// Position is a place in a room's history: the offset of the last message
// seen and the epoch the offsets belong to.
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// HasPosition reports whether the frame carried an "offset" (a frame of a
// room with history).
func (f Frame) HasPosition() bool { return f.hasOffset }

// Position returns the frame's offset and epoch.
func (f Frame) Position() Position { return Position{Offset: f.Offset, Epoch: f.Epoch} }

// DecodeData unmarshals the frame's data into v.
func (f Frame) DecodeData(v any) error { return json.Unmarshal(f.Data, v) }

// decodeFrame parses one text frame. A frame that is not a JSON object
// returns an error (the node never sends one).
func decodeFrame(b []byte) (Frame, error) {
	var f struct {
		Frame
		Offset *uint64 `json:"offset"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, err
	}
	out := f.Frame
	if f.Offset != nil {
		out.Offset, out.hasOffset = *f.Offset, true
	}
	out.Raw = b
	return out, nil
}
