package node

import "github.com/wsnode/wsnode/registry"

// State is a connection's lifecycle state; the values are the registry's.
type State string

// Connection states.
const (
	StateConnected     State = registry.StateConnected     // open, not authenticated
	StateAuthenticated State = registry.StateAuthenticated // bound to a user
	StateDisconnected  State = registry.StateDisconnected  // closed
	StateInactive      State = registry.StateInactive      // closed for inactivity
)

// ConnType is the kind of client; the values are the registry's (and, but
// for guest, the token's conn_type values of package auth).
type ConnType string

// Connection types.
const (
	TypeUser        ConnType = registry.TypeUser
	TypeAIAssistant ConnType = registry.TypeAIAssistant
	TypeSystem      ConnType = registry.TypeSystem
	TypeGuest       ConnType = registry.TypeGuest // not authenticated
)

// Close codes. 4000-4499 mean "reconnect with backoff", 4500-4999 mean
// "do not reconnect" (see docs/protocol.md, "Close codes"). A refusal that
// can clear by itself always uses a 4000-4499 code.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001 // node draining
	CloseInvalidUTF8     = 1007
	ClosePolicy          = 1008 // too many malformed frames in a row
	CloseTooBig          = 1009
	CloseInactive        = 4000
	CloseSlowConsumer    = 4001
	CloseRateLimited     = 4002
	CloseNodeUnavailable = 4003
	ClosePingTimeout     = 4004
	CloseTokenExpired    = 4005
	CloseKicked          = 4006
	// CloseUserLimit: the per-user connection limit is reached. It clears
	// by itself when the user's other connections close (or their node is
	// found dead), so clients retry with backoff. It was 4502 ("do not
	// reconnect") before, which locked out users of a crashed node.
	CloseUserLimit   = 4007
	CloseAuthFailed  = 4500
	CloseAuthTimeout = 4501
)
