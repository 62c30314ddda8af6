package node

import (
	"encoding/json"
	"errors"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

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
//     (envelope.ErrLossWindow): error "unavailable";
//   - Redis counted 0 receivers for a room or broadcast, although this
//     node is subscribed to that channel (the sender is a member), or for
//     a direct to a connection whose node therefore does not listen:
//     error "unavailable";
//   - 0 receivers for a direct to a user: no node holds the user: "offline";
//   - otherwise an ack, if the request carried an id.
//
// Every error frame carries "ref" (when the request had an id) and
// "msg_id", so a sender can recognise its message if it arrives after all.
//
// It also counts a failed publish or a loss window as publish_failed (for
// routeAsync).
func (c *conn) confirm(ref json.RawMessage, msgID string, kind envelope.Kind, r envelope.Result) {
	if r.Err != nil {
		c.n.stats.Error(counter.ErrPublishFailed)
	}
	switch {
	case r.Offset > 0 && (r.Err == nil || errors.Is(r.Err, envelope.ErrLossWindow)):
		// Stored in the room's history: every node that missed it reads it
		// back (gap repair), so neither a loss window nor 0 receivers
		// loses it.
		if ref != nil {
			c.sendBytes(protocol.Ack{Ref: ref, MsgID: msgID, Offset: r.Offset, Epoch: r.Epoch}.Frame())
		}
	case r.Err != nil && !errors.Is(r.Err, envelope.ErrLossWindow):
		c.routeError(ref, msgID, protocol.CodeUnavailable, msgRouteFailed)
	case r.Err != nil:
		c.logger().Debug("message may be lost", "msg_id", msgID, "err", r.Err)
		c.routeError(ref, msgID, protocol.CodeUnavailable, msgLossWindow)
	case r.Receivers > 0:
		if ref != nil {
			c.sendBytes(protocol.Ack{Ref: ref, MsgID: msgID}.Frame())
		}
	case kind == envelope.KindUser:
		c.n.stats.Error(counter.ErrNotFound)
		c.routeError(ref, msgID, protocol.CodeOffline, msgOffline)
	case kind == envelope.KindNode:
		c.n.stats.Error(counter.ErrPublishFailed)
		c.routeError(ref, msgID, protocol.CodeUnavailable, msgNodeGone)
	default:
		c.n.stats.Error(counter.ErrPublishFailed)
		c.routeError(ref, msgID, protocol.CodeUnavailable, msgLossWindow)
	}
}

func (c *conn) routeError(ref json.RawMessage, msgID, code, msg string) {
	c.sendBytes(protocol.MessageErrorFrame(ref, msgID, code, msg))
}
