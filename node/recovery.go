package node

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// recovery is a connection's switch from replay to live messages in one
// history room. The connection is subscribed and indexed first, then the
// stream is read (up to position cur), then the replay goes out. Live
// messages that arrive before the replay is queued are held and sent after
// it if they follow cur; later ones at or before cur (still in flight when
// the stream was read) are dropped, until the first one past cur shows
// that the live stream has caught up. So there is no gap and no duplicate
// at the switch.
type recovery struct {
	room  string
	done  bool     // the replay is queued; floor is set
	floor position // last position the replay covered
	held  []heldFrame
}

type heldFrame struct {
	f   outFrame
	pos position
}

// recoveries are a connection's recoveries in progress, one per room; the
// count lets deliveries skip the lock when there are none.
type recoveries struct {
	n    atomic.Int32
	mu   sync.Mutex // guards list; taken after nothing else of the conn
	list []*recovery
}

// start begins a recovery of room (replacing one in progress for it).
func (rs *recoveries) start(room string) *recovery {
	r := &recovery{room: room}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.list = slices.DeleteFunc(rs.list, func(o *recovery) bool { return o.room == room })
	rs.list = append(rs.list, r)
	rs.n.Store(int32(len(rs.list)))
	return r
}

// stop ends the recovery of room, if any.
func (rs *recoveries) stop(room string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.list = slices.DeleteFunc(rs.list, func(o *recovery) bool { return o.room == room })
	rs.n.Store(int32(len(rs.list)))
}

// intercept decides about a live message of a history room for c: it holds
// it (replay not queued yet) or drops it (the replay covered it) and
// returns true, or returns false to let it through.
func (rs *recoveries) intercept(room string, f outFrame, pos position) bool {
	if rs.n.Load() == 0 {
		return false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	i := slices.IndexFunc(rs.list, func(o *recovery) bool { return o.room == room })
	if i < 0 {
		return false
	}
	r := rs.list[i]
	switch {
	case !r.done:
		r.held = append(r.held, heldFrame{f, pos})
		return true
	case pos.epoch == r.floor.epoch && pos.offset <= r.floor.offset:
		return true // the replay had it
	}
	rs.list = slices.Delete(rs.list, i, i+1) // the live stream has passed the replay
	rs.n.Store(int32(len(rs.list)))
	return false
}

// finish queues (with send) the held messages that follow cur, in order,
// and switches r to dropping what cur covers. Live messages wait for it.
func (rs *recoveries) finish(send func(outFrame) bool, r *recovery, cur position) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, h := range r.held {
		if h.pos.epoch != cur.epoch || h.pos.offset > cur.offset {
			send(h.f)
		}
	}
	r.held, r.done, r.floor = nil, true, cur
}

// replayCap is the most messages one recovery replays: the history size,
// but at most half the send queue, so a replay never closes the connection
// as a slow consumer by itself. A client that missed more gets
// recovered:false and may page through the history frame.
func (n *Node) replayCap() int {
	return min(n.history.Size(), n.cfg.SendQueueSize/2)
}

// joinHistory joins a room that keeps history, or any room when the client
// sent "since", and answers: joined (with the room's position and, when
// since was given, whether everything after it follows), the replay, then
// live messages. It reports whether the request succeeded.
func (c *conn) joinHistory(req protocol.Request, since *Position) bool {
	n := c.n
	hist := n.historyRoom(req.Room)
	var rec *recovery
	if hist {
		rec = c.recovs.start(req.Room)
	}
	ctx := n.opCtx()
	if err := c.join(ctx, req.Room); err != nil {
		c.recovs.stop(req.Room)
		return c.joinFailed(req, err)
	}
	reply := protocol.Joined{Ref: req.ID, Room: req.Room}
	if !hist {
		f := false
		reply.Recovered = &f // a room without history recovers nothing
		c.sendBytes(reply.Frame())
		return true
	}
	var (
		entries   []HistoryEntry
		cur       Position
		recovered bool
		err       error
	)
	if since != nil {
		entries, cur, recovered, err = n.history.Recover(ctx, req.Room, *since)
		if len(entries) > n.replayCap() {
			entries, recovered = nil, false
		}
	} else {
		cur, err = n.history.Current(ctx, req.Room)
	}
	if err != nil {
		// Joined, but the position is unknown: live messages still flow,
		// and the client can tell nothing was recovered.
		c.logger().Warn("history read failed", "room", req.Room, "err", err)
		recovered = false
	}
	reply.Offset, reply.Epoch = &cur.Offset, cur.Epoch
	if since != nil {
		reply.Recovered = &recovered
	}
	c.sendBytes(reply.Frame())
	for _, e := range entries {
		if env, err := envelope.Decode(envelope.KindRoom, req.Room, e.Body); err == nil {
			c.enqueue(outFrame{data: env.Payload, size: int64(len(env.Payload))})
		}
	}
	c.recovs.finish(c.enqueue, rec, position{offset: cur.Offset, epoch: cur.Epoch})
	return true
}
