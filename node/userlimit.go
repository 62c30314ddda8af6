package node

import (
	"context"
	"errors"
	"time"

	"github.com/wsnode/wsnode/cluster"
)

// userLimitPoll is how often an authentication refused for the per-user
// limit asks Redis again while it waits (see registerAuth).
const userLimitPoll = 250 * time.Millisecond

// userLimitWait is how long an authentication refused for the per-user
// limit keeps asking before the refusal is final: one and a half heartbeat
// intervals, after which Redis stops counting the connections of a node
// that crashed (registry: connLive), plus two polls. A node that crashed a
// moment ago still looks alive, so without the wait its user's first retry
// would be refused (4007, retry later) although every connection it
// counted was dead; with it, that retry is admitted, only later.
func (n *Node) userLimitWait() time.Duration {
	return n.cfg.HeartbeatInterval*3/2 + 2*userLimitPoll
}

// registerAuth records the authentication in Redis. While Redis refuses it
// for the per-user limit, it asks again every userLimitPoll for up to
// userLimitWait, and stops early when the connection closes or the node
// stops; the last answer is the result. A user really at its limit is
// refused after that wait, which holds nothing but this connection.
func (c *conn) registerAuth(ctx context.Context, user, typ string, at time.Time) error {
	n := c.n
	err := n.setup.do(ctx, func() error { return n.reg.Authenticate(ctx, c.id, user, typ, at) })
	if !errors.Is(err, cluster.ErrUserLimit) {
		return err
	}
	deadline := time.Now().Add(n.userLimitWait())
	t := time.NewTimer(userLimitPoll)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return err
		case <-n.baseCtx.Done():
			return err
		case <-t.C:
		}
		ctx := n.opCtx()
		err = n.setup.do(ctx, func() error { return n.reg.Authenticate(ctx, c.id, user, typ, time.Now()) })
		if !errors.Is(err, cluster.ErrUserLimit) {
			return err
		}
		t.Reset(userLimitPoll)
	}
	return err
}
