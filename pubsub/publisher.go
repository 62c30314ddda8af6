package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/history"
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
	ch    string
	msg   []byte
	body  *[]byte // msg's pooled buffer (bodies), back to the pool once the batch is sent
	room  string  // set when the message goes through Config.History
	event []byte  // a client event to append (alone when ch is empty)
	epoch uint64  // receive-connection epoch when queued (epoch.go)
	done  func(Result)
}

// publisher pipelines asynchronous publishes: everything queued while one
// round trip is in flight goes out in the next, in queue order. On a busy
// node this turns N PUBLISH round trips (2N syscalls) into a few.
type publisher struct {
	mu     sync.Mutex
	queue  []pendingPublish
	spare  []pendingPublish // a sent batch's array, empty, for the next queue (release)
	closed bool             // set by failPending: nothing queued later would ever be sent
	wake   chan struct{}

	// busy is held by whoever sends a round trip: publishLoop's goroutine
	// (sendBatch) or a caller of PublishInline (sendInline). One round trip
	// is in flight at a time, which keeps each caller's publishes in order.
	busy bool
	// inline counts round trips on callers' goroutines, so that publishLoop
	// closes round only after the last one (taken with mu held, never once
	// closed is set).
	inline sync.WaitGroup

	// The fields below are used only by the holder of busy, one round trip
	// at a time.

	// pipe is the pipeline every round trip is queued on, made once: Exec
	// leaves it empty (go-redis sets its commands to nil before it runs
	// them), so it is ready for the next (sendPipeline).
	pipe redis.Pipeliner
	// round is the context of each round trip (roundCtx), made by New.
	round *roundCtx
	// results is the array of the last batch's outcomes, empty, reused by
	// the next (sendRound).
	results []Result
	// one is the batch of a publish sent by sendInline.
	one [1]pendingPublish
}

// PublishAsync queues e for publishing and returns at once. done, if not
// nil, is called exactly once with the outcome (see Result) from the
// publishing goroutine, or from the caller's when e cannot be queued; it
// must not block. Messages from one caller reach Redis in the order they
// were queued. Failures are counted in Stats.PublishErrors like those of
// Publish; a Result wrapping ErrLossWindow is counted as published.
func (b *Broker) PublishAsync(e Envelope, done func(Result)) {
	if pp, ok := b.pending(e, done); ok {
		b.enqueue(pp)
	}
}

// PublishInline is PublishAsync for a caller that may wait for one round trip: when nothing
// is queued and no round trip is in flight, it sends e on the caller's goroutine and calls
// done before it returns (a round trip waits at most Config.PublishTimeout); otherwise it
// queues e exactly like PublishAsync and returns at once. Either way the order guarantees of
// PublishAsync hold. It spares a lightly loaded node the hand-off to the publishing
// goroutine, which cost a goroutine wake-up, often a thread's, per message (doc.go,
// "Publishing"). Call it only where waiting is harmless, with no lock held.
func (b *Broker) PublishInline(e Envelope, done func(Result)) {
	if pp, ok := b.pending(e, done); ok && !b.sendInline(pp) {
		b.enqueue(pp)
	}
}

// pending encodes e for publishing; false means it failed and done was called.
func (b *Broker) pending(e Envelope, done func(Result)) (pendingPublish, bool) {
	ch, err := b.channel(e.Kind, e.Target)
	if err == nil && b.isClosed() {
		err = ErrClosed
	}
	if err != nil {
		b.finish(done, err)
		return pendingPublish{}, false
	}
	pp := pendingPublish{ch: ch, epoch: b.epoch.Load(), done: done} // encoded outside the lock
	if !e.Ephemeral && b.viaHistory(e.Kind, e.Target) {
		pp.room, pp.msg = e.Target, Encode(e) // handed to Config.History: not pooled
	} else {
		pp.body = bodies.Get().(*[]byte)
		*pp.body = envelope.Append((*pp.body)[:0], e)
		pp.msg = *pp.body
	}
	if b.cfg.EventsStream != "" {
		pp.event = e.Event
	}
	return pp, true
}

