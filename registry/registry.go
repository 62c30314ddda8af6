package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/cmdbatch"
	"github.com/wsnode/wsnode/internal/defaults"
	"github.com/wsnode/wsnode/internal/keyspace"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultPrefix starts every key and channel of a cluster when no prefix
	// is configured: it is the default of registry, pubsub, stats and history.
	DefaultPrefix = defaults.KeyPrefix
	// DefaultHeartbeatTTL is how long a heartbeat stays valid.
	DefaultHeartbeatTTL = 6 * time.Second
)

// Batch sizes: connections per pipelined round trip in Reassert, and per
// script call when reaping or draining a node.
const (
	reassertBatch = 256
	evictBatch    = 128
)

// Config configures a Registry. Its zero value is invalid only because
// NodeID is required; every other zero field means the documented default.
type Config struct {
	// Prefix starts every key. Default DefaultPrefix. Same charset as names.
	Prefix string
	// NodeID identifies this node. Required; must be a valid name.
	NodeID string
	// HeartbeatTTL is how long a heartbeat stays valid. Default
	// DefaultHeartbeatTTL. Heartbeat more often than this (e.g. every TTL/3;
	// server requires more than twice the node's heartbeat interval).
	HeartbeatTTL time.Duration
	// MaxConnsPerUser caps a user's connections cluster-wide, checked
	// atomically in Authenticate. 0 means unlimited.
	MaxConnsPerUser int
	// EventsStream, when set, is the client event stream (P:events) that
	// Reap appends the disconnect events of reaped connections to, trimmed
	// to about EventsMaxLen entries. Default none.
	EventsStream string
	// EventsMaxLen is the approximate cap of EventsStream. Default
	// DefaultEventsMaxLen.
	EventsMaxLen int64
	// Cluster selects the Redis Cluster layout and operations of
	// docs/redis-cluster.md; the client must talk to a Redis Cluster.
	// Default false: single-Redis layout.
	Cluster bool
	// ReapGrace: a node whose heartbeat is missing is reaped only once
	// this Registry has seen it missing for this long. When a failover
	// (a Redis Cluster shard's, or Sentinel's) takes longer than the
	// heartbeat TTL, the promoted replica may let live nodes' heartbeats
	// expire; the grace gives them time to beat again. Default
	// HeartbeatTTL in cluster mode and none otherwise (a node is reaped at
	// the first sighting; with one Redis, an outage stops every reaper
	// too); server sets it to HeartbeatTTL in sentinel mode. Negative:
	// none.
	ReapGrace time.Duration
}

// DefaultEventsMaxLen is the default approximate length cap of the event stream.
const DefaultEventsMaxLen = 1_000_000

// WithDefaults returns c with every zero field set to its default, as New
// does.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.HeartbeatTTL <= 0 {
		c.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if c.EventsMaxLen <= 0 {
		c.EventsMaxLen = DefaultEventsMaxLen
	}
	if c.ReapGrace == 0 && c.Cluster {
		c.ReapGrace = c.HeartbeatTTL
	}
}

func (c Config) validate() error {
	if err := ValidateName("prefix", c.Prefix); err != nil {
		return err
	}
	if err := ValidateName("node", c.NodeID); err != nil {
		return err
	}
	if c.MaxConnsPerUser < 0 {
		return errors.New("MaxConnsPerUser must be >= 0")
	}
	return nil
}

// Registry is the Redis model of one node's view of the cluster. It is safe
// for concurrent use: all state lives in Redis (but for the reaper's cached
// node list), and every multi-key change to connections, users and rooms is
// one atomic Lua script.
type Registry struct {
	rdb   redis.UniversalClient
	batch cmdbatch.Doer // the connection scripts and small cluster steps: a Batcher, or a Cluster (per primary)
	cfg   Config
	keys  Keys
	now   func() time.Time
	inc   string // this process's incarnation (see Incarnation)

	takeover takeover // whether earlier processes' connections may go

	reapMu    sync.Mutex // guards the fields below (ReapDead's node list cache)
	known     []string   // other nodes, from the last SMEMBERS of P:nodes
	reapCalls int
	missing   map[string]time.Time // cluster mode: when each heartbeat was first seen missing

	loadMu sync.Mutex    // cluster mode: one load of the scripts at a time (loadClusterScripts)
	loads  atomic.Uint64 // loads completed

	// Cluster mode only (Config.Cluster); see cluster.go.
	ck       keyspace.Cluster
	flightMu sync.Mutex
	inFlight map[string]int      // connection ids with a multi-step change under way
	watchers int                 // dropStale calls running
	touched  map[string]struct{} // ids that began or ended a change while watchers > 0
	// failAfter, when set (tests only), is called after step k of a
	// cluster-mode operation op; a non-nil error aborts the operation there.
	failAfter func(op string, k int) error
}

