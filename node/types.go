package node

// State is a connection's lifecycle state, as stored in the registry.
type State string

// Connection states.
const (
	StateConnected     State = "connected"     // open, not authenticated
	StateAuthenticated State = "authenticated" // bound to a user
	StateDisconnected  State = "disconnected"  // closed
	StateInactive      State = "inactive"      // closed for inactivity
)

// ConnType is the kind of client, as stored in the registry.
type ConnType string

// Connection types.
const (
	TypeUser        ConnType = "user"
	TypeAIAssistant ConnType = "ai_assistant"
	TypeSystem      ConnType = "system"
	TypeGuest       ConnType = "guest" // not authenticated
)

// Close codes. 4000-4499 mean "reconnect with backoff", 4500-4999 mean
// "do not reconnect" (see README).
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
	CloseAuthFailed      = 4500
	CloseAuthTimeout     = 4501
	CloseUserLimit       = 4502
)
