package pubsub

import (
	"context"
	"sync"
	"time"
)

// roundCtx is the context of the publisher's round trips: what
// context.WithTimeout(parent, d) gives each one (the same Deadline, a Done
// closed at the deadline or when parent is done, Err then DeadlineExceeded or
// parent's error, parent's values), but one value reused from round to
// round. context.WithTimeout cost a round trip five allocations (the
// context, its timer and closures, the Done channel); a round now costs a
// timer reset. Only the holder of publisher.busy (publishLoop's goroutine,
// or a PublishInline caller) calls begin and end, one round at a time; the
// context's methods may be called from any goroutine.
//
// Reuse is sound because nothing keeps the context past its round:
// sendRound hands it to go-redis (pipeline Exec, the history script's
// load), which uses it only within those calls, and go-redis' own
// goroutines (a dial) use contexts of their own. A context derived from it
// within the round (a dial timeout) is cancelled by its creator before the
// call returns.
type roundCtx struct {
	parent context.Context
	timer  *time.Timer // runs expire; stopped between rounds
	stop   func() bool // unregisters parentDone from parent

	mu       sync.Mutex
	deadline time.Time
	done     chan struct{} // closed once err is set
	err      error         // set at the deadline or when parent is done
}

func newRoundCtx(parent context.Context) *roundCtx {
	r := &roundCtx{parent: parent, done: make(chan struct{})}
	r.timer = time.AfterFunc(time.Hour, r.expire)
	r.timer.Stop()
	r.stop = context.AfterFunc(parent, r.parentDone)
	return r
}

// begin starts a round that ends d from now.
func (r *roundCtx) begin(d time.Duration) {
	r.mu.Lock()
	if r.err != nil && r.parent.Err() == nil { // the last round expired: a fresh Done
		r.done, r.err = make(chan struct{}), nil
	}
	r.deadline = time.Now().Add(d)
	r.mu.Unlock()
	r.timer.Reset(d)
}

// end ends the round. A timer that fires anyway (Stop came too late) finds
// the next round's deadline still ahead and does nothing.
func (r *roundCtx) end() { r.timer.Stop() }

// close releases the timer and the registration with parent.
func (r *roundCtx) close() {
	r.timer.Stop()
	r.stop()
}

func (r *roundCtx) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && !time.Now().Before(r.deadline) {
		r.err = context.DeadlineExceeded
		close(r.done)
	}
}

func (r *roundCtx) parentDone() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.parent.Err()
		close(r.done)
	}
}

func (r *roundCtx) Deadline() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deadline, true
}

func (r *roundCtx) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

func (r *roundCtx) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *roundCtx) Value(key any) any { return r.parent.Value(key) }