// New returns a Registry for cfg.NodeID on rdb. It does not touch Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Registry, error) {
	if rdb == nil {
		return nil, errors.New("registry: new: nil redis client")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("registry: new: %w", err)
	}
	var batch cmdbatch.Doer = cmdbatch.New(rdb, cmdbatch.Config{})
	if cc, ok := rdb.(*redis.ClusterClient); ok && cfg.Cluster {
		batch = cmdbatch.NewCluster(cc, cmdbatch.Config{})
	}
	return &Registry{rdb: rdb, batch: batch, cfg: cfg, keys: NewKeys(cfg.Prefix), now: time.Now, inc: newIncarnation(),
		ck: keyspace.New(cfg.Prefix), inFlight: map[string]int{}}, nil
}

// Incarnation returns the random id of this Registry, written into the
// heartbeat and into every connection it registers. One process uses one
// Registry, so a node restarted with the same id has a new incarnation and
// never mistakes its predecessor's connections for its own.
func (r *Registry) Incarnation() string { return r.inc }

// NodeID returns this node's id.
func (r *Registry) NodeID() string { return r.cfg.NodeID }

// Prefix returns the key prefix.
func (r *Registry) Prefix() string { return r.cfg.Prefix }

// HeartbeatTTL returns the effective heartbeat TTL.
func (r *Registry) HeartbeatTTL() time.Duration { return r.cfg.HeartbeatTTL }

// Keys returns the key builder for this registry's prefix: the single-mode
// names; with Config.Cluster the keys are named by internal/keyspace.
func (r *Registry) Keys() Keys { return r.keys }

// wrap prefixes err with the operation and maps redis.Nil to ErrNotFound.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		err = ErrNotFound
	}
	return fmt.Errorf("registry: %s: %w", op, err)
}

// statusErr maps a script status code to an error.
func statusErr(op string, code int64) error {
	switch code {
	case codeOK:
		return nil
	case codeNotFound:
		return wrap(op, ErrNotFound)
	case codeUserLimit:
		return wrap(op, ErrUserLimit)
	}
	return fmt.Errorf("registry: %s: unexpected script status %d", op, code)
}

// run runs script through the batcher (EVALSHA; after NOSCRIPT, from a
// fresh or flushed Redis or a promoted replica, the script is loaded, in
// cluster mode with every cluster script on every primary, and run once
// more). The connection scripts go this way, and the single-slot steps of
// cluster mode, so that the registrations, authentications and joins of
// concurrent connects share round trips.
func (r *Registry) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	gen := r.loads.Load()
	cmd := cmdbatch.EvalSha(ctx, r.batch, script.Hash(), keys, args...)
	if !redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return cmd
	}
	var err error
	if r.cfg.Cluster {
		err = r.loadClusterScripts(ctx, gen) // every cluster script, once for all callers
	} else {
		err = script.Load(ctx, r.rdb).Err()
	}
	if err != nil {
		cmd.SetErr(err)
		return cmd
	}
	return cmdbatch.EvalSha(ctx, r.batch, script.Hash(), keys, args...)
}

// pipelined runs fn in a pipeline. Scripts inside use EvalSha, which cannot
// fall back per command; on NOSCRIPT (fresh or restarted Redis) it loads the
// scripts and retries once. Only idempotent commands may be pipelined here.
func (r *Registry) pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error) {
	cmds, err := r.rdb.Pipelined(ctx, fn)
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmds, err
	}
	for _, s := range pipelinedScripts {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return nil, err
		}
	}
	return r.rdb.Pipelined(ctx, fn)
}

// boolArg encodes a flag for a script argument.
func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ms converts t to unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS parses unix milliseconds; "", "0" and garbage give the zero time.
func fromMS(s string) time.Time {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return msTime(v)
}

// msTime converts unix milliseconds to a time; v <= 0 gives the zero time.
func msTime(v int64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
