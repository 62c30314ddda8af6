// Package cmdbatch sends the Redis commands of concurrent callers
// together, one round trip (Config.MaxInFlight) at a time.
//
// A caller that finds fewer than Config.MaxInFlight round trips in flight
// (default 1) sends its command at once, on its own goroutine, as a plain
// command: a lightly loaded process pays nothing for the batching.
// Commands that arrive while that many are in flight wait in a queue; when
// one of the round trips returns, the first of them sends the queue (up to
// Config.MaxBatch) as one pipeline, on its own goroutine, and wakes the
// others when the replies are in. So there is no goroutine of the
// batcher's own, and under load N commands cost one write and one read
// instead of N of each, on the client and in Redis.
//
// go-redis's AutoPipeline does the same with a flusher goroutine, whose
// hand-offs cost a wsnode node as much CPU as the shared round trips saved
// (bench/analysis.md, eighth session).
//
// A Batcher is safe for concurrent use. Commands of one batch run under the
// context of its first caller when they all share one (wsnode's shared
// operation context), else under one that ends at the latest of their
// deadlines; a caller whose context has ended before its batch is sent gets
// its context's error and nothing is sent for it. Every command of a batch
// waits for the batch's round trip, so send through a Batcher only commands
// that Redis runs in about the same, short time: one slow command delays
// all that are queued behind it.
//
// If sending a batch panics (in a go-redis hook, say), the panic goes on in
// the caller that sent it, the batch's other callers get ErrPanicked, and
// the queue is handed on: the batcher never stays busy.
package cmdbatch

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Client is what a Batcher sends with: a redis.Client or a
// redis.ClusterClient (whose pipelines go to each primary in parallel).
type Client interface {
	Process(ctx context.Context, cmd redis.Cmder) error
	Pipeline() redis.Pipeliner
}

// Config configures a Batcher; the zero value is usable.
type Config struct {
	// MaxBatch is the most commands sent in one round trip. Zero means
	// DefaultMaxBatch.
	MaxBatch int
	// MaxInFlight is the most round trips in flight at once: a call is
	// sent alone while fewer are, and queues otherwise. Zero means
	// DefaultMaxInFlight.
	MaxInFlight int
}

// DefaultMaxBatch is Config.MaxBatch's default.
const DefaultMaxBatch = 64

// DefaultMaxInFlight is Config.MaxInFlight's default. With one round trip
// in flight two concurrent callers take turns (BenchmarkIncr: 44 against
// 24 µs per INCR with 2 callers on 2 Ps); with two in flight they overlap
// (28 µs), but under load the batches are smaller: a wsnode node's connects
// cost more CPU with 2 than with 1 (one bench/ab.sh run of 4 pairs: median
// 1.14×; bench/analysis.md).
const DefaultMaxInFlight = 1

// Batcher sends commands for concurrent callers; see the package doc.
type Batcher struct {
	rdb         Client
	max         int
	maxInFlight int

	mu       sync.Mutex
	inFlight int     // round trips in flight, or whose senders are handing on the queue
	queue    []*call // waiting for a round trip to return
}

// call is one queued command. wake receives its batch (then this caller
// sends it) or nil (its command is done).
type call struct {
	ctx  context.Context
	cmd  redis.Cmder
	wake chan []*call
}

// New returns a Batcher that sends through rdb.
func New(rdb Client, cfg Config) *Batcher {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	return &Batcher{rdb: rdb, max: cfg.MaxBatch, maxInFlight: cfg.MaxInFlight}
}

// Do sends cmd, alone or with others, and returns once its reply is in; it
// returns cmd.Err().
func (b *Batcher) Do(ctx context.Context, cmd redis.Cmder) error {
	b.mu.Lock()
	if b.inFlight < b.maxInFlight {
		b.inFlight++
		b.mu.Unlock()
		defer b.handOn() // also if Process panics: the queue must not wait forever
		_ = b.rdb.Process(ctx, cmd)
		return cmd.Err()
	}
	c := &call{ctx: ctx, cmd: cmd, wake: make(chan []*call, 1)}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	if batch := <-c.wake; batch != nil {
		defer b.handOn()
		b.send(batch)
	}
	return cmd.Err()
}

// ErrPanicked is the error of the commands of a batch whose sending
// panicked (in a hook, say); the panic goes on in the caller that sent it.
var ErrPanicked = errors.New("cmdbatch: the round trip panicked")

// handOn gives the queue to its first caller, who sends it in the round
// trip that just ended's place, or frees that place when nothing is queued.
func (b *Batcher) handOn() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.inFlight--
		b.mu.Unlock()
		return
	}
	n := min(len(b.queue), b.max)
	batch := make([]*call, n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.mu.Unlock()
	batch[0].wake <- batch
}

// send runs the batch's round trip (batch[0] is the caller) and wakes the
// other callers.
func (b *Batcher) send(batch []*call) {
	sent := false
	defer func() {
		if !sent { // Process panicked: the others get an error, not a silent empty reply
			for _, c := range batch[1:] {
				c.cmd.SetErr(ErrPanicked)
			}
		}
		for _, c := range batch[1:] {
			c.wake <- nil
		}
	}()
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.cmd.SetErr(err)
			continue
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
	case 1:
		_ = b.rdb.Process(live[0].ctx, live[0].cmd)
	default:
		ctx, cancel := batchContext(live)
		pipe := b.rdb.Pipeline()
		for _, c := range live {
			_ = pipe.Process(ctx, c.cmd)
		}
		_, _ = pipe.Exec(ctx) // each command holds its own outcome
		cancel()
	}
	sent = true
}

// batchContext is the context a batch runs under: its calls' context when
// they share one, else one without their cancellation that ends at the
// latest of their deadlines (none if one of them has none).
func batchContext(calls []*call) (context.Context, context.CancelFunc) {
	first := calls[0].ctx
	shared := true
	latest, bounded := first.Deadline()
	for _, c := range calls[1:] {
		if c.ctx == first {
			continue
		}
		shared = false
		d, ok := c.ctx.Deadline()
		if !ok {
			bounded = false
		} else if d.After(latest) {
			latest = d
		}
	}
	if shared {
		return first, func() {}
	}
	ctx := context.WithoutCancel(first)
	if !bounded {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, latest)
}

// Doer is what EvalSha sends through: a Batcher or a Cluster.
type Doer interface {
	Do(ctx context.Context, cmd redis.Cmder) error
}

// EvalSha returns an EVALSHA of sha1 with keys and args, sent through d.
// Each arg must be a single value (go-redis's Client.EvalSha would also
// expand a lone slice or map argument; nothing here needs that).
func EvalSha(ctx context.Context, d Doer, sha1 string, keys []string, args ...any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, "evalsha", sha1, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3) // for a ClusterClient's slot routing
	}
	_ = d.Do(ctx, cmd)
	return cmd
}
