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
	return newMessageIn(nil, env, typ, room, from, data)
}

// newMessageIn is newMessageID that encodes the frame into buf (reused
// from its start) when buf is not nil, and stores the extended buffer back
// into it.
func newMessageIn(buf *[]byte, env envelope.Envelope, typ, room string, from protocol.From, data json.RawMessage) (envelope.Envelope, string, error) {
	msgID := uuid.NewString()
	var payload []byte
	var err error
	if buf == nil {
		payload, err = protocol.MessageFrame(typ, room, from, data, msgID, time.Now())
	} else {
		payload, err = protocol.AppendMessageFrame((*buf)[:0], typ, room, from, data, msgID, time.Now())
		*buf = payload
	}
	if err != nil {
		return env, "", err
	}
	env.Op, env.Payload = envelope.OpDeliver, payload
	return env, msgID, nil
}
