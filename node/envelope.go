package node

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// newMessage fills env with a routed frame, encoded once here at its
// origin with a fresh msg_id and timestamp (protocol.MessageFrame).
func newMessage(env envelope.Envelope, typ, room string, from protocol.From, data json.RawMessage) (envelope.Envelope, error) {
	env, _, err := newMessageID(env, typ, room, from, data)
	return env, err
}

// newMessageID is newMessage that also returns the msg_id it chose, for the
// sender's ack or error frame.
func newMessageID(env envelope.Envelope, typ, room string, from protocol.From, data json.RawMessage) (envelope.Envelope, string, error) {
	msgID := uuid.NewString()
	payload, err := protocol.MessageFrame(typ, room, from, data, msgID, time.Now())
	if err != nil {
		return env, "", err
	}
	env.Op, env.Payload = envelope.OpDeliver, payload
	return env, msgID, nil
}
