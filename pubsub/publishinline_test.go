package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// An idle broker sends an inline publish on the caller's goroutine: the completion has run,
// with Redis's reply, when PublishInline returns.
func TestPublishInlineSendsOnCaller(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	if err := b.Subscribe(context.Background(), KindRoom, "r"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		var got *Result
		a.PublishInline(deliver(KindRoom, "r", fmt.Sprint(i)), func(r Result) { got = &r })
		if got == nil {
			t.Fatalf("publish %d: PublishInline returned before its completion ran on an idle broker", i)
		}
		if got.Err != nil || got.Receivers != 1 {
			t.Fatalf("publish %d: result %+v, want 1 receiver and no error", i, *got)
		}
	}
	waitFor(t, 5*time.Second, "20 delivered", func() bool { return len(b.rec.all()) == 20 })
	if got := a.Stats().Published; got != 20 {
		t.Fatalf("Published = %d, want 20", got)
	}
}

// While a round trip is in flight an inline publish is queued like PublishAsync, returns at
// once, and goes out when the round trip ends.
func TestPublishInlineQueuesWhileBusy(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	p := &a.pub
	p.mu.Lock()
	p.busy = true // a round trip in flight (sendBatch or another caller's sendInline)
	p.mu.Unlock()
	done := make(chan Result, 1)
	a.PublishInline(deliver(KindRoom, "r", "x"), func(r Result) { done <- r })
	select {
	case r := <-done:
		t.Fatalf("completed (%+v) while another round trip was in flight: not queued", r)
	case <-time.After(50 * time.Millisecond):
	}
	p.mu.Lock()
	queued := len(p.queue)
	p.busy = false
	p.mu.Unlock()
	if queued != 1 {
		t.Fatalf("queue holds %d publishes, want 1", queued)
	}
	p.signal() // what the holder of busy does when it is done and the queue is not empty
	select {
	case r := <-done:
		if r.Err != nil {
			t.Fatalf("queued publish failed: %v", r.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued publish was never sent")
	}
}

// Callers mixing inline and queued publishes keep their own order (one round trip in flight
// at a time is what keeps it), and every completion runs exactly once.
func TestPublishInlineKeepsOrderWithAsync(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	const callers, each = 8, 200
	for c := range callers {
		if err := b.Subscribe(context.Background(), KindRoom, fmt.Sprint("r", c)); err != nil {
			t.Fatal(err)
		}
	}
	var completions [callers][each]atomic.Int32
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			room := fmt.Sprint("r", c)
			for i := range each {
				done := func(r Result) {
					if r.Err != nil {
						t.Errorf("caller %d publish %d: %v", c, i, r.Err)
					}
					completions[c][i].Add(1)
				}
				if i%3 == 0 {
					a.PublishAsync(deliver(KindRoom, room, fmt.Sprint(i)), done)
				} else {
					a.PublishInline(deliver(KindRoom, room, fmt.Sprint(i)), done)
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "all delivered", func() bool { return len(b.rec.all()) == callers*each })
	next := make(map[string]int)
	for _, e := range b.rec.all() {
		if want := fmt.Sprint(next[e.Target]); string(e.Payload) != want {
			t.Fatalf("room %s: got message %q, want %q: a caller's order was lost", e.Target, e.Payload, want)
		}
		next[e.Target]++
	}
	for c := range callers {
		for i := range each {
			if n := completions[c][i].Load(); n != 1 {
				t.Fatalf("caller %d publish %d completed %d times, want once", c, i, n)
			}
		}
	}
}

func TestPublishInlineAfterCloseFails(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var got error
	a.PublishInline(deliver(KindRoom, "r", "late"), func(r Result) { got = r.Err })
	if !errors.Is(got, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", got)
	}
}
