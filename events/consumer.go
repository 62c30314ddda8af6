package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors returned by Run.
var (
	ErrRunning    = errors.New("events: Run already called")
	ErrNilHandler = errors.New("events: nil handler")
)

// Consumer reads the event stream as one consumer of a group. Run reads;
// Stats and Config may be called from any goroutine at any time.
type Consumer struct {
	rdb     redis.UniversalClient
	cfg     Config
	started atomic.Bool

	handled, failed, malformed, trimmed, claimed, errs atomic.Int64
}

// New returns a Consumer of the stream on rdb configured by cfg. It does not
// touch Redis: Run creates the group when it is missing.
func New(rdb redis.UniversalClient, cfg Config) (*Consumer, error) {
	if rdb == nil {
		return nil, errors.New("events: new: nil redis client")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("events: new: %w", err)
	}
	return &Consumer{rdb: rdb, cfg: cfg}, nil
}

// Config returns the effective configuration (with defaults applied).
func (c *Consumer) Config() Config { return c.cfg }

// Stats returns the counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Handled: c.handled.Load(), Failed: c.failed.Load(), Malformed: c.malformed.Load(),
		Trimmed: c.trimmed.Load(), Claimed: c.claimed.Load(), Errors: c.errs.Load(),
	}
}

// Run reads the stream and calls h for each entry, one call at a time,
// until ctx is canceled; it then returns nil. It creates the group when it
// is missing (again after a Redis flush), first handles this consumer's own
// pending entries (left by a previous process of the same name), then new
// entries, and every ClaimInterval the entries pending longer than
// ClaimMinIdle on any consumer of the group.
//
// An entry is acknowledged after h returns nil. An entry whose field is
// missing or does not decode is acknowledged without calling h, logged and
// counted (Stats.Malformed). Redis errors are logged and retried with
// backoff (up to 5 s apart); they never end Run.
//
// When ctx is canceled during a call of h, the call finishes and its entry
// is acknowledged (when h returned nil) before Run returns; the context h was given is canceled
// HandlerGrace after ctx. Entries read but not yet handled stay pending:
// the next Run of this consumer name handles them first, and other
// consumers of the group take them over after ClaimMinIdle.
//
// Run may be called once; a second call returns ErrRunning.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return ErrNilHandler
	}
	if !c.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	hctx, stop := c.handlerContext(ctx)
	defer stop()
	r := &runner{c: c, h: h, ctx: ctx, hctx: hctx, log: c.cfg.Logger.With(
		"stream", c.cfg.Stream, "group", c.cfg.Group, "consumer", c.cfg.Consumer)}
	r.run()
	return nil
}

// handlerContext returns the context given to the handler: it carries
// ctx's values and is canceled HandlerGrace after ctx. stop releases it.
func (c *Consumer) handlerContext(ctx context.Context) (context.Context, func()) {
	if c.cfg.HandlerGrace < 0 {
		return ctx, func() {}
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel()
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		t := time.NewTimer(c.cfg.HandlerGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-done:
		}
	})
	return hctx, func() { close(done); wg.Wait() }
}
