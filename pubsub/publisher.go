package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/internal/noretry"
)

// Publishing limits.
const (
	// MaxPublishBatch is the most PUBLISH commands sent in one pipeline.
	MaxPublishBatch = 256
	// MaxPublishQueue is the most publishes waiting for a round trip; more
	// fail at once with ErrPublishQueueFull instead of growing memory.
	MaxPublishQueue = 16384
)

// ErrPublishQueueFull reports that Redis is not keeping up with publishes.
var ErrPublishQueueFull = errors.New("pubsub: publish queue full")

type pendingPublish struct {
	ch   string
	msg  []byte
	room string // set when the message goes through Config.History
	done func(error)
}

// publisher pipelines asynchronous publishes: everything queued while one
// round trip is in flight goes out in the next, in queue order. On a busy
// node this turns N PUBLISH round trips (2N syscalls) into a few.
type publisher struct {
	mu     sync.Mutex
	queue  []pendingPublish
	closed bool // set by failPending: nothing queued later would ever be sent
	wake   chan struct{}
}

// PublishAsync queues e for publishing and returns at once. done, if not
// nil, is called with the outcome from the publishing goroutine; it must not
// block. Messages from one caller reach Redis in the order they were queued.
// Failures are counted in Stats.PublishErrors like those of Publish.
func (b *Broker) PublishAsync(e Envelope, done func(error)) {
	ch, err := b.channel(e.Kind, e.Target)
	if err == nil && b.isClosed() {
		err = ErrClosed
	}
	if err != nil {
		b.finish(done, err)
		return
	}
	pp := pendingPublish{ch: ch, msg: Encode(e), done: done} // encoded outside the lock
	if b.viaHistory(e.Kind, e.Target) {
		pp.room = e.Target
	}
	p := &b.pub
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		b.finish(done, ErrClosed)
		return
	}
	if len(p.queue) >= MaxPublishQueue {
		p.mu.Unlock()
		b.stats.publishErrors.Add(1)
		b.finish(done, ErrPublishQueueFull)
		return
	}
	p.queue = append(p.queue, pp)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (b *Broker) finish(done func(error), err error) {
	if done != nil {
		done(err)
	}
}

// publishLoop sends queued publishes until the broker closes, then fails
// whatever is left with ErrClosed.
func (b *Broker) publishLoop() {
	for {
		select {
		case <-b.done:
			b.failPending()
			return
		case <-b.pub.wake:
		}
		for b.sendBatch() {
		}
	}
}

// sendBatch pipelines up to MaxPublishBatch queued publishes and reports
// whether it sent any.
func (b *Broker) sendBatch() bool {
	p := &b.pub
	p.mu.Lock()
	n := min(len(p.queue), MaxPublishBatch)
	// The batch keeps the queue's front; later appends go past it (its cap
	// is n), and a fully drained queue starts a fresh array. No copy, and
	// no shifting of a long backlog on every round trip.
	batch := p.queue[:n:n]
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	p.mu.Unlock()
	if n == 0 {
		return false
	}
	defer clear(batch) // the array may live on: drop the payloads now
	// The deadline bounds a blackholed connection, so the senders hear of
	// the failure in time; the PUBLISHes themselves are never retried.
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.PublishTimeout)
	defer cancel()
	errs := b.sendPipeline(ctx, batch)
	if b.cfg.History != nil && anyNoScript(errs) {
		// A fresh or restarted Redis lacks the history script: those
		// messages did not run. Load it and send them again, once.
		if err := b.cfg.History.Load(ctx); err == nil {
			var again []pendingPublish
			var at []int
			for i, err := range errs {
				if history.IsNoScript(err) {
					again, at = append(again, batch[i]), append(at, i)
				}
			}
			for j, err := range b.sendPipeline(ctx, again) {
				errs[at[j]] = err
			}
		}
	}
	for i, pp := range batch {
		err := errs[i]
		if err != nil {
			b.stats.publishErrors.Add(1)
			err = fmt.Errorf("pubsub: publish %s: %w", pp.ch, err)
		} else {
			b.stats.published.Add(1)
		}
		b.finish(pp.done, err)
	}
	return true
}

// sendPipeline sends one pipeline of publishes (PUBLISH, or the history
// script for history rooms) and returns each one's error, in order.
func (b *Broker) sendPipeline(ctx context.Context, batch []pendingPublish) []error {
	pipe := b.rdb.Pipeline()
	results := make([]func() (history.Published, error), len(batch))
	errs := make([]error, len(batch))
	for i, pp := range batch {
		if pp.room != "" {
			results[i], errs[i] = b.cfg.History.Queue(ctx, pipe, pp.room, pp.ch, pp.msg)
			continue
		}
		c, _ := noretry.Publish(ctx, pp.ch, pp.msg) // at most once: never re-sent after a lost reply
		_ = pipe.Process(ctx, c)                    // queues; errors come from Exec
	}
	cmds, execErr := pipe.Exec(ctx) // every command, in order, with its own error
	k := 0
	for i := range batch {
		if errs[i] != nil { // not queued (bad payload)
			continue
		}
		err := execErr
		if k < len(cmds) {
			err = cmds[k].Err()
		}
		k++
		if err == nil && results[i] != nil {
			_, err = results[i]()
		}
		errs[i] = err
	}
	return errs
}

func anyNoScript(errs []error) bool {
	for _, err := range errs {
		if history.IsNoScript(err) {
			return true
		}
	}
	return false
}

func (b *Broker) failPending() {
	p := &b.pub
	p.mu.Lock()
	left := p.queue
	p.queue, p.closed = nil, true
	p.mu.Unlock()
	for _, pp := range left {
		b.stats.publishErrors.Add(1)
		b.finish(pp.done, ErrClosed)
	}
}
