package pubsub

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// TestRoundCtx checks that each round behaves as context.WithTimeout(parent, d)
// would: the deadline, Done and Err at expiry and on the parent's
// cancellation, values, and a fresh Done after a round expired.
func TestRoundCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	defer cancel()
	r := newRoundCtx(parent)
	defer r.close()
	isDone := func() bool {
		select {
		case <-r.Done():
			return true
		default:
			return false
		}
	}

	before := time.Now()
	r.begin(time.Hour)
	if d, ok := r.Deadline(); !ok || d.Before(before.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Deadline = %v, %v; want an hour from now", d, ok)
	}
	if isDone() || r.Err() != nil || r.Value(ctxKey{}) != "v" {
		t.Fatalf("new round: done %v, err %v, value %v", isDone(), r.Err(), r.Value(ctxKey{}))
	}
	done := r.Done()
	r.end()
	r.begin(time.Hour) // not expired: the same channel, still open
	if r.Done() != done || isDone() {
		t.Fatal("a round that did not expire changed or closed Done")
	}
	r.end()

	r.begin(20 * time.Millisecond)
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(r.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want DeadlineExceeded", r.Err())
	}
	// A context derived from an expired round is done too.
	if child, c := context.WithTimeout(r, time.Hour); child.Err() == nil {
		c()
		t.Fatal("child of an expired round is not done")
	} else {
		c()
	}
	r.end()

	r.begin(time.Hour) // after an expired round: a fresh, open Done
	if isDone() || r.Err() != nil {
		t.Fatalf("round after expiry: done %v, err %v", isDone(), r.Err())
	}
	cancel()
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed when the parent was cancelled")
	}
	if !errors.Is(r.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want Canceled", r.Err())
	}
	r.end()
	r.begin(time.Hour) // the parent is done: so is every later round
	if !isDone() || !errors.Is(r.Err(), context.Canceled) {
		t.Fatalf("round after the parent's cancel: done %v, err %v", isDone(), r.Err())
	}
	r.end()
}

// TestRoundCtxStaleTimer checks that a timer that fires for a round that
// has ended does not expire the next one.
func TestRoundCtxStaleTimer(t *testing.T) {
	r := newRoundCtx(context.Background())
	defer r.close()
	r.begin(time.Hour)
	r.expire() // what a late timer of an earlier round does
	if r.Err() != nil {
		t.Fatalf("Err = %v after a stale timer", r.Err())
	}
	r.end()
}

func TestRoundCtxAllocates(t *testing.T) {
	r := newRoundCtx(context.Background())
	defer r.close()
	if n := testing.AllocsPerRun(100, func() {
		r.begin(time.Hour)
		_, _ = r.Deadline()
		_ = r.Done()
		r.end()
	}); n != 0 {
		t.Fatalf("a round: %v allocations, want 0", n)
	}
}
