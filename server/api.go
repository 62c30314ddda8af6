package server

import (
	"context"
	"encoding/json"
	"time"
)

// The cluster-wide Go API. Every call works from any node, whichever node
// holds the sockets concerned: sends go through Redis pub/sub, queries read
// the registry in Redis. data is any JSON value (null included); it reaches
// clients as the "data" of a frame whose "from" is {"system":true}. Errors
// wrap ErrNotFound, ErrInvalidInput or ErrUnavailable.

// SendToConn sends data to one connection as a "direct" frame.
func (s *Server) SendToConn(ctx context.Context, connID string, data json.RawMessage) error {
	return s.node.SendToConn(ctx, connID, data)
}

// SendToUser sends data as a "direct" frame to every connection of user.
// ErrNotFound if the user has no connection in the cluster.
func (s *Server) SendToUser(ctx context.Context, user string, data json.RawMessage) error {
	return s.node.SendToUser(ctx, user, data)
}

// PublishRoom sends data as a "message" frame to every member of room,
// except the connection exclude (empty: nobody is excluded). In a room with
// history the message is stored and gets an offset like a client's.
func (s *Server) PublishRoom(ctx context.Context, room string, data json.RawMessage, exclude string) error {
	return s.node.BroadcastRoom(ctx, room, data, exclude)
}

// Broadcast sends data as a "broadcast" frame to every connection in the
// cluster, except exclude (may be empty).
func (s *Server) Broadcast(ctx context.Context, data json.RawMessage, exclude string) error {
	return s.node.BroadcastAll(ctx, data, exclude)
}

// Disconnect closes a connection on whichever node holds it, with code (0
// means 4006) and reason (valid UTF-8, at most 120 bytes).
func (s *Server) Disconnect(ctx context.Context, connID string, code int, reason string) error {
	return s.node.Disconnect(ctx, connID, code, reason)
}

// Stats returns exact cluster-wide figures, read from Redis; activity adds
// the last activity of every connection.
func (s *Server) Stats(ctx context.Context, activity bool) (Stats, error) {
	st, err := s.node.ClusterStats(ctx)
	if err != nil || !activity {
		return st, err
	}
	st.Activity, err = s.node.ClusterActivity(ctx)
	return st, err
}

// LocalStats returns this node's own figures; it does not touch Redis.
func (s *Server) LocalStats() Stats { return s.node.LocalStats() }

// Rooms lists the rooms with at least one member, sorted by name.
func (s *Server) Rooms(ctx context.Context) ([]RoomSummary, error) { return s.node.Rooms(ctx) }

// Room returns a room's members and their users. ErrNotFound when it has none.
func (s *Server) Room(ctx context.Context, name string) (Room, error) {
	return s.node.RoomStats(ctx, name)
}

// User returns a user's connections. ErrNotFound when it has none.
func (s *Server) User(ctx context.Context, name string) (User, error) { return s.node.User(ctx, name) }

// Conn returns one connection's record. ErrNotFound if it does not exist.
func (s *Server) Conn(ctx context.Context, id string) (Conn, error) { return s.node.ConnInfo(ctx, id) }

// Nodes returns every node with its heartbeat and whether it is alive.
func (s *Server) Nodes(ctx context.Context) ([]NodeInfo, error) { return s.node.Nodes(ctx) }

// History reads a room's history: up to limit of the newest messages, or
// with since those after it (see HistoryPage.Recovered).
func (s *Server) History(ctx context.Context, room string, limit int, since *Position) (HistoryPage, error) {
	return s.node.History(ctx, room, limit, since)
}

// CleanupInactive closes this node's connections idle for longer than
// maxIdle (code 4000) and returns how many; the node also does this by
// itself at Node.InactiveTimeout.
func (s *Server) CleanupInactive(maxIdle time.Duration) int { return s.node.CleanupInactive(maxIdle) }

// ID is this node's id.
func (s *Server) ID() string { return s.node.ID() }

// Ready returns nil when the node accepts and routes connections, else why
// not (starting, draining, Redis or pub/sub down).
func (s *Server) Ready() error { return s.node.Ready() }
