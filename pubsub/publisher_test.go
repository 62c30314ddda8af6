package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestPublishAsyncKeepsOrder(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	if err := b.Subscribe(context.Background(), KindRoom, "r"); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	var wg sync.WaitGroup
	var failed sync.Map
	wg.Add(n)
	for i := range n {
		a.PublishAsync(deliver(KindRoom, "r", fmt.Sprint(i)), func(r Result) {
			err := r.Err
			if err != nil {
				failed.Store(i, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("publish %v: %v", k, v); return true })
	waitFor(t, 5*time.Second, "all delivered", func() bool { return len(b.rec.all()) >= n })
	for i, e := range b.rec.all()[:n] {
		if string(e.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order lost", i, e.Payload)
		}
	}
	if got := a.Stats().Published; got != n {
		t.Fatalf("Published = %d, want %d", got, n)
	}
}

func TestPublishAsyncReportsFailures(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	m.SetError("LOADING Redis is loading")
	errc := make(chan error, 1)
	a.PublishAsync(deliver(KindRoom, "r", "x"), func(r Result) { errc <- r.Err })
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("publish against a failing Redis reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("done was never called")
	}
	m.SetError("")
	if a.Stats().PublishErrors < 1 {
		t.Fatal("failure not counted")
	}
	// A bad target fails at once, without a round trip.
	a.PublishAsync(Envelope{Kind: KindRoom}, func(r Result) { errc <- r.Err })
	if err := <-errc; !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("empty room: %v", err)
	}
}

func TestPublishAsyncAfterCloseFails(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	b, err := New(rdb, Config{NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 2)
	b.PublishAsync(deliver(KindRoom, "r", "queued"), func(r Result) { got <- r.Err })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.PublishAsync(deliver(KindRoom, "r", "late"), func(r Result) { got <- r.Err })
	for range 2 {
		if err := <-got; !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	}
}

// The completion reports Redis's receiver count, and ErrLossWindow when the receive
// connection was not continuously subscribed from queueing to reply.
func TestPublishAsyncResult(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	if err := b.Subscribe(context.Background(), KindRoom, "r"); err != nil {
		t.Fatal(err)
	}
	got := make(chan Result, 1)
	done := func(r Result) { got <- r }
	a.PublishAsync(deliver(KindRoom, "r", "x"), done)
	if r := <-got; r.Err != nil || r.Receivers != 1 {
		t.Fatalf("subscribed room: %+v, want 1 receiver", r)
	}
	a.PublishAsync(deliver(KindUser, "nobody", "x"), done)
	if r := <-got; r.Err != nil || r.Receivers != 0 {
		t.Fatalf("unsubscribed user: %+v, want 0 receivers", r)
	}
	a.markLost() // as the receive loop does when it notices a loss
	a.PublishAsync(deliver(KindRoom, "r", "y"), done)
	if r := <-got; !errors.Is(r.Err, ErrLossWindow) || r.Receivers != 1 {
		t.Fatalf("during a loss window: %+v, want ErrLossWindow with 1 receiver", r)
	}
	a.markStable()
	a.PublishAsync(deliver(KindRoom, "r", "z"), done)
	if r := <-got; r.Err != nil {
		t.Fatalf("after the loss window: %+v", r)
	}
}

func TestEpoch(t *testing.T) {
	b := &Broker{}
	b.epoch.Store(1)
	if b.stableSince(b.epoch.Load()) {
		t.Fatal("odd epoch reported stable")
	}
	b.markStable()
	e := b.epoch.Load()
	if !b.stableSince(e) {
		t.Fatal("even epoch not stable")
	}
	b.markStable() // no-op when already stable
	b.markLost()
	b.markLost() // no-op when already lost
	if b.stableSince(e) || b.epoch.Load() != e+1 {
		t.Fatalf("epoch %d after a loss from %d", b.epoch.Load(), e)
	}
	b.markStable()
	if b.stableSince(e) {
		t.Fatal("a loss and restore in between must not look stable")
	}
}

// PublishAsync copies the payload before it returns (CopiesPayload): the
// caller may overwrite its buffer at once.
func TestPublishAsyncCopiesPayload(t *testing.T) {
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	if err := b.Subscribe(context.Background(), KindRoom, "r"); err != nil {
		t.Fatal(err)
	}
	if !a.CopiesPayload() {
		t.Fatal("CopiesPayload = false")
	}
	const n = 100
	buf := make([]byte, 0, 16)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		buf = fmt.Appendf(buf[:0], "m%03d", i)
		e := deliver(KindRoom, "r", "")
		e.Payload = buf
		a.PublishAsync(e, func(Result) { wg.Done() })
		copy(buf, "xxxx") // the broker's copy is already made
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "all delivered", func() bool { return len(b.rec.all()) >= n })
	for i, e := range b.rec.all()[:n] {
		if want := fmt.Sprintf("m%03d", i); string(e.Payload) != want {
			t.Fatalf("message %d is %q, want %q", i, e.Payload, want)
		}
	}
}
