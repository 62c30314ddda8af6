package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/internal/settings"
	"github.com/wsnode/wsnode/joinhook"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
)

// DefaultMaxConnsPerUser is the cluster-wide cap of connections per user
// when Config.MaxConnsPerUser is zero.
const DefaultMaxConnsPerUser = 16

// Config configures a Server. Zero values mean the documented defaults,
// which are defined by the packages the settings are passed to (and shown
// by wsnode -h). Settings that depend on each other are checked together:
// New returns an error that names both.
type Config struct {
	// Node configures the connection manager; Node.NodeID is required.
	// Node.Verifier checks client tokens; nil means no token is accepted,
	// for applications that authenticate clients themselves (WithIdentity).
	// Node.Logger defaults to Logger.
	Node node.Config
	// Prefix is the Redis key and channel prefix. Default registry.DefaultPrefix.
	Prefix string
	// HeartbeatTTL is how long a silent node stays alive in Redis. It must
	// exceed twice Node.HeartbeatInterval, so that a node that misses one
	// heartbeat is not reaped. Default registry.DefaultHeartbeatTTL.
	HeartbeatTTL time.Duration
	// ReapGrace is how long this node must see another node's heartbeat
	// missing before it reaps that node. A Redis failover that outlasts
	// HeartbeatTTL can leave the promoted replica without the heartbeats
	// of nodes that are alive; the grace gives them time to beat again, at
	// the cost of reaping a crashed node that much later. Default: the
	// registry's (registry.Config.ReapGrace): HeartbeatTTL when
	// RedisCluster is set, none otherwise; the wsnode command sets
	// HeartbeatTTL in sentinel mode too. Negative: none.
	ReapGrace time.Duration
	// PubSubPingInterval is how long the pub/sub receive connection may be
	// idle before it is probed with a PING. Default pubsub.DefaultPingInterval.
	PubSubPingInterval time.Duration
	// PubSubPongWait is how long that PING may go unanswered before the
	// connection is replaced, which loses messages: a Redis stall shorter
	// than this loses nothing. Default pubsub.DefaultPongWait.
	PubSubPongWait time.Duration
	// PubSubSubscribeTimeout is how long a join waits for Redis to confirm
	// the room's SUBSCRIBE. Default pubsub.DefaultSubscribeTimeout.
	PubSubSubscribeTimeout time.Duration
	// PubSubPublishTimeout bounds one pipelined round trip of client
	// messages to Redis. Default pubsub.DefaultPublishTimeout.
	PubSubPublishTimeout time.Duration
	// RedisCluster selects the Redis Cluster layout and operations of
	// docs/redis-cluster.md (hash-tagged buckets, sharded pub/sub); rdb must
	// then talk to a Redis Cluster ≥ 7.0, normally a *redis.ClusterClient,
	// whose slot map the server follows. Default false: one Redis primary
	// (or one that Sentinel fails over).
	RedisCluster bool
	// MaxConnsPerUser is the cluster-wide cap per user. Default
	// DefaultMaxConnsPerUser; node.Unlimited (any negative value) means no cap.
	MaxConnsPerUser int
	// History configures room history (package history). The zero value
	// (Size 0) keeps no history; Prefix is taken from Prefix.
	History history.Config
	// JoinHook is the backend's join hook (package joinhook), asked about
	// every join when Node.RoomsPolicy is node.RoomsHook and
	// Node.JoinAuthorizer is nil. NodeID is taken from Node.NodeID.
	JoinHook joinhook.Config
	// EventsMaxLen is the approximate cap of the client event stream P:events
	// that Node.Events turns on. Default registry.DefaultEventsMaxLen.
	EventsMaxLen int64
	// AdminKey protects the admin API when set.
	AdminKey string
	// AdminTimeout bounds each admin request's Redis work. Default admin.DefaultTimeout.
	AdminTimeout time.Duration
	// AdminMaxBodyBytes caps admin POST bodies. Default admin.DefaultMaxBodyBytes.
	AdminMaxBodyBytes int64
	// Pprof serves net/http/pprof on the admin API. Default off.
	Pprof bool
	// Logger is the base logger. Default slog.Default().
	Logger *slog.Logger
}

// CheckSettings reports the first setting of c, with the defaults filled
// in, that is out of range or that does not fit with another, naming the
// fields (node's as node.Config names them). New checks the same, and also
// requires Node.NodeID.
func (c Config) CheckSettings() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HeartbeatTTL", c.HeartbeatTTL}, {"PubSubPingInterval", c.PubSubPingInterval},
		{"PubSubPongWait", c.PubSubPongWait}, {"PubSubSubscribeTimeout", c.PubSubSubscribeTimeout},
		{"PubSubPublishTimeout", c.PubSubPublishTimeout}, {"AdminTimeout", c.AdminTimeout},
	} {
		if d.v < 0 {
			return settings.Range(d.name, d.v, notNegative)
		}
	}
	if c.AdminMaxBodyBytes < 0 {
		return settings.Range("AdminMaxBodyBytes", c.AdminMaxBodyBytes, notNegative)
	}
	if c.EventsMaxLen < 0 {
		return settings.Range("EventsMaxLen", c.EventsMaxLen, notNegative)
	}
	if c.JoinHook.URL != "" && c.Node.RoomsPolicy != node.RoomsHook {
		return settings.Conflict("JoinHook.URL", c.JoinHook.URL, "Node.RoomsPolicy", c.Node.RoomsPolicy,
			"%[1]s (%[2]q) is only used with %[3]s hook, not %[4]q")
	}
	// A node's heartbeat must outlive one missed beat, or a live node whose
	// one beat was late or failed is reaped by its peers.
	ttl := registry.Config{HeartbeatTTL: c.HeartbeatTTL}.WithDefaults().HeartbeatTTL
	if interval := c.Node.WithDefaults().HeartbeatInterval; ttl <= 2*interval {
		return settings.Conflict("HeartbeatTTL", ttl, "Node.HeartbeatInterval", interval,
			"%[1]s (%[2]v) must be more than twice %[3]s (%[4]v), so that a node that misses one heartbeat is not reaped")
	}
	n := c.Node
	if n.RoomsPolicy == node.RoomsHook && n.JoinAuthorizer == nil && c.JoinHook.URL != "" {
		if _, err := joinhook.New(c.JoinHook); err != nil {
			return settings.Range("JoinHook.URL", c.JoinHook.URL, "%[1]s (%[2]q) must be an absolute http or https URL")
		}
		n.JoinAuthorizer = hookToBuild{} // New builds the real one
	}
	return n.CheckSettings()
}

const notNegative = "%[1]s (%[2]v) must not be negative (0 means the default)"

// hookToBuild stands in for the join hook that New builds, so that
// CheckSettings can check the node's settings before.
type hookToBuild struct{}

func (hookToBuild) AuthorizeJoin(context.Context, string, string, string, string) (bool, error) {
	return false, errors.New("server: join hook not built")
}
