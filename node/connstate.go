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

// ConnType is the kind of client; the values are the registry's, and the
// protocol's (protocol.ConnTypeUser, ...; but for guest, the token's
// conn_type values of package auth).
type ConnType string

// Connection types.
const (
	TypeUser        ConnType = registry.TypeUser
	TypeAIAssistant ConnType = registry.TypeAIAssistant
	TypeSystem      ConnType = registry.TypeSystem
	TypeGuest       ConnType = registry.TypeGuest // not authenticated
)
