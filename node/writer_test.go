package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSweepAbortsStuckWrite: data frames carry no per-frame deadline, so a
// write to a client that stopped reading must be failed by the sweep once
// it has run for WriteTimeout; the writer then exits and the connection
// closes.
func TestSweepAbortsStuckWrite(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	n := benchNode(t, func(c *Config) {
		c.WriteTimeout = writeTimeout
		c.SendQueueSize = 1 << 12
		c.MaxQueuedBytes = 1 << 30
	})
	ws, resp, err := websocket.DefaultDialer.Dial(mustServe(t, n), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	var c *conn
	for deadline := time.Now().Add(readerTestTimeout); c == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("connection not indexed")
		}
		n.idx.eachConn(func(x *conn) { c = x })
	}

	// The client never reads: queue far more than the socket buffers hold.
	big := bytes.Repeat([]byte("x"), 1<<20)
	for range 256 {
		if !c.sendBytes(big) {
			t.Fatal("enqueue refused")
		}
	}
	// Wait until a write has been blocked for longer than WriteTimeout.
	for deadline := time.Now().Add(readerTestTimeout); ; time.Sleep(10 * time.Millisecond) {
		if ws := c.writeSince.Load(); ws != 0 && time.Since(time.Unix(0, ws)) > writeTimeout {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no write ever blocked; the socket buffers took everything")
		}
	}
	if c.closing() {
		t.Fatal("closed before the sweep ran")
	}
	n.sweep()
	if !c.closing() {
		t.Fatal("the sweep did not close a connection with a stuck write")
	}
	// The past deadline fails the blocked write at once; without it the
	// writer would stay blocked until finishClose gives up waiting for it
	// (closeWriteTimeout) and, later, tears the socket down.
	select {
	case <-c.seal():
	case <-time.After(closeWriteTimeout):
		t.Fatal("the stuck write was not failed")
	}
	if ws := c.writeSince.Load(); ws != 0 {
		t.Fatalf("writeSince %d after the writer exited", ws)
	}
}

// TestSystemSendRejectsBadExclude: an exclude that is not a connection id
// is refused before publishing (an over-long one would be dropped as
// malformed by every receiving node, so the message would reach nobody).
func TestSystemSendRejectsBadExclude(t *testing.T) {
	n := benchNode(t, nil)
	data := json.RawMessage(`{"x":1}`)
	for _, ex := range []string{"not-a-conn-id", strings.Repeat("a", 300)} {
		if err := n.BroadcastAll(context.Background(), data, ex); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("BroadcastAll exclude %.20q: %v, want ErrInvalidInput", ex, err)
		}
		if err := n.BroadcastRoom(context.Background(), "lobby", data, ex); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("BroadcastRoom exclude %.20q: %v, want ErrInvalidInput", ex, err)
		}
	}
	if err := n.BroadcastAll(context.Background(), data, benchSenderID); err != nil {
		t.Errorf("BroadcastAll with a valid exclude: %v", err)
	}
}

// stuckStateRegistry is fakeRegistry whose SetState waits until its context
// ends, like a Redis that stopped answering.
type stuckStateRegistry struct {
	fakeRegistry
	calls *atomic.Int32
}

func (r stuckStateRegistry) SetState(ctx context.Context, _, _ string) error {
	r.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestCleanupInactiveStopsCallingASlowRedis: the cleanup runs on the
// maintenance loop, so a Redis that does not answer costs it one timeout for
// the whole pass, not one per idle connection; the sockets close anyway.
func TestCleanupInactiveStopsCallingASlowRedis(t *testing.T) {
	var calls atomic.Int32
	n := fakeNode(t, func(c *Config) { c.RedisTimeout = 100 * time.Millisecond },
		stuckStateRegistry{calls: &calls}, fakeStats{})
	url := mustServe(t, n)
	const idle = 3
	for range idle {
		mustDial(t, url)
	}
	n.idx.eachConn(func(c *conn) { c.lastActivity.Store(0) })
	if got := n.CleanupInactive(time.Minute); got != idle {
		t.Fatalf("closed %d, want %d", got, idle)
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("SetState called %d times, want 1 (no calls after the first failure)", c)
	}
}
