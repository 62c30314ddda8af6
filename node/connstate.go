package node

import "github.com/wsnode/wsnode/cluster"

// State is a connection's lifecycle state; the values are the registry's.
type State string

// Connection states.
const (
	StateConnected     State = cluster.StateConnected     // open, not authenticated
	StateAuthenticated State = cluster.StateAuthenticated // bound to a user
	StateDisconnected  State = cluster.StateDisconnected  // closed
	StateInactive      State = cluster.StateInactive      // closed for inactivity
)

// ConnType is the kind of client; the values are the registry's, and the
// protocol's (protocol.ConnTypeUser, ...; but for guest, the token's
// conn_type values of package auth).
type ConnType string

// Connection types.
const (
	TypeUser        ConnType = cluster.TypeUser
	TypeAIAssistant ConnType = cluster.TypeAIAssistant
	TypeSystem      ConnType = cluster.TypeSystem
	TypeGuest       ConnType = cluster.TypeGuest // not authenticated
)
