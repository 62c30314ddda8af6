package node

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/wsnode/wsnode/protocol"
)

// sweepSlices is how many parts the sweep splits the sockets into: a sweep
// tick visits one part, so a full pass takes sweepSlices ticks (one
// sweepInterval) and the per-socket work of a pass, pings above all, is
// spread over the interval instead of arriving in one burst.
const sweepSlices = 10

// sweepLoop runs the sliced sweep. Per-connection deadlines (pings,
// the write timeout, the auth timeout, token expiry) live here rather than in per-socket
// timers and tickers: an idle socket then costs no timer and no goroutine
// besides its reader.
func (n *Node) sweepLoop(ctx context.Context) {
	every, parts := n.sweepTick()
	perTick := sweepSlices / parts // several consecutive slices per tick when the interval is short
	t := time.NewTicker(every)
	defer t.Stop()
	for part := 0; ; part = (part + 1) % parts {
		select {
		case <-ctx.Done():
			return
		case <-n.drainCh:
			return
		case <-t.C:
		}
		now, nowNS := nowMS(), time.Now().UnixNano()
		for slice := part * perTick; slice < (part+1)*perTick; slice++ {
			n.sweepSlice(slice, now, nowNS)
		}
	}
}

// sweepInterval is the resolution of the per-connection deadlines: a
// quarter of the shortest one, at most a second, at least 10 ms.
func (n *Node) sweepInterval() time.Duration {
	d := min(pingLateness(n.cfg.PingInterval), n.cfg.AuthTimeout/4, n.cfg.WriteTimeout/4)
	return max(d, 10*time.Millisecond)
}

// sweepTick is the sweep's tick and into how many ticks one pass is split:
// sweepSlices ticks per interval when the interval allows ticks of at least
// 10 ms, fewer (each visiting several slices) when it does not.
func (n *Node) sweepTick() (time.Duration, int) {
	iv := n.sweepInterval()
	parts := sweepSlices
	for parts > 1 && (iv/time.Duration(parts) < 10*time.Millisecond || sweepSlices%parts != 0) {
		parts--
	}
	return iv / time.Duration(parts), parts
}

// sweep is one full pass over every socket at once (tests, and callers that
// need every deadline checked now); the sweep loop runs it in slices.
func (n *Node) sweep() {
	now, nowNS := nowMS(), time.Now().UnixNano()
	for i := range sweepSlices {
		n.sweepSlice(i, now, nowNS)
	}
}

// sweepSlice enforces the write timeout, the auth timeout and token expiry
// on the sockets of one slice, at the given clock (unix ms, and unix ns for
// the write deadlines), and queues a WebSocket ping plus the application ping
// frame (one shared frame) to each whose last ping is a PingInterval old.
// Each connection also pings on its own phase of the interval (pingPhase).
func (n *Node) sweepSlice(slice int, now, nowNS int64) {
	every := n.cfg.PingInterval.Milliseconds()
	authBy := now - n.cfg.AuthTimeout.Milliseconds()
	writesBy := nowNS - n.cfg.WriteTimeout.Nanoseconds()
	var ping outFrame
	n.idx.eachInSlice(slice, func(c *conn) {
		if ws := c.writeSince.Load(); ws != 0 && ws < writesBy {
			c.writeStuck()
			return
		}
		if c.closing() {
			return
		}
		_, _, st := c.snapshot()
		switch exp := c.expiresAt.Load(); {
		case st != StateAuthenticated && n.cfg.Guests == GuestsOff && c.connectedAt.UnixMilli() <= authBy:
			c.authExpired()
			return
		case exp != 0 && now >= exp:
			c.tokenExpired()
			return
		}
		if now-c.lastPing.Load() < every {
			return
		}
		if ping.data == nil {
			b := protocol.PingFrame(time.Now())
			ping = outFrame{data: b, ping: true, size: int64(len(b))}
		}
		c.lastPing.Store(now)
		c.enqueue(ping)
	})
}

// pingPhase is the lastPing a new connection starts with: now minus a
// random part of the ping interval. The first ping then comes after a
// random fraction of the interval and every later one a full interval after
// the previous, so connections that arrived in one burst (a deploy, a
// benchmark, a reconnect storm) do not all get their pings, and all answer
// with pongs, in the same sweep every interval. That burst was the 60-100 ms
// latency stall of bench/analysis.md ("Small rooms").
func pingPhase(now int64, interval time.Duration) int64 {
	every := interval.Milliseconds()
	if every <= 1 {
		return now
	}
	return now - rand.Int64N(every)
}
