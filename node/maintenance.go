package node

import (
	"context"
	"errors"
	"time"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
)

// driftCheckEvery is how many heartbeats apart the node compares its own
// socket count with what Redis records for it (one SCARD). Two mismatches in
// a row trigger a full re-assertion, which heals partial loss that left the
// heartbeat in place (a failover to a replica that missed writes, keys
// deleted by hand). A transient mismatch from sockets that are connecting or
// closing right now does not: it rarely survives two checks.
const driftCheckEvery = 5

// repair is a registry write that failed and is retried on the next
// heartbeat: a leave of one room, or (room == "") a full unregister.
type repair struct{ connID, room string }

// Run starts the node: it writes the first heartbeat (so nothing it
// registers can be mistaken for a dead node's), then runs the maintenance
// loop until Shutdown or ctx is done. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	if !n.runOnce.CompareAndSwap(false, true) {
		return errors.New("node: Run called twice")
	}
	defer close(n.loopDone)
	swept := make(chan struct{})
	go func() { defer close(swept); n.sweepLoop(ctx) }()
	defer func() { <-swept }()
	n.beat(ctx, true)
	hb, reap := time.NewTicker(n.cfg.HeartbeatInterval), time.NewTicker(n.cfg.ReapInterval)
	flush, cleanup := time.NewTicker(n.cfg.FlushInterval), time.NewTicker(n.cleanupInterval())
	for _, t := range []*time.Ticker{hb, reap, flush, cleanup} {
		defer t.Stop()
	}
	for beats, flushes := 1, 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-n.drainCh:
			// No last activity flush: Deregister deletes this node's
			// entries, and an HSET racing a closing socket's Unregister
			// would re-create its entry with no repair loop left to undo it.
			return nil
		case <-hb.C:
			beats++
			n.beat(ctx, beats%driftCheckEvery == 0 && n.drifted(ctx))
		case <-n.resync:
			n.beat(ctx, true)
		case <-reap.C:
			n.reap(ctx)
		case <-flush.C:
			flushes++
			n.flushActivity(ctx, flushes%outFlushEvery == 0)
		case <-cleanup.C:
			if n.cfg.InactiveTimeout > 0 {
				n.CleanupInactive(n.cfg.InactiveTimeout)
			}
		}
	}
}

func (n *Node) cleanupInterval() time.Duration {
	if d := n.cfg.InactiveTimeout / 4; d > 0 && d < 30*time.Second {
		return d
	}
	return 30 * time.Second
}

// resyncAfterReconnect asks the node to re-assert its whole state in Redis
// now; the broker calls it (through Receiver) after it reconnected.
func (n *Node) resyncAfterReconnect() {
	n.stats.Add(counter.CtrReconnects, 1)
	if n.history != nil {
		n.seq.repairAll() // what was published while disconnected
	}
	select {
	case n.resync <- struct{}{}:
	default:
	}
}

// Reassert asks the maintenance loop to write this node's whole state to
// Redis again, on its next turn, without waiting for the drift check. Call
// it when Redis may have lost some of it while the heartbeat survived: in
// Redis Cluster, a failover of a shard that does not hold the heartbeat.
// It never blocks; requests made while one is pending are merged.
func (n *Node) Reassert() {
	select {
	case n.resync <- struct{}{}:
	default:
	}
}

// drifted reports a mismatch between the local socket count and Redis's
// record of this node on this check and the previous one.
func (n *Node) drifted(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RedisTimeout)
	defer cancel()
	recorded, err := n.reg.NodeConnCount(ctx)
	if err != nil {
		return false // the heartbeat reports Redis trouble
	}
	local, _, _, _ := n.idx.counts()
	prev := n.driftSeen
	n.driftSeen = recorded != int64(local)
	return prev && n.driftSeen
}

// beat refreshes the heartbeat, re-asserts this node's state when Redis
// lost it (or force is set) and retries failed registry writes.
func (n *Node) beat(parent context.Context, force bool) {
	ctx, cancel := context.WithTimeout(parent, n.cfg.RedisTimeout)
	defer cancel()
	conns, _, _, _ := n.idx.counts()
	lost, err := n.reg.Heartbeat(ctx, cluster.Node{
		ID: n.cfg.NodeID, Addr: n.cfg.Addr, Version: n.cfg.Version, StartedAt: n.started,
		Connections: conns, MessagesPerSec: n.stats.MessagesPerSecond(), Interval: n.cfg.HeartbeatInterval,
	})
	if errors.Is(err, cluster.ErrNodeIDConflict) {
		// The beat was written; the registry leaves the other process's
		// connections alone until it stops beating.
		n.log.Error("another live process uses this node id; give every process its own --node-id", "node_id", n.cfg.NodeID)
		err = nil
	}
	if err != nil {
		// A beat that found its key missing but failed after: the state must
		// still be re-asserted once Redis answers (the next beat sees the key).
		n.reassertDue = n.reassertDue || lost
		n.log.Warn("heartbeat failed", "err", err)
		return
	}
	n.healthMu.Lock()
	n.lastHeartbeat = time.Now()
	n.healthMu.Unlock()
	if lost || force || n.reassertDue {
		n.reassertDue = !n.reassert(parent, lost)
	}
	n.runRepairs(ctx)
}

