package node

import (
	"encoding/json"
	"sync"

	"github.com/wsnode/wsnode/pubsub"
)

// recovery holds the live messages of one room for a connection that is
// joining it, until the replay from history has been queued: the
// connection is subscribed and indexed first, then the stream is read, then
// the replay goes out, then the held live messages that the replay did not
// cover. So there is no gap and no duplicate at the switch.
type recovery struct {
	room string
	mu   sync.Mutex
	done bool
	held []heldFrame
}

type heldFrame struct {
	f   outFrame
	pos position
}

// hold keeps f for later if c is still recovering room; it reports whether
// it did.
func (r *recovery) hold(room string, f outFrame, pos position) bool {
	if r.room != room {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return false
	}
	r.held = append(r.held, heldFrame{f, pos})
	return true
}

// finish queues the held messages that follow cur and ends the recovery.
func (r *recovery) finish(c *Conn, cur position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.held {
		if h.pos.epoch != cur.epoch || h.pos.offset > cur.offset {
			c.enqueue(h.f)
		}
	}
	r.held, r.done = nil, true
}

// joinedFrame is the reply to a join in a history room, or to any join
// with "since".
type joinedFrame struct {
	Type      string          `json:"type"`
	Ref       json.RawMessage `json:"ref,omitempty"`
	Room      string          `json:"room"`
	Offset    *uint64         `json:"offset,omitempty"`
	Epoch     string          `json:"epoch,omitempty"`
	Recovered *bool           `json:"recovered,omitempty"`
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
func (c *Conn) joinHistory(req request, since *Position) bool {
	n := c.n
	hist := n.historyRoom(req.Room)
	rec := &recovery{room: req.Room}
	if hist {
		c.recov.Store(rec)
		defer c.recov.Store(nil)
	}
	ctx := n.opCtx()
	if err := c.join(ctx, req.Room); err != nil {
		return c.joinFailed(req, err)
	}
	reply := joinedFrame{Type: typeJoined, Ref: req.ID, Room: req.Room}
	if !hist {
		f := false
		reply.Recovered = &f // a room without history recovers nothing
		c.sendBytes(mustJSON(reply))
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
	c.sendBytes(mustJSON(reply))
	for _, e := range entries {
		if env, err := pubsub.Decode(pubsub.KindRoom, req.Room, e.Body); err == nil {
			c.enqueue(outFrame{data: env.Payload, size: int64(len(env.Payload))})
		}
	}
	rec.finish(c, position{offset: cur.Offset, epoch: cur.Epoch})
	return true
}
