package client

import (
	"errors"
	"fmt"
)

// Close codes the client acts on (docs/protocol.md, "Close codes").
const (
	CodeNormal       = 1000
	CodeGoingAway    = 1001 // node draining: reconnect at once
	CodeAbnormal     = 1006 // socket ended without a close frame (also: dead connection, dial failure)
	CodeInvalidUTF8  = 1007
	CodePolicy       = 1008
	CodeTooBig       = 1009
	CodeTokenExpired = 4005 // reconnect with a fresh token
)

// action is what the reconnect loop does after a socket ended.
type action int

const (
	reconnectNow     action = iota // 1001
	reconnectBackoff               // 1006, 4000-4499 and anything not listed
	stop                           // 1007, 1008, 1009, 4500-4999
)

// policyFor maps a close code to the reconnect action. 4005 backs off like
// any 4000-4499 code; the fresh token comes from calling the token provider
// before every connect.
func policyFor(code int) action {
	switch {
	case code == CodeGoingAway:
		return reconnectNow
	case code == CodeInvalidUTF8, code == CodePolicy, code == CodeTooBig:
		return stop
	case code >= 4500 && code <= 4999:
		return stop
	}
	return reconnectBackoff
}

// WillReconnect reports whether the client reconnects after a socket closed
// with code (see Config for the policy).
func WillReconnect(code int) bool { return policyFor(code) != stop }

// CloseError is why a client stopped for good: the node closed the socket
// with a code that means "do not reconnect" (1007, 1008, 1009, 4500-4999),
// or refused the handshake with an HTTP status (Code 0, Status set).
type CloseError struct {
	Code   int
	Reason string
	Status int // HTTP status of a refused handshake, 0 otherwise
}

func (e *CloseError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("wsnode client: handshake refused with HTTP %d", e.Status)
	}
	return fmt.Sprintf("wsnode client: closed with %d %q, not reconnecting", e.Code, e.Reason)
}

// Error is an error frame the node sent in answer to a request.
type Error struct {
	Code    string // e.g. "forbidden", "not_member", "offline", "unavailable"
	Message string
	Frame   Frame
}

func (e *Error) Error() string { return "wsnode: " + e.Code + ": " + e.Message }

var (
	// ErrClosed is returned by calls on a client after Close.
	ErrClosed = errors.New("wsnode client: closed")
	// ErrConnectionLost is returned by a request whose socket ended before
	// the answer arrived; the node may or may not have acted on it.
	ErrConnectionLost = errors.New("wsnode client: connection lost before the answer")
)
