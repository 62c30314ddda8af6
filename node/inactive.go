package node

import (
	"errors"
	"time"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
)

// CleanupInactive closes every local connection that sent nothing for
// maxIdle: its state becomes INACTIVE (in Redis too) and it is closed with
// protocol.CloseInactive. It returns how many were closed. Every node
// cleans its own connections, so the cluster as a whole is covered.
func (n *Node) CleanupInactive(maxIdle time.Duration) int {
	cutoff := time.Now().Add(-maxIdle).UnixMilli()
	var idle []*conn
	n.idx.eachConn(func(c *conn) {
		if c.lastActivity.Load() < cutoff && !c.closing() {
			idle = append(idle, c)
		}
	})
	// One RedisTimeout for the whole pass, and no more Redis calls after a
	// failure: this runs on the maintenance loop, and a slow Redis must not
	// hold the heartbeat back for one timeout per idle connection.
	ctx := n.opCtx()
	redisOK := true
	for _, c := range idle {
		c.setState(StateInactive)
		if redisOK {
			if err := n.reg.SetState(ctx, c.id, string(StateInactive)); err != nil && !errors.Is(err, cluster.ErrNotFound) {
				c.debug("could not mark inactive in Redis", "err", err)
				redisOK = false
			}
		}
		c.closeWith(protocol.CloseInactive, "inactive")
	}
	n.stats.Add(counter.CtrInactiveClosed, int64(len(idle)))
	return len(idle)
}
