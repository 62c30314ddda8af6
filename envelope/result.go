package envelope

import "errors"

// ErrLossWindow reports a PUBLISH that Redis accepted while this node's receive connection was
// lost or not yet fully resubscribed, at queueing time or at any point until the reply: the
// message may have missed this node's own subscribers (and, during the same outage, others').
var ErrLossWindow = errors.New("pubsub: receive connection interrupted around the publish")

// Result is the outcome of one PublishAsync, passed to its completion callback by value.
type Result struct {
	// Receivers is Redis's reply to the PUBLISH: how many pub/sub connections, one per
	// subscribed node, received the message. It is valid when Err is nil or wraps
	// ErrLossWindow; otherwise 0.
	Receivers int64
	// Err is nil when Redis accepted the PUBLISH and this node's receive connection was
	// continuously subscribed from queueing to reply. It wraps ErrLossWindow when Redis accepted
	// it but that was not so, and is another error when the PUBLISH failed or its reply was
	// lost (it may still have been delivered: PUBLISH is never re-sent).
	Err error
	// Offset and Epoch are the message's position in its room's history
	// (the broker's history store); zero for other messages.
	Offset uint64
	Epoch  string
}
