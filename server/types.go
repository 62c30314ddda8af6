package server

import (
	"fmt"
	"net/http"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/node"
)

// The types the cluster-wide API returns. They are defined by the packages
// that produce them (cluster for the records Redis holds, node for the
// figures and history pages) and named here so that an embedder needs only
// this package.
type (
	// Conn is one connection as the cluster records it.
	Conn = cluster.Conn
	// Room is a room with its members.
	Room = cluster.Room
	// RoomSummary is a room name with its connection count.
	RoomSummary = cluster.RoomSummary
	// User is a user with its connections.
	User = cluster.User
	// NodeInfo is a node's heartbeat record.
	NodeInfo = cluster.Node
	// Stats are the seed's connection statistics, for the cluster or for
	// this node.
	Stats = node.ConnectionStats
	// HistoryPage is one read of a room's history.
	HistoryPage = node.HistoryPage
	// Position is a point in a room's history.
	Position = node.Position
	// ConnType is the kind of client.
	ConnType = node.ConnType
)

// Connection types an application may give an Identity.
const (
	TypeUser        = node.TypeUser
	TypeAIAssistant = node.TypeAIAssistant
	TypeSystem      = node.TypeSystem
)

// Errors of the cluster-wide API; branch on them with errors.Is.
var (
	// ErrNotFound: no such connection, room or user in the cluster.
	ErrNotFound = node.ErrNotFound
	// ErrInvalidInput: a bad name, id, close code, reason or JSON value.
	ErrInvalidInput = node.ErrInvalidInput
	// ErrUnavailable: Redis could not be reached, or a message may not
	// have reached everyone; retry.
	ErrUnavailable = node.ErrUnavailable
)

// Identity is who a client is, as the embedding application established it.
type Identity struct {
	// User is the user name (1-128 of [A-Za-z0-9_.@=-]).
	User string
	// Type is the connection type. Default TypeUser.
	Type ConnType
}

// WithIdentity returns a shallow copy of r that carries id, for an
// application that authenticates requests itself (a session cookie, mTLS,
// its own login) instead of issuing tokens. Serve the returned request with
// ClientHandler: the connection is authenticated as id from the upgrade on,
// with no token and no auth frame, and its identity does not expire. Only
// code in the process can attach an identity; a client cannot.
func WithIdentity(r *http.Request, id Identity) (*http.Request, error) {
	if id.Type == "" {
		id.Type = TypeUser
	}
	switch id.Type {
	case TypeUser, TypeAIAssistant, TypeSystem:
	default:
		return nil, fmt.Errorf("server: %w: connection type %q", ErrInvalidInput, id.Type)
	}
	if err := cluster.ValidateName("user", id.User); err != nil {
		return nil, fmt.Errorf("server: %w: %w", ErrInvalidInput, err)
	}
	ctx := auth.NewContext(r.Context(), auth.Claims{User: id.User, ConnType: string(id.Type)})
	return r.WithContext(ctx), nil
}
