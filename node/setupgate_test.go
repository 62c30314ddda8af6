package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestSetupGate(t *testing.T) {
	g := newSetupGate(2)
	ctx := context.Background()
	for range 2 {
		if err := g.enter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.enter(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third enter with both slots held: %v, want the context's deadline", err)
	}
	g.leave()
	if err := g.enter(ctx); err != nil {
		t.Fatalf("enter after a leave: %v", err)
	}
	if len(g) != 2 {
		t.Fatalf("slots held: %d, want 2 (the failed enter must hold none)", len(g))
	}
	var none setupGate // Unlimited
	for range 100 {
		if err := none.enter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	none.leave()
}

// With SetupConcurrency 2, two registrations in Redis hold both slots: a
// third connect is admitted (no 503: it is under MaxPendingConnects) but
// its registration waits for a slot, and runs once one is free.
func TestSetupConcurrencyBoundsRegistrations(t *testing.T) {
	reg := slowRegistry{entered: make(chan struct{}, 8), release: make(chan struct{})}
	n := fakeNode(t, func(c *Config) { c.SetupConcurrency, c.RedisTimeout = 2, time.Minute }, reg, &countingStats{})
	url := mustServe(t, n)
	done := make(chan *websocket.Conn, 3)
	for i := range 3 {
		go func() {
			ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				t.Errorf("connect %d: %v", i, err)
				done <- nil
				return
			}
			_ = resp.Body.Close()
			done <- ws
		}()
	}
	for range 2 {
		<-reg.entered
	}
	waitUntil(t, func() bool { return n.admission.pending.Load() == 3 }) // the third is in, waiting
	select {
	case <-reg.entered:
		t.Fatal("a third registration reached the registry with both slots held")
	case <-time.After(100 * time.Millisecond):
	}
	close(reg.release) // the two finish; the third gets a slot and registers
	<-reg.entered
	for range 3 {
		ws := <-done
		if ws == nil {
			t.FailNow()
		}
		_ = ws.Close()
	}
	waitUntil(t, func() bool { return len(n.setup) == 0 && n.admission.pending.Load() == 0 })
}
