package node

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/pubsub"
)

// newMessage fills env with a routed frame, encoded once here at its
// origin with a fresh msg_id and timestamp (protocol.MessageFrame).
func newMessage(env pubsub.Envelope, typ, room string, from protocol.From, data json.RawMessage) (pubsub.Envelope, error) {
	env, _, err := newMessageID(env, typ, room, from, data)
	return env, err
}

// newMessageID is newMessage that also returns the msg_id it chose, for the
// sender's ack or error frame.
func newMessageID(env pubsub.Envelope, typ, room string, from protocol.From, data json.RawMessage) (pubsub.Envelope, string, error) {
	msgID := uuid.NewString()
	payload, err := protocol.MessageFrame(typ, room, from, data, msgID, time.Now())
	if err != nil {
		return env, "", err
	}
	env.Op, env.Payload = pubsub.OpDeliver, payload
	return env, msgID, nil
}
