package events

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/internal/defaults"
	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/registry"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultPrefix is the key prefix of the cluster (wsnode's --key-prefix).
	DefaultPrefix = defaults.KeyPrefix
	// DefaultCount is how many entries one read asks for.
	DefaultCount = 100
	// DefaultBlock is how long a read waits for new entries. It also bounds
	// how long Run takes to notice that its context was canceled while the
	// stream is idle.
	DefaultBlock = 2 * time.Second
	// DefaultClaimMinIdle is how long an entry must have been pending (read
	// but not acknowledged) before another consumer takes it over.
	DefaultClaimMinIdle = 30 * time.Second
	// DefaultClaimInterval is how often Run looks for such entries.
	DefaultClaimInterval = 5 * time.Second
	// DefaultStartID is where a new group starts: at the oldest entry still
	// in the stream (see Config.StartID).
	DefaultStartID = "0"
	// DefaultHandlerGrace is how long a handler running when Run's context
	// is canceled may go on before its own context is canceled.
	DefaultHandlerGrace = 10 * time.Second
)

// StreamKey returns the key of the event stream of a cluster with key
// prefix prefix: prefix + ":events".
func StreamKey(prefix string) string { return registry.NewKeys(prefix).Events() }

// ClusterStreamKey returns the key of the event stream of a cluster whose
// nodes run on Redis Cluster (--redis-mode cluster): "{" + prefix +
// ":e}:events", hash-tagged (docs/redis-cluster.md).
func ClusterStreamKey(prefix string) string { return keyspace.New(prefix).Events() }

// Config configures a Consumer. Its zero value is invalid only because
// Group is required; every other zero field means the documented default.
type Config struct {
	// Prefix is the cluster's key prefix; the stream is StreamKey(Prefix),
	// or ClusterStreamKey(Prefix) with RedisCluster.
	// Default DefaultPrefix. Same charset as names (cluster.ValidateName).
	Prefix string
	// RedisCluster: the nodes run on Redis Cluster, so the stream has the
	// cluster layout's name. Default false.
	RedisCluster bool
	// Stream, when set, is the stream's key and Prefix is ignored.
	Stream string
	// Group is the consumer group. Required. Every group sees every event
	// once; the consumers of one group share its events.
	Group string
	// Consumer names this consumer within the group. Default
	// "<hostname>-<pid>". A consumer restarted under the same name first
	// handles the entries it had read but not acknowledged; give each
	// worker of a group its own name.
	Consumer string
	// Count is the most entries one read (XREADGROUP, XAUTOCLAIM) returns.
	// Default DefaultCount.
	Count int
	// Block is how long a read waits for new entries. Default DefaultBlock;
	// at least a millisecond.
	Block time.Duration
	// ClaimMinIdle: an entry pending this long on any consumer of the group
	// (a dead worker, or a handler that failed) is taken over and handled
	// again (XAUTOCLAIM). Default DefaultClaimMinIdle; at least a
	// millisecond. Keep it well above the slowest handler call: an entry
	// whose handler runs longer is handled twice.
	ClaimMinIdle time.Duration
	// ClaimInterval is how often Run looks for such entries. Default
	// DefaultClaimInterval.
	ClaimInterval time.Duration
	// StartID is the stream id a new group starts after (XGROUP CREATE);
	// it matters only when Run creates the group. Default DefaultStartID,
	// "0": the group first sees every entry still in the stream, including
	// those written before any worker ran (the stream is capped, so that is
	// at most the writers' MAXLEN). "$" starts with the entries written
	// after the group was created.
	StartID string
	// HandlerGrace is how long a handler call running when Run's context is
	// canceled may go on before the context it was given is canceled.
	// Default DefaultHandlerGrace; negative: none (the handler's context is
	// canceled with Run's).
	HandlerGrace time.Duration
	// Logger receives handler errors, malformed entries and Redis errors.
	// Default slog.Default().
	Logger *slog.Logger
}

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
	if c.Stream == "" && c.RedisCluster {
		c.Stream = ClusterStreamKey(c.Prefix)
	}
	if c.Stream == "" {
		c.Stream = StreamKey(c.Prefix)
	}
	if c.Consumer == "" {
		c.Consumer = defaultConsumer()
	}
	if c.Count == 0 {
		c.Count = DefaultCount
	}
	if c.Block == 0 {
		c.Block = DefaultBlock
	}
	if c.ClaimMinIdle == 0 {
		c.ClaimMinIdle = DefaultClaimMinIdle
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = DefaultClaimInterval
	}
	if c.StartID == "" {
		c.StartID = DefaultStartID
	}
	if c.HandlerGrace == 0 {
		c.HandlerGrace = DefaultHandlerGrace
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c Config) validate() error {
	if err := cluster.ValidateName("prefix", c.Prefix); err != nil {
		return err
	}
	if c.Group == "" {
		return errors.New("Config.Group is required")
	}
	if c.Count < 0 {
		return fmt.Errorf("Config.Count (%d) must not be negative", c.Count)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"Config.Block", c.Block}, {"Config.ClaimMinIdle", c.ClaimMinIdle}, {"Config.ClaimInterval", c.ClaimInterval}} {
		if f.d < time.Millisecond {
			return fmt.Errorf("%s (%v) must be at least 1ms", f.name, f.d)
		}
	}
	if !validStartID(c.StartID) {
		return fmt.Errorf(`Config.StartID %q: want "$", "0" or a stream id such as 1700000000000-0`, c.StartID)
	}
	return nil
}

// validStartID accepts "$" and "<ms>" or "<ms>-<seq>" in decimal.
func validStartID(id string) bool {
	if id == "$" {
		return true
	}
	ms, seq, hasSeq := strings.Cut(id, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if hasSeq {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// defaultConsumer is "<hostname>-<pid>".
func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "consumer"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}
