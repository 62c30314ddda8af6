package node

import (
	"context"
	"time"

	"github.com/wsnode/wsnode/pubsub"
	"github.com/wsnode/wsnode/registry"
	"github.com/wsnode/wsnode/stats"
)

// Membership is the part of the cluster registry that records this node's
// connections.
type Membership interface {
	Register(ctx context.Context, c registry.Conn) error
	Authenticate(ctx context.Context, connID, user, connType string, at time.Time) error
	Join(ctx context.Context, connID, room string, at time.Time) error
	Leave(ctx context.Context, connID, room string, at time.Time) error
	SetState(ctx context.Context, connID, state string) error
	Unregister(ctx context.Context, connID string) error
	Touch(ctx context.Context, conns []registry.Activity) error
}

// Liveness keeps this node's heartbeat and reaps dead nodes.
type Liveness interface {
	Heartbeat(ctx context.Context, n registry.Node) (lost bool, err error)
	Reassert(ctx context.Context, conns []registry.Conn) error
	Deregister(ctx context.Context) error
	NodeConnCount(ctx context.Context) (int64, error)
	ReapDead(ctx context.Context) (int, error)
}

// Directory answers cluster-wide queries.
type Directory interface {
	ConnNode(ctx context.Context, id string) (string, error)
	Conn(ctx context.Context, id string) (registry.Conn, error)
	Room(ctx context.Context, name string) (registry.Room, error)
	Rooms(ctx context.Context) ([]registry.RoomSummary, error)
	User(ctx context.Context, name string) (registry.User, error)
	Nodes(ctx context.Context) ([]registry.Node, error)
	Counts(ctx context.Context) (registry.Counts, error)
	Activity(ctx context.Context) (map[string]time.Time, error)
}

// Registry is everything node needs from the cluster registry.
type Registry interface {
	Membership
	Liveness
	Directory
}

// Broker routes envelopes between nodes.
type Broker interface {
	Publish(ctx context.Context, e pubsub.Envelope) error
	// PublishAsync queues e and calls done (if not nil, without blocking)
	// exactly once with the outcome of its PUBLISH (see pubsub.Result);
	// queued publishes are pipelined in order.
	PublishAsync(e pubsub.Envelope, done func(pubsub.Result))
	Subscribe(ctx context.Context, kind pubsub.Kind, target string) error
	Unsubscribe(ctx context.Context, kind pubsub.Kind, target string) error
	Ready() bool
}

// Counters records statistics; see package stats.
type Counters interface {
	Message(typ string)
	Error(kind string)
	Add(name string, n int64)
}

// Stats is Counters plus the read side used by the stats API.
type Stats interface {
	Counters
	Local() stats.Snapshot
	Cluster(ctx context.Context) (stats.Snapshot, error)
	MessagesPerSecond() float64
}