// sendInline sends pp on the caller's goroutine if the publisher is idle (nothing queued,
// no round trip in flight, not closed) and reports whether it did; done has then been
// called. Publishes queued meanwhile are handed to the publishing goroutine afterwards.
func (b *Broker) sendInline(pp pendingPublish) bool {
	p := &b.pub
	p.mu.Lock()
	if p.busy || p.closed || len(p.queue) > 0 {
		p.mu.Unlock()
		return false
	}
	p.busy = true
	p.inline.Add(1) // before closed can be set: failPending's caller waits for it
	p.mu.Unlock()
	p.one[0] = pp
	b.sendRound(p.one[:])
	p.release(p.one[:], nil)
	p.mu.Lock()
	p.busy = false
	more := len(p.queue) > 0
	p.mu.Unlock()
	p.inline.Done()
	if more {
		p.signal()
	}
	return true
}

// CopiesPayload reports that PublishAsync keeps no reference to e.Payload once it returns:
// the payload is copied into the broker's own encoding of e before the call returns, whatever
// the outcome (e.Event, appended to the event stream later, is kept). A caller may reuse the
// payload's buffer after the call; package node does, for client messages.
func (b *Broker) CopiesPayload() bool { return true }

// enqueue queues pp for the next pipeline.
func (b *Broker) enqueue(pp pendingPublish) {
	done := pp.done
	p := &b.pub
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		b.finish(done, ErrClosed)
		return
	}
	if len(p.queue) >= MaxPublishQueue {
		p.mu.Unlock()
		if pp.ch == "" {
			b.stats.eventErrors.Add(1)
			return
		}
		b.stats.publishErrors.Add(1)
		b.finish(done, ErrPublishQueueFull)
		return
	}
	if p.queue == nil && p.spare != nil {
		p.queue, p.spare = p.spare, nil
	}
	p.queue = append(p.queue, pp)
	p.mu.Unlock()
	p.signal()
}

