package node

import (
	"context"
	"testing"
	"time"
)

func TestSharedDeadlineSharesWithinWindow(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	const timeout = time.Second
	s := newSharedDeadline(parent, timeout)

	before := time.Now()
	a := s.get()
	firstDone := time.Now()
	b := s.get()
	if firstDone.Sub(before) < opWindow && a != b {
		t.Fatal("two calls within one window got different contexts")
	}
	dl, ok := a.Deadline()
	if !ok {
		t.Fatal("operation context has no deadline")
	}
	if dl.Before(before.Add(timeout)) {
		t.Fatalf("deadline %v is less than the timeout after the call", dl.Sub(before))
	}
	if dl.After(firstDone.Add(timeout + opWindow)) {
		t.Fatalf("deadline %v is more than timeout+window after the call", dl.Sub(firstDone))
	}

	time.Sleep(opWindow)
	beforeC := time.Now()
	c := s.get()
	if c == a {
		t.Fatal("a call after the window reused the old context")
	}
	if dl, _ := c.Deadline(); dl.Before(beforeC.Add(timeout)) {
		t.Fatalf("renewed deadline %v is less than the timeout after the call", dl.Sub(beforeC))
	}
	if a.Err() != nil {
		t.Fatalf("the old context ended early: %v", a.Err())
	}

	cancel()
	select {
	case <-c.Done():
	case <-time.After(time.Second):
		t.Fatal("cancelling the parent did not end the shared context")
	}
}

// Once the node's context ends (Shutdown), client calls end with it, while
// the cleanup of sockets closed by the shutdown can still reach Redis.
func TestCleanupContextOutlivesTheNode(t *testing.T) {
	n := benchNode(t, nil)
	n.cancel()
	if n.opCtx().Err() == nil {
		t.Fatal("a client operation context outlived the node")
	}
	if err := n.cleanupCtx().Err(); err != nil {
		t.Fatalf("the cleanup context ended with the node: %v", err)
	}
	if dl, ok := n.cleanupCtx().Deadline(); !ok || time.Until(dl) < n.cfg.RedisTimeout-time.Second {
		t.Fatalf("cleanup context deadline %v, want about RedisTimeout %v ahead", time.Until(dl), n.cfg.RedisTimeout)
	}
}
