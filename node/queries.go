package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
)

// ConnectionStats is the seed's get_connection_stats, for the cluster or
// for this node only (Scope "cluster" or "node").
type ConnectionStats struct {
	Scope             string  `json:"scope"`
	NodeID            string  `json:"node_id"`
	ActiveConnections int64   `json:"active_connections"`
	PeakConnections   int64   `json:"peak_connections"`
	UniqueUsers       int64   `json:"unique_users"`
	Rooms             int64   `json:"rooms"`
	Nodes             int64   `json:"nodes"`
	MessagesPerSecond float64 `json:"messages_per_second"`
	UptimeSeconds     float64 `json:"uptime_seconds"`
	counter.Snapshot
	// Activity maps connection id to its last activity; filled only when asked for.
	Activity map[string]time.Time `json:"activity,omitempty"`
}

// LocalStats returns this node's figures.
func (n *Node) LocalStats() ConnectionStats {
	conns, peak, users, rooms := n.idx.counts()
	s := ConnectionStats{Scope: "node", NodeID: n.cfg.NodeID,
		ActiveConnections: int64(conns), PeakConnections: int64(peak), UniqueUsers: int64(users),
		Rooms: int64(rooms), Nodes: 1, MessagesPerSecond: n.stats.MessagesPerSecond(),
		UptimeSeconds: time.Since(n.started).Seconds(), Snapshot: n.stats.Local()}
	return s
}

// LocalActivity returns the last activity of every local connection.
func (n *Node) LocalActivity() map[string]time.Time {
	out := map[string]time.Time{}
	n.idx.eachConn(func(c *conn) { out[c.id] = time.UnixMilli(c.lastActivity.Load()) })
	return out
}

// ClusterActivity returns the last activity of every connection in the cluster.
func (n *Node) ClusterActivity(ctx context.Context) (map[string]time.Time, error) {
	return n.dir.Activity(ctx)
}

// ClusterStats returns exact cluster-wide figures read from Redis: counts
// from the registry, counters as of every node's last flush (at most one
// flush interval old) and the message rate summed over live nodes.
func (n *Node) ClusterStats(ctx context.Context) (ConnectionStats, error) {
	counts, err := n.dir.Counts(ctx)
	if err != nil {
		return ConnectionStats{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	snap, err := n.stats.Cluster(ctx)
	if err != nil {
		return ConnectionStats{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	nodes, err := n.dir.Nodes(ctx)
	if err != nil {
		return ConnectionStats{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rate := 0.0
	for _, nd := range nodes {
		if nd.Alive {
			rate += nd.MessagesPerSec
		}
	}
	return ConnectionStats{Scope: "cluster", NodeID: n.cfg.NodeID,
		ActiveConnections: counts.Active, PeakConnections: counts.Peak, UniqueUsers: counts.Users,
		Rooms: counts.Rooms, Nodes: counts.Nodes, MessagesPerSecond: rate,
		UptimeSeconds: time.Since(n.started).Seconds(), Snapshot: snap}, nil
}

// RoomStats is the seed's get_room_stats, cluster-wide.
func (n *Node) RoomStats(ctx context.Context, room string) (cluster.Room, error) {
	if err := cluster.ValidateName("room", room); err != nil {
		return cluster.Room{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	r, err := n.dir.Room(ctx, room)
	if errors.Is(err, cluster.ErrNotFound) {
		return r, ErrNotFound
	}
	return r, err
}

// Rooms lists every room in the cluster with its connection count.
func (n *Node) Rooms(ctx context.Context) ([]cluster.RoomSummary, error) { return n.dir.Rooms(ctx) }

// User returns every connection of a user in the cluster.
func (n *Node) User(ctx context.Context, user string) (cluster.User, error) {
	if err := cluster.ValidateName("user", user); err != nil {
		return cluster.User{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	u, err := n.dir.User(ctx, user)
	if errors.Is(err, cluster.ErrNotFound) {
		return u, ErrNotFound
	}
	return u, err
}

// Nodes lists the cluster's nodes with their last heartbeat.
func (n *Node) Nodes(ctx context.Context) ([]cluster.Node, error) { return n.dir.Nodes(ctx) }