// reassertTimeout bounds one full re-assertion; batches of 256
// connections take a few milliseconds each, so this covers any node size.
const reassertTimeout = 20 * time.Second

// reassert writes every live connection of this node to Redis again and
// reports success; a failure is retried on the next heartbeat, whether or
// not the heartbeat key is missing then.
func (n *Node) reassert(parent context.Context, lost bool) bool {
	ctx, cancel := context.WithTimeout(parent, reassertTimeout)
	defer cancel()
	all := n.idx.all()
	recs := make([]cluster.Conn, 0, len(all))
	for _, c := range all {
		if !c.closing() {
			recs = append(recs, c.record())
		}
	}
	if err := n.reg.Reassert(ctx, recs); err != nil {
		n.log.Warn("re-assertion failed; will retry", "err", err)
		return false
	}
	n.stats.Add(counter.CtrReasserts, 1)
	// A socket that closed while the snapshot was being written may have been
	// re-created after its cleanup unregistered it: undo that now.
	for _, rec := range recs {
		if n.idx.get(rec.ID) == nil {
			n.retryUnregister(rec.ID, "")
		}
	}
	if lost && len(recs) > 0 {
		n.log.Info("re-asserted state in Redis", "connections", len(recs))
	}
	return true
}

func (n *Node) reap(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RedisTimeout)
	defer cancel()
	reaped, err := n.reg.Reap(ctx)
	for _, c := range reaped { // each one was removed by this call only
		for _, room := range c.Rooms {
			n.presence(room, protocol.PresenceLeave, c.User, c.ID, c.Type)
		}
	}
	if err != nil {
		n.log.Warn("reaping dead nodes failed", "err", err)
		return
	}
	if count := len(reaped); count > 0 {
		n.stats.Add(counter.CtrReaped, int64(count))
		n.log.Info("reaped connections of dead nodes", "connections", count)
	}
}

// retryUnregister queues a registry write that failed.
func (n *Node) retryUnregister(connID, room string) {
	n.repairMu.Lock()
	n.repairs[repair{connID, room}] = struct{}{}
	n.repairMu.Unlock()
}

func (n *Node) runRepairs(ctx context.Context) {
	n.repairMu.Lock()
	todo := n.repairs
	n.repairs = map[repair]struct{}{}
	n.repairMu.Unlock()
	for r := range todo {
		if c := n.idx.get(r.connID); c != nil && (r.room == "" || c.inRoom(r.room)) {
			continue // the connection is back or re-joined: nothing to undo
		}
		var err error
		if r.room == "" {
			err = n.reg.Unregister(ctx, r.connID)
		} else {
			err = n.reg.Leave(ctx, r.connID, r.room, time.Now())
		}
		if err != nil {
			n.retryUnregister(r.connID, r.room)
		}
	}
}

// outFlushEvery is how many activity flushes pass between the ones that
// also carry connections whose only change is frames sent to them. Every
// receiving socket changes msgs_out; writing all of them every second would
// put one field per receiving socket into each flush's HSET.
const outFlushEvery = 10

// flushActivity writes the last-activity timestamps and message totals of
// the connections that were active since the last flush (and, withOut, of
// those that were only sent frames), in one HSET whatever their number.
func (n *Node) flushActivity(ctx context.Context, withOut bool) {
	var dirty []*conn
	n.idx.eachConn(func(c *conn) {
		active := c.dirty.Swap(false)
		if active || (withOut && c.outDirty.Load()) {
			c.outDirty.Store(false) // before msgs_out is read below
			dirty = append(dirty, c)
		}
	})
	if len(dirty) == 0 {
		return
	}
	acts := make([]cluster.Activity, len(dirty))
	for i, c := range dirty {
		acts[i] = cluster.Activity{ConnID: c.id, LastActivity: time.UnixMilli(c.lastActivity.Load()),
			MessagesIn: c.msgsIn.Load(), MessagesOut: c.msgsOut.Load()}
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RedisTimeout)
	defer cancel()
	if err := n.reg.Touch(ctx, acts); err != nil {
		n.log.Debug("activity flush failed; retried on the next one", "err", err)
		for _, c := range dirty {
			c.dirty.Store(true)
		}
		return
	}
	// A connection that closed meanwhile may have had its entry written
	// after its cleanup deleted it: unregister it again (see Registry.Touch).
	for _, c := range dirty {
		if n.idx.get(c.id) == nil {
			n.retryUnregister(c.id, "")
		}
	}
}
