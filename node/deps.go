package node

import (
	"context"
	"time"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
)

// Membership is the part of the cluster registry that records this node's
// connections.
type Membership interface {
	Register(ctx context.Context, c cluster.Conn) error
	Authenticate(ctx context.Context, connID, user, connType string, at time.Time) error
	Join(ctx context.Context, connID, room string, at time.Time) error
	Leave(ctx context.Context, connID, room string, at time.Time) error
	SetState(ctx context.Context, connID, state string) error
	Unregister(ctx context.Context, connID string) error
	Touch(ctx context.Context, conns []cluster.Activity) error
}

// Liveness keeps this node's heartbeat and reaps dead nodes.
type Liveness interface {
	Heartbeat(ctx context.Context, n cluster.Node) (lost bool, err error)
	Reassert(ctx context.Context, conns []cluster.Conn) error
	Deregister(ctx context.Context) error
	NodeConnCount(ctx context.Context) (int64, error)
	// Reap removes the connections of dead nodes and returns them (ID,
	// NodeID, User, Type and Rooms set), each exactly once cluster-wide.
	Reap(ctx context.Context) ([]cluster.Conn, error)
}

// Directory answers cluster-wide queries.
type Directory interface {
	ConnNode(ctx context.Context, id string) (string, error)
	Conn(ctx context.Context, id string) (cluster.Conn, error)
	Room(ctx context.Context, name string) (cluster.Room, error)
	Rooms(ctx context.Context) ([]cluster.RoomSummary, error)
	User(ctx context.Context, name string) (cluster.User, error)
	Nodes(ctx context.Context) ([]cluster.Node, error)
	Counts(ctx context.Context) (cluster.Counts, error)
	Activity(ctx context.Context) (map[string]time.Time, error)
}

// Registry is the write side of the cluster registry that node needs: its
// own connections and its liveness. The read side is Directory; package
// registry's *Registry is both.
type Registry interface {
	Membership
	Liveness
}

// Broker routes envelopes between nodes. A Broker that also has a method
// CopiesPayload() bool returning true promises that PublishAsync keeps no
// reference to the envelope's Payload once it returns; the node then
// reuses the buffers it encodes client messages into (pubsub.Broker does).
type Broker interface {
	Publish(ctx context.Context, e envelope.Envelope) error
	// PublishAsync queues e and calls done (if not nil, without blocking)
	// exactly once with the outcome of its PUBLISH (see envelope.Result);
	// queued publishes are pipelined in order.
	PublishAsync(e envelope.Envelope, done func(envelope.Result))
	// AppendEvent queues a client event (cluster.Event as JSON) for the
	// event stream, pipelined with the publishes; it never blocks.
	AppendEvent(event []byte)
	Subscribe(ctx context.Context, kind envelope.Kind, target string) error
	Unsubscribe(ctx context.Context, kind envelope.Kind, target string) error
	Ready() bool
}

// Counters records statistics by the names of package counter; package
// stats implements it.
type Counters interface {
	Message(typ string)
	Error(kind string)
	Add(name string, n int64)
}

// Stats is Counters plus the read side used by the stats API.
type Stats interface {
	Counters
	Local() counter.Snapshot
	Cluster(ctx context.Context) (counter.Snapshot, error)
	MessagesPerSecond() float64
}
