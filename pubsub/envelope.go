package pubsub

import "github.com/wsnode/wsnode/envelope"

// The envelope format lives in package envelope, so that package node can
// build and route envelopes without importing the broker. These aliases keep
// pubsub's own API.
type (
	Envelope = envelope.Envelope
	Kind     = envelope.Kind
	Op       = envelope.Op
	Result   = envelope.Result
)

// Channel kinds and operations; see package envelope.
const (
	KindAll  = envelope.KindAll
	KindNode = envelope.KindNode
	KindRoom = envelope.KindRoom
	KindUser = envelope.KindUser

	OpDeliver    = envelope.OpDeliver
	OpDisconnect = envelope.OpDisconnect
)

// Errors of package envelope, re-exported.
var (
	ErrMalformed  = envelope.ErrMalformed
	ErrLossWindow = envelope.ErrLossWindow
)

// Encode is envelope.Encode.
func Encode(e Envelope) []byte { return envelope.Encode(e) }

// Decode is envelope.Decode.
func Decode(kind Kind, target string, msg []byte) (Envelope, error) {
	return envelope.Decode(kind, target, msg)
}
