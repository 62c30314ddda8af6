package registry

import "github.com/wsnode/wsnode/cluster"

// The records, name rules and errors live in package cluster, so that
// package node can speak in them without importing Redis. These aliases keep
// registry's own API.
type (
	Conn        = cluster.Conn
	Activity    = cluster.Activity
	Node        = cluster.Node
	Room        = cluster.Room
	RoomSummary = cluster.RoomSummary
	User        = cluster.User
	Counts      = cluster.Counts
	NameError   = cluster.NameError
)

// Connection types and states; see package cluster.
const (
	TypeUser        = cluster.TypeUser
	TypeAIAssistant = cluster.TypeAIAssistant
	TypeSystem      = cluster.TypeSystem
	TypeGuest       = cluster.TypeGuest

	StateConnected     = cluster.StateConnected
	StateAuthenticated = cluster.StateAuthenticated
	StateInactive      = cluster.StateInactive
	StateDisconnected  = cluster.StateDisconnected

	MaxNameLen = cluster.MaxNameLen
)

// Errors of the registry; see package cluster.
var (
	ErrNotFound       = cluster.ErrNotFound
	ErrUserLimit      = cluster.ErrUserLimit
	ErrNodeIDConflict = cluster.ErrNodeIDConflict
)

// ValidateName is cluster.ValidateName.
func ValidateName(kind, name string) error { return cluster.ValidateName(kind, name) }

// validateNames validates several names of one kind, stopping at the first error.
func validateNames(kind string, names []string) error {
	for _, n := range names {
		if err := ValidateName(kind, n); err != nil {
			return err
		}
	}
	return nil
}
