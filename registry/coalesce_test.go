package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// gateHook counts the pipelines of scripts and, while hold is set, holds each until the
// gate opens.
type gateHook struct {
	gate      chan struct{}
	hold      atomic.Bool
	pipelines atomic.Int64
	held      atomic.Int64
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() != "evalsha" {
			return next(ctx, cmds) // a new connection's handshake (HELLO, CLIENT SETINFO)
		}
		h.pipelines.Add(1)
		if !h.hold.Load() {
			return next(ctx, cmds)
		}
		h.held.Add(1)
		select {
		case <-h.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		return next(ctx, cmds)
	}
}

// Concurrent registry calls share round trips: while the first
// coalesceInFlight pipelines are held, 100 more calls queue, and once
// released they go out in a few pipelines, each call with its own result
// (including a refusal for the per-user limit).
func TestCoalescedCalls(t *testing.T) {
	_, rdb := MustMiniredis(t)
	h := &gateHook{gate: make(chan struct{})}
	rdb.AddHook(h)
	r := MustRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 100})
	ctx := context.Background()
	mustBeat(t, r) // the per-user limit counts connections of live nodes only
	// Load the scripts (a first pipeline meets NOSCRIPT and is sent again).
	if err := r.Register(ctx, Conn{ID: "warm", ConnectedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := r.Authenticate(ctx, "warm", "warm", TypeUser, t0); err != nil {
		t.Fatal(err)
	}
	h.pipelines.Store(0)
	h.hold.Store(true)
	const first = coalesceInFlight
	var wg sync.WaitGroup
	errs := make([]error, first+100)
	for i := range first {
		wg.Go(func() { errs[i] = r.Register(ctx, Conn{ID: fmt.Sprintf("c%d", i), ConnectedAt: t0}) })
	}
	waitUntil(t, func() bool { return h.held.Load() == first })
	for i := first; i < first+100; i++ {
		wg.Go(func() { errs[i] = r.Register(ctx, Conn{ID: fmt.Sprintf("c%d", i), ConnectedAt: t0}) })
	}
	waitUntil(t, func() bool {
		r.co.mu.Lock()
		defer r.co.mu.Unlock()
		return len(r.co.queue) == 100
	})
	close(h.gate)
	wg.Wait()
	h.hold.Store(false)
	for i, err := range errs {
		if err != nil {
			t.Errorf("register c%d: %v", i, err)
		}
	}
	if n := h.pipelines.Load(); n > first+1 {
		t.Errorf("%d pipelines for %d calls, want at most %d", n, first+100, first+1)
	}
	n, err := r.NodeConnCount(ctx)
	if err != nil || n != first+100+1 {
		t.Errorf("node holds %d connections (%v), want %d", n, err, first+100+1)
	}

	// Per-call results survive batching: 101 authentications of one user
	// against a limit of 100, all at once, exactly one refused.
	var refused atomic.Int64
	var wg2 sync.WaitGroup
	for i := range first + 100 {
		wg2.Go(func() {
			if err := r.Authenticate(ctx, fmt.Sprintf("c%d", i), "alice", TypeUser, t0); err != nil {
				refused.Add(1)
			}
		})
	}
	wg2.Wait()
	if got := refused.Load(); got != first+100-100 {
		t.Errorf("%d authentications refused, want %d", got, first)
	}
	if err := r.Authenticate(ctx, "nope", "bob", TypeUser, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown connection: %v, want ErrNotFound", err)
	}
}

// A queued caller whose context ends first returns its error while the
// round trips ahead of it are still held; they complete afterwards.
func TestCoalescedCallerTimeout(t *testing.T) {
	_, rdb := MustMiniredis(t)
	h := &gateHook{gate: make(chan struct{})}
	rdb.AddHook(h)
	r := MustRegistry(t, rdb, "node-a", nil)
	h.hold.Store(true)
	var wg sync.WaitGroup
	for i := range coalesceInFlight {
		wg.Go(func() {
			if err := r.Register(context.Background(), Conn{ID: fmt.Sprintf("c%d", i), ConnectedAt: t0}); err != nil {
				t.Errorf("register c%d: %v", i, err)
			}
		})
	}
	waitUntil(t, func() bool { return h.held.Load() == coalesceInFlight })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Register(ctx, Conn{ID: "late", ConnectedAt: t0}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued register past its deadline: %v, want DeadlineExceeded", err)
	}
	close(h.gate)
	wg.Wait()
	waitUntil(t, func() bool {
		r.co.mu.Lock()
		defer r.co.mu.Unlock()
		return r.co.inFlight == 0 && len(r.co.queue) == 0
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