// signal wakes the publishing goroutine; a wake-up already pending covers this one.
func (p *publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (b *Broker) finish(done func(Result), err error) {
	if done != nil {
		done(Result{Err: err})
	}
}

// publishLoop sends queued publishes until the broker closes, then fails
// whatever is left with ErrClosed.
func (b *Broker) publishLoop() {
	defer b.pub.round.close()
	for {
		select {
		case <-b.done:
			b.failPending()
			b.pub.inline.Wait() // a round trip on a caller's goroutine still uses round
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
	if p.busy { // a caller is sending (sendInline); it signals when done
		p.mu.Unlock()
		return false
	}
	n := min(len(p.queue), MaxPublishBatch)
	// The batch keeps the queue's front; later appends go past it (its cap
	// is n), and a fully drained queue starts on the spare array (release)
	// or a fresh one. No copy, and no shifting of a long backlog on every
	// round trip.
	batch := p.queue[:n:n]
	var whole []pendingPublish // the queue's array, when the batch takes all of it
	if n == len(p.queue) {
		whole = p.queue[:0]
	}
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	p.busy = n > 0
	p.mu.Unlock()
	if n == 0 {
		return false
	}
	b.sendRound(batch)
	p.release(batch, whole)
	p.mu.Lock()
	p.busy = false
	p.mu.Unlock()
	return true
}

// sendRound sends batch in one round trip and completes each of its publishes. Only the
// holder of publisher.busy calls it.
func (b *Broker) sendRound(batch []pendingPublish) {
	p := &b.pub
	// The deadline bounds a blackholed connection, so the senders hear of
	// the failure in time; the PUBLISHes themselves are never retried.
	// (context.WithTimeout(b.ctx, PublishTimeout), reused: roundCtx)
	ctx := p.round
	ctx.begin(b.cfg.PublishTimeout)
	defer ctx.end()
	results := b.sendPipeline(ctx, batch, p.results)
	defer func() { clear(results); p.results = results[:0] }() // kept for the next batch
	if b.cfg.History != nil && anyNoScript(results) {
		// A fresh or restarted Redis lacks the history script: those
		// messages did not run. Load it and send them again, once.
		if err := b.cfg.History.Load(ctx); err == nil {
			var again []pendingPublish
			var at []int
			for i, r := range results {
				if history.IsNoScript(r.Err) {
					retry := batch[i]
					retry.event = nil // its XADD is no script: it ran
					again, at = append(again, retry), append(at, i)
				}
			}
			for j, r := range b.sendPipeline(ctx, again, nil) {
				results[at[j]] = r
			}
		}
	}
	for i, pp := range batch {
		if pp.ch == "" {
			continue // an event alone: counted by sendPipeline
		}
		r := results[i]
		switch {
		case r.Err != nil:
			b.stats.publishErrors.Add(1)
			b.publishFailed()
			r.Err = fmt.Errorf("pubsub: publish %s: %w", pp.ch, r.Err)
		case !b.stableSince(pp.epoch): // checked after the reply: see epoch.go
			b.stats.published.Add(1)
			r.Err = fmt.Errorf("pubsub: publish %s: %w", pp.ch, ErrLossWindow)
		default:
			b.stats.published.Add(1)
		}
		if pp.done != nil {
			pp.done(r)
		}
	}
}

// bodies holds the buffers that plain PUBLISHes are encoded into. A body is
// PublishAsync's own (a copy of the envelope, which the caller keeps), is
// read only by sendPipeline, as an argument go-redis writes to the socket
// within the pipeline's Exec (go-redis keeps no command past Exec: the
// pipeline drops them and the results copy their replies), and goes back
// to the pool in release, after the batch's Exec and completions. Messages
// of history rooms (Config.History, an interface that may do as it likes
// with them) are not pooled.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 64 << 10

func putBody(b *[]byte) {
	if b != nil && cap(*b) <= maxPooledBody {
		bodies.Put(b)
	}
}

// release drops the payloads of a batch that has been sent and answered (the array may live
// on) and, when the batch took the whole queue (whole), keeps the array for the next queue:
// a quiet node's publishes then allocate no queue array. Nothing refers to the batch any
// more: its completions have run, and enqueue appends to the spare only after this. A
// batch's array never exceeds MaxPublishBatch elements unless a backlog grew it; such an
// array is dropped.
func (p *publisher) release(batch, whole []pendingPublish) {
	for i := range batch {
		putBody(batch[i].body)
	}
	clear(batch)
	if whole == nil || cap(whole) > MaxPublishBatch {
		return
	}
	p.mu.Lock()
	if p.spare == nil && !p.closed {
		p.spare = whole
	}
	p.mu.Unlock()
}

// sendPipeline sends one pipeline of publishes (PUBLISH, or the history
// script for history rooms) and returns each one's outcome, in order, in
// results' array when it is large enough (its contents are overwritten).
func (b *Broker) sendPipeline(ctx context.Context, batch []pendingPublish, results []Result) []Result {
	if b.pub.pipe == nil {
		b.pub.pipe = b.rdb.Pipeline()
	}
	pipe := b.pub.pipe
	hist := make([]func() (history.Published, error), len(batch))
	pubs := make([]*redis.IntCmd, len(batch))
	if cap(results) >= len(batch) {
		results = results[:len(batch)]
		clear(results)
	} else {
		results = make([]Result, len(batch))
	}
	var events []*redis.StringCmd
	for i, pp := range batch {
		switch {
		case pp.ch == "": // an event alone
		case pp.room != "":
			hist[i], results[i].Err = b.cfg.History.Queue(ctx, pipe, pp.room, pp.ch, pp.msg)
		default:
			var c redis.Cmder
			c, pubs[i] = b.publishCmd(ctx, pp.ch, pp.msg) // at most once: never re-sent after a lost reply
			_ = pipe.Process(ctx, c)                      // queues; errors come from Exec
		}
		if pp.event != nil && results[i].Err == nil {
			events = append(events, b.queueEvent(ctx, pipe, pp.event))
		}
	}
	_, execErr := pipe.Exec(ctx) // every command has its own error
	for _, e := range events {
		b.countEvent(e)
	}
	for i := range batch {
		r := &results[i]
		switch {
		case r.Err != nil: // not queued (bad payload)
		case hist[i] != nil:
			p, err := hist[i]()
			r.Err, r.Receivers, r.Offset, r.Epoch = err, p.Receivers, p.Offset, p.Epoch
		case pubs[i] != nil:
			r.Err, r.Receivers = pubs[i].Err(), pubs[i].Val()
		default:
			r.Err = execErr
		}
	}
	return results
}

func anyNoScript(results []Result) bool {
	for _, r := range results {
		if history.IsNoScript(r.Err) {
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
