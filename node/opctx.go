package node

import (
	"context"
	"sync"
	"time"
)

// opWindow is how long calls keep sharing one operation context.
//
// Registry and broker calls are bounded by Config.RedisTimeout. A
// context.WithTimeout per call arms a runtime timer, registers a child on the
// node's context, and makes go-redis allocate the context's Done channel when
// it waits for a pooled connection. A connect makes three such calls, and in
// the connect benchmark that cost about 5 % of a node's CPU. Calls that start
// within opWindow of each other therefore share one context, whose deadline is
// RedisTimeout after the end of the window: every call gets between
// RedisTimeout and RedisTimeout+opWindow.
const opWindow = 100 * time.Millisecond

// sharedDeadline hands out contexts that end timeout (plus at most opWindow)
// after the call that asks for one, or when parent ends. Safe for concurrent
// use.
type sharedDeadline struct {
	parent  context.Context
	timeout time.Duration

	mu    sync.Mutex
	ctx   context.Context
	stop  context.CancelFunc // not called: calls may still hold ctx; it ends at its deadline
	until time.Time          // calls starting before this share ctx
}

func newSharedDeadline(parent context.Context, timeout time.Duration) *sharedDeadline {
	return &sharedDeadline{parent: parent, timeout: timeout}
}

// get returns a context whose deadline is at least timeout from now.
func (s *sharedDeadline) get() context.Context {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil || !now.Before(s.until) {
		s.until = now.Add(opWindow)
		s.ctx, s.stop = context.WithDeadline(s.parent, s.until.Add(s.timeout))
	}
	return s.ctx
}

// opCtx returns the context for one registry or broker call on behalf of a
// client: it ends RedisTimeout (plus at most opWindow) from now, or when the
// node stops.
func (n *Node) opCtx() context.Context { return n.ops.get() }

// cleanupCtx is opCtx for the calls that remove a connection's traces. It
// outlives the node's context, so a socket closed by Shutdown is still
// unregistered.
func (n *Node) cleanupCtx() context.Context { return n.cleanupOps.get() }
