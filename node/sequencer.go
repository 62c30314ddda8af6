package node

import (
	"context"
	"sync"
	"time"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
)

// sequencer puts the messages of history rooms in offset order on this node
// and repairs gaps from the stored history: a message whose offset is more
// than one past the last one delivered here means that the node missed
// some (its pub/sub connection was replaced, or Redis dropped it as a slow
// subscriber). It then holds the room's live messages, reads the missing
// ones from the stream, delivers them, then the held ones, and goes on.
// After a pub/sub reconnect every known room is checked the same way, since
// the missed messages may be the room's last.
//
// Rooms without history never reach it. Messages reach it from the pub/sub
// receive loop only; repairs run on their own goroutine. Safe for
// concurrent use.
type sequencer struct {
	n       *Node
	mu      sync.Mutex
	rooms   map[string]*roomSeq
	repairs sync.WaitGroup // running repair goroutines; Shutdown waits
}

// roomSeq is the order state of one history room.
type roomSeq struct {
	mu        sync.Mutex
	epoch     string
	last      uint64 // offset of the last message delivered here
	repairing bool
	held      []heldMsg // live messages that arrived while repairing
}

type heldMsg struct {
	env envelope.Envelope
	pos position
}

// repairTimeout bounds one repair's read of the stream.
const repairTimeout = 5 * time.Second

func newSequencer(n *Node) *sequencer { return &sequencer{n: n, rooms: map[string]*roomSeq{}} }

func (s *sequencer) room(name string) *roomSeq {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		r = &roomSeq{}
		s.rooms[name] = r
	}
	return r
}

// forget drops a room's state when the node holds no member of it any more:
// a later member must not get a "repair" of what was sent meanwhile.
func (s *sequencer) forget(name string) {
	s.mu.Lock()
	delete(s.rooms, name)
	s.mu.Unlock()
}

// forgetEmptyRooms drops the order state of rooms that have no local
// member any more.
func (n *Node) forgetEmptyRooms(rooms ...string) {
	if n.seq == nil {
		return
	}
	for _, r := range rooms {
		if !n.idx.hasRoom(r) {
			n.seq.forget(r)
		}
	}
}

// accept delivers env (a message of a history room at pos) in order.
func (s *sequencer) accept(env envelope.Envelope, pos position) {
	r := s.room(env.Target)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != pos.epoch { // first message seen here, or the history was lost
		r.epoch, r.last, r.held = pos.epoch, pos.offset-1, nil
	}
	if r.repairing {
		r.held = append(r.held, heldMsg{env, pos})
		return
	}
	switch {
	case pos.offset <= r.last:
		s.n.stats.Add(counter.CtrHistoryDuplicates, 1) // already delivered (by a repair)
	case pos.offset == r.last+1:
		r.last = pos.offset
		s.n.deliverLocal(env, pos)
	default:
		r.repairing, r.held = true, append(r.held, heldMsg{env, pos})
		room, epoch, last := env.Target, r.epoch, r.last
		s.repairs.Go(func() { s.repair(room, r, epoch, last) })
	}
}

// repairAll checks every known room after a pub/sub reconnect.
func (s *sequencer) repairAll() {
	s.mu.Lock()
	rooms := make(map[string]*roomSeq, len(s.rooms))
	for k, v := range s.rooms {
		rooms[k] = v
	}
	s.mu.Unlock()
	for name, r := range rooms {
		r.mu.Lock()
		if r.repairing || r.epoch == "" {
			r.mu.Unlock()
			continue
		}
		r.repairing = true
		epoch, last := r.epoch, r.last
		r.mu.Unlock()
		s.repairs.Go(func() { s.repair(name, r, epoch, last) })
	}
}

// repair reads what followed offset last of epoch, delivers it and the held
// messages in order, and ends the repair. Messages that the stream no longer
// holds are counted as lost.
func (s *sequencer) repair(room string, r *roomSeq, epoch string, last uint64) {
	n := s.n
	ctx, cancel := context.WithTimeout(n.baseCtx, repairTimeout)
	entries, cur, err := n.history.After(ctx, room, last, n.history.Size())
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != epoch { // the room started over meanwhile: nothing to repair
		entries = nil
	}
	if err != nil {
		n.log.Warn("history gap repair failed", "room", room, "err", err)
	}
	switch {
	case err != nil:
	case cur.Epoch != epoch:
		entries = nil // the history was lost: what was missed is gone
	case len(entries) > 0 && entries[0].Offset > last+1:
		n.stats.Add(counter.CtrHistoryLost, int64(entries[0].Offset-last-1)) // trimmed
	}
	for _, e := range entries {
		if e.Offset <= r.last {
			continue
		}
		env, err := envelope.Decode(envelope.KindRoom, room, e.Body)
		if err != nil {
			continue
		}
		r.last = e.Offset
		n.stats.Add(counter.CtrHistoryRepaired, 1)
		n.deliverLocal(env, position{offset: e.Offset, epoch: epoch})
	}
	for _, h := range r.held {
		switch {
		case h.pos.epoch != r.epoch:
			r.epoch, r.last = h.pos.epoch, h.pos.offset
		case h.pos.offset <= r.last:
			continue
		case h.pos.offset > r.last+1:
			n.stats.Add(counter.CtrHistoryLost, int64(h.pos.offset-r.last-1))
			fallthrough
		default:
			r.last = h.pos.offset
		}
		n.deliverLocal(h.env, h.pos)
	}
	r.held, r.repairing = nil, false
}
