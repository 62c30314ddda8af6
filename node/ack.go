package node

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/wsnode/wsnode/pubsub"
	"github.com/wsnode/wsnode/stats"
)

// ack answers a routed client message ("message", "direct", "broadcast")
// that carried an "id", once Redis accepted its PUBLISH:
//
//	{"type":"ack","ref":<id>,"msg_id":"<the delivered frame's msg_id>"}
//
// In a history room it also carries "offset" and "epoch", the message's
// position in the room's stream.
type ack struct {
	Ref    json.RawMessage // the request's id: a validated JSON string or number
	MsgID  string
	Offset uint64 // 0: not a history room
	Epoch  string
}

// appendTo encodes the ack by appending, without reflection: it runs once
// per acknowledged message. The result is what encoding/json produces for
// the equivalent struct (ack_test.go checks), except that "ref" is copied
// as the client sent it (valid JSON, checked by the decoder), not re-escaped.
func (a ack) appendTo(b []byte) []byte {
	b = append(b, `{"type":"ack","ref":`...)
	b = append(b, a.Ref...)
	b = append(b, `,"msg_id":`...)
	b = appendString(b, a.MsgID)
	if a.Offset > 0 {
		b = append(b, `,"offset":`...)
		b = strconv.AppendUint(b, a.Offset, 10)
		b = append(b, `,"epoch":`...)
		b = appendString(b, a.Epoch)
	}
	return append(b, '}')
}

// Error frames for routed messages that may not have reached everyone.
const (
	msgRouteFailed = "message could not be routed; retry"
	msgLossWindow  = "message may not have reached every recipient (pub/sub connection interrupted)"
	msgOffline     = "user has no connection in the cluster"
	msgNodeGone    = "the connection's node is not listening; retry"
)

// confirm tells the sender the outcome of its routed message. It is called
// once per message from the publishing goroutine and never blocks (frames
// are queued). The guarantee, documented in docs/protocol.md "Acks":
//
//   - the PUBLISH failed or its reply was lost: error "unavailable" (the
//     message may still have been delivered; it is never re-sent);
//   - Redis accepted it, but this node's receive connection was lost or not
//     fully resubscribed at any point between queueing and the reply
//     (pubsub.ErrLossWindow): error "unavailable";
//   - Redis counted 0 receivers for a room or broadcast, although this
//     node is subscribed to that channel (the sender is a member), or for
//     a direct to a connection whose node therefore does not listen:
//     error "unavailable";
//   - 0 receivers for a direct to a user: no node holds the user: "offline";
//   - otherwise an ack, if the request carried an id.
//
// Every error frame carries "ref" (when the request had an id) and
// "msg_id", so a sender can recognise its message if it arrives after all.
func (c *Conn) confirm(ref json.RawMessage, msgID string, kind pubsub.Kind, r pubsub.Result) {
	switch {
	case r.Offset > 0 && (r.Err == nil || errors.Is(r.Err, pubsub.ErrLossWindow)):
		// Stored in the room's history: every node that missed it reads it
		// back (gap repair), so neither a loss window nor 0 receivers
		// loses it.
		if ref != nil {
			c.sendBytes(ack{Ref: ref, MsgID: msgID, Offset: r.Offset, Epoch: r.Epoch}.appendTo(make([]byte, 0, 96+len(ref)+len(msgID))))
		}
	case r.Err != nil && !errors.Is(r.Err, pubsub.ErrLossWindow):
		c.routeError(ref, msgID, "unavailable", msgRouteFailed)
	case r.Err != nil:
		c.logger().Debug("message may be lost", "msg_id", msgID, "err", r.Err)
		c.routeError(ref, msgID, "unavailable", msgLossWindow)
	case r.Receivers > 0:
		if ref != nil {
			c.sendBytes(ack{Ref: ref, MsgID: msgID}.appendTo(make([]byte, 0, 48+len(ref)+len(msgID))))
		}
	case kind == pubsub.KindUser:
		c.n.stats.Error(stats.ErrNotFound)
		c.routeError(ref, msgID, "offline", msgOffline)
	case kind == pubsub.KindNode:
		c.n.stats.Error(stats.ErrPublishFailed)
		c.routeError(ref, msgID, "unavailable", msgNodeGone)
	default:
		c.n.stats.Error(stats.ErrPublishFailed)
		c.routeError(ref, msgID, "unavailable", msgLossWindow)
	}
}

func (c *Conn) routeError(ref json.RawMessage, msgID, code, msg string) {
	c.sendBytes(mustJSON(errorFrame{Type: typeError, Code: code, Message: msg, Ref: ref, MsgID: msgID}))
}
