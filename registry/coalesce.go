package registry

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Coalescing limits.
const (
	// coalesceInFlight is the most shared round trips in flight at once;
	// more callers queue for the next one.
	coalesceInFlight = 4
	// coalesceBatch is the most scripts in one round trip.
	coalesceBatch = 128
)

// coalescer sends the scripts of concurrent callers in shared pipelines, so
// a burst of connects (register, authenticate and join, each a script) costs
// Redis round trips, pool connections and syscalls per batch instead of per
// call.
//
// A caller that finds fewer than coalesceInFlight round trips in flight
// becomes a leader: it sends everything queued, its own call included, as
// one pipeline. If more calls queued meanwhile, it hands the lead on to a
// new goroutine and returns with its own result; otherwise its slot is
// freed. An idle registry therefore sends each call at once, as a plain
// EVALSHA would, and adds no latency; under load, calls made while a round
// trip is in flight share the next one.
//
// Only idempotent scripts may go through it: a NOSCRIPT reply reloads the
// scripts and sends the whole pipeline again (see pipelined). Safe for
// concurrent use.
type coalescer struct {
	r        *Registry
	mu       sync.Mutex
	queue    []*call
	inFlight int
}

// call is one script waiting for a round trip. res and err are written by
// the sender before done is closed.
type call struct {
	ctx    context.Context
	script *redis.Script
	args   []any
	res    *redis.Cmd
	err    error
	done   chan struct{}
}

// run runs script with args (no KEYS) in a shared round trip and returns
// its reply. A caller whose ctx ends first gets ctx's error; its script may
// still run, as a plain call's may after a timeout.
func (co *coalescer) run(ctx context.Context, script *redis.Script, args ...any) *redis.Cmd {
	c := &call{ctx: ctx, script: script, args: args, done: make(chan struct{})}
	co.mu.Lock()
	co.queue = append(co.queue, c)
	lead := co.inFlight < coalesceInFlight
	if lead {
		co.inFlight++
	}
	co.mu.Unlock()
	if lead {
		co.lead(c)
	}
	select {
	case <-c.done:
		if c.err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(c.err)
			return cmd
		}
		return c.res
	case <-ctx.Done():
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd
	}
}

// lead sends batches until own (nil: none) is answered, then hands the lead
// on if calls are still queued, or frees its slot.
func (co *coalescer) lead(own *call) {
	for {
		co.mu.Lock()
		if len(co.queue) == 0 {
			co.inFlight--
			co.mu.Unlock()
			return
		}
		if own != nil && isDone(own) {
			co.mu.Unlock()
			go co.lead(nil) // the slot goes with it
			return
		}
		n := min(len(co.queue), coalesceBatch)
		batch := make([]*call, n)
		copy(batch, co.queue)
		co.queue = co.queue[n:]
		if len(co.queue) == 0 {
			co.queue = nil // let the backing array go
		}
		co.mu.Unlock()
		co.send(batch)
	}
}

func isDone(c *call) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// send runs one batch as a pipeline, bounded by the latest deadline among
// its callers (a caller that gave up earlier has already returned), and
// answers every call.
func (co *coalescer) send(batch []*call) {
	ctx := context.WithoutCancel(batch[0].ctx)
	var deadline time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			deadline = time.Time{}
			break
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	cmds := make([]*redis.Cmd, len(batch))
	_, err := co.r.pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range batch {
			cmds[i] = c.script.EvalSha(ctx, p, nil, c.args...)
		}
		return nil
	})
	for i, c := range batch {
		c.res = cmds[i]
		if c.res == nil {
			c.err = err // the pipeline was never built
		}
		close(c.done)
	}
}
