package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/internal/defaults"
	"github.com/wsnode/wsnode/internal/noretry"
)

// DefaultFlushInterval is how often Run flushes when Config.FlushInterval is zero.
const DefaultFlushInterval = defaults.FlushInterval

// Config configures a Stats. The zero value of each field means its default.
type Config struct {
	// Prefix is the Redis key prefix. Default "ws" (registry.DefaultPrefix).
	Prefix string
	// FlushInterval is how often deltas go to Redis. Default
	// DefaultFlushInterval; server passes the node's (node.Config.FlushInterval,
	// which is at most 1s).
	FlushInterval time.Duration
	// Logger receives flush failures. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = defaults.KeyPrefix
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Snapshot is counter.Snapshot.
type Snapshot = counter.Snapshot

// Stats counts events locally and flushes them to Redis.
type Stats struct {
	rdb  redis.UniversalClient
	cfg  Config
	msgs counterSet
	errs counterSet
	ctrs counterSet

	flushMu  sync.Mutex // serialises flushes (Run and explicit Flush)
	rateBits atomic.Uint64
	lastAt   time.Time
	lastMsgs int64
	failures atomic.Int64
	runOnce  atomic.Bool
}

// New returns a Stats writing to rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Stats, error) {
	if rdb == nil {
		return nil, errors.New("stats: nil redis client")
	}
	cfg.setDefaults()
	return &Stats{
		rdb:    rdb,
		cfg:    cfg,
		msgs:   newCounterSet(counter.MessageNames(), counter.MsgUnknown),
		errs:   newCounterSet(counter.ErrorNames(), counter.ErrOther),
		ctrs:   newCounterSet(counter.CounterNames(), ""),
		lastAt: time.Now(),
	}, nil
}

// Message counts one inbound message of the given type.
func (s *Stats) Message(typ string) { s.msgs.add(typ, 1) }

// Error counts one error of the given kind.
func (s *Stats) Error(kind string) { s.errs.add(kind, 1) }

// Add adds n to the named event counter; unknown names are ignored.
func (s *Stats) Add(name string, n int64) { s.ctrs.add(name, n) }

// FlushFailures reports how many flushes failed since start.
func (s *Stats) FlushFailures() int64 { return s.failures.Load() }

// MessagesPerSecond is this node's inbound message rate over the last flush interval.
func (s *Stats) MessagesPerSecond() float64 { return math.Float64frombits(s.rateBits.Load()) }

// Local returns this node's counters since start.
func (s *Stats) Local() Snapshot {
	snap := Snapshot{MessagesByType: s.msgs.snapshot(), ErrorsByKind: s.errs.snapshot(), Counters: s.ctrs.snapshot()}
	snap.MessagesTotal, snap.ErrorsTotal = sum(snap.MessagesByType), sum(snap.ErrorsByKind)
	return snap
}

func (s *Stats) key(name string) string { return s.cfg.Prefix + ":stats:" + name }

// Cluster returns the counters summed over every node, as of each node's last flush.
func (s *Stats) Cluster(ctx context.Context) (Snapshot, error) {
	pipe := s.rdb.Pipeline()
	m := pipe.HGetAll(ctx, s.key("msgs"))
	e := pipe.HGetAll(ctx, s.key("errors"))
	c := pipe.HGetAll(ctx, s.key("counters"))
	if _, err := pipe.Exec(ctx); err != nil {
		return Snapshot{}, fmt.Errorf("stats: read cluster counters: %w", err)
	}
	snap := Snapshot{MessagesByType: parseInts(m.Val()), ErrorsByKind: parseInts(e.Val()), Counters: parseInts(c.Val())}
	snap.MessagesTotal, snap.ErrorsTotal = sum(snap.MessagesByType), sum(snap.ErrorsByKind)
	return snap, nil
}

func parseInts(in map[string]string) map[string]int64 {
	out := make(map[string]int64, len(in))
	for k, v := range in {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// Run flushes every FlushInterval until ctx is done, then flushes once more
// with a short deadline so a clean shutdown loses nothing.
func (s *Stats) Run(ctx context.Context) error {
	if !s.runOnce.CompareAndSwap(false, true) {
		return errors.New("stats: Run called twice")
	}
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			if err := s.Flush(fctx); err != nil {
				s.cfg.Logger.Warn("final stats flush failed", "err", err)
			}
			return nil
		case <-t.C:
			if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("stats flush failed; will retry", "err", err)
			}
		}
	}
}

// Flush writes all unflushed deltas with one pipelined HINCRBY per changed
// field. Each field is marked flushed only when its own HINCRBY succeeded,
// so a partly failed flush loses nothing. An HINCRBY is never re-sent by
// go-redis; one that ran but lost its reply is added again next time.
func (s *Stats) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.updateRate()
	sets := []struct {
		cs  counterSet
		key string
	}{{s.msgs, s.key("msgs")}, {s.errs, s.key("errors")}, {s.ctrs, s.key("counters")}}
	type pending struct {
		c    *total
		seen int64
		res  *redis.IntCmd
	}
	var todo []pending
	pipe := s.rdb.Pipeline()
	for _, set := range sets {
		for name, c := range set.cs.byName {
			if v := c.total.Load(); v != c.flushed {
				cmd, res := noretry.HIncrBy(ctx, set.key, name, v-c.flushed)
				_ = pipe.Process(ctx, cmd) // queues; errors come from Exec
				todo = append(todo, pending{c, v, res})
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	for _, p := range todo {
		if p.res.Err() == nil {
			p.c.flushed = p.seen
		}
	}
	if err != nil {
		s.failures.Add(1)
		return fmt.Errorf("stats: flush: %w", err)
	}
	return nil
}

func (s *Stats) updateRate() {
	now := time.Now()
	total := sum(s.msgs.snapshot())
	if dt := now.Sub(s.lastAt).Seconds(); dt > 0 {
		s.rateBits.Store(math.Float64bits(float64(total-s.lastMsgs) / dt))
	}
	s.lastAt, s.lastMsgs = now, total
}
