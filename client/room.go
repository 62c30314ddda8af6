package client

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// RoomOptions are the callbacks of a room, all optional. They run on the
// client's callback goroutine (see Config), in the order the frames
// arrived.
type RoomOptions struct {
	// OnMessage gets every message of the room once: in a room with
	// history, a message whose offset the room has already seen (a replay
	// overlapping live delivery) is dropped and counted in Duplicates.
	OnMessage func(Frame)
	// OnJoined gets the joined frame of every join and rejoin; after a
	// rejoin with a known position its Recovered says whether the node
	// replays what was missed.
	OnJoined func(Frame)
	// OnMissed is called after a rejoin that could not recover what the
	// room missed while the client was away.
	OnMissed func(Missed)
	// OnPresence gets "presence" frames of the room.
	OnPresence func(Frame)
}

// Missed reports that messages of a room may have been lost during a
// reconnect.
type Missed struct {
	Room   string
	Reason string   // MissedNotRecovered, MissedEpochChanged or MissedNoHistory
	Since  Position // the position the client rejoined with (zero if none)
	Joined Frame
}

// Reasons of a Missed.
const (
	MissedNotRecovered = "not_recovered" // trimmed, too many, or no position known
	MissedEpochChanged = "epoch_changed" // the room's history started over
	MissedNoHistory    = "no_history"    // the room keeps no history
)

// Room is a subscription: once joined it stays wanted, and is rejoined on
// every reconnect, until Leave. Get it with Client.Room.
type Room struct {
	c    *Client
	name string
	opts RoomOptions
	dups atomic.Uint64

	mu       sync.Mutex
	wanted   bool
	joined   bool
	inFlight bool // a join is on its way
	ever     bool // joined at least once: the next join is a rejoin
	last     Frame
	pos      Position // position to rejoin with (Epoch "" = none known)
	seen     Position // last message delivered (for dedup)
	waiters  []chan joinAnswer
}

type joinAnswer struct {
	f   Frame
	err error
}

// Room returns the subscription object of room name, creating it with
// opts on first use; later calls return the same object and ignore opts.
// It does not join: call Join.
func (c *Client) Room(name string, opts RoomOptions) *Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.rooms[name]; ok {
		return r
	}
	r := &Room{c: c, name: name, opts: opts}
	c.rooms[name] = r
	return r
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Joined reports whether the room is joined on the current connection.
func (r *Room) Joined() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.joined
}

// Position returns the room's last known position in its history, and
// false when none is known (no history, or nothing seen yet).
func (r *Room) Position() (Position, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos, r.pos.Epoch != ""
}

// Duplicates counts the messages dropped because their offset had been
// seen already.
func (r *Room) Duplicates() uint64 { return r.dups.Load() }

// Join makes the room wanted and waits for the node's joined frame (at
// once if it is joined already). The room is rejoined after every
// reconnect until Leave. A join the node refuses (an *Error such as
// invalid_name or room_limit) leaves the room unwanted.
func (r *Room) Join(ctx context.Context) (Frame, error) {
	ctx, cancel := r.c.withTimeout(ctx)
	defer cancel()
	c := r.c
	w := make(chan joinAnswer, 1)
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return Frame{}, c.errStopped()
	}
	r.mu.Lock()
	if r.wanted && r.joined {
		f := r.last
		r.mu.Unlock()
		c.mu.Unlock()
		return f, nil
	}
	if !r.wanted {
		r.wanted = true
		c.order = append(c.order, r)
	}
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	if c.live != nil {
		r.sendJoin(c.live)
	}
	c.mu.Unlock()
	select {
	case a := <-w:
		return a.f, a.err
	case <-ctx.Done():
		r.dropWaiter(w)
		return Frame{}, ctx.Err()
	case <-c.done:
		return Frame{}, c.errStopped()
	}
}

func (r *Room) dropWaiter(w chan joinAnswer) {
	r.mu.Lock()
	r.waiters = slices.DeleteFunc(r.waiters, func(x chan joinAnswer) bool { return x == w })
	r.mu.Unlock()
}

// sendJoin asks s to join the room, with since when a position is known.
// The caller holds c.mu.
func (r *Room) sendJoin(s *conn) {
	r.mu.Lock()
	if r.inFlight || r.joined {
		r.mu.Unlock()
		return
	}
	m := map[string]any{"type": "join", "room": r.name}
	since := r.pos
	if since.Epoch != "" {
		m["since"] = since
	}
	rejoin := r.ever
	r.inFlight = true
	r.mu.Unlock()
	if _, err := s.call(m, func(f Frame, err error) { r.onJoinAnswer(f, err, since, rejoin) }); err != nil {
		r.mu.Lock()
		r.inFlight = false
		r.mu.Unlock()
	}
}

// onJoinAnswer runs on the reader, before any message that follows the
// joined frame, so the position is in place for the replay.
func (r *Room) onJoinAnswer(f Frame, err error, since Position, rejoin bool) {
	r.mu.Lock()
	r.inFlight = false
	if err == ErrConnectionLost {
		r.mu.Unlock() // the next connection rejoins; waiters keep waiting
		return
	}
	waiters := r.waiters
	r.waiters = nil
	if err != nil {
		r.mu.Unlock()
		r.c.unwant(r)
		for _, w := range waiters {
			w <- joinAnswer{f, err}
		}
		if len(waiters) == 0 && r.c.cfg.OnError != nil {
			fn := r.c.cfg.OnError
			r.c.disp.post(func() { fn(f) })
		}
		return
	}
	r.joined, r.ever, r.last = true, true, f
	recovered := f.Recovered != nil && *f.Recovered
	if f.HasPosition() && !recovered {
		// No replay follows: the room goes on from the node's position.
		r.pos = f.Position()
		r.seen = Position{Epoch: f.Epoch}
	}
	var missed *Missed
	if rejoin && !recovered {
		m := Missed{Room: r.name, Reason: MissedNotRecovered, Since: since, Joined: f}
		switch {
		case !f.HasPosition():
			m.Reason = MissedNoHistory
		case since.Epoch != "" && f.Epoch != "" && f.Epoch != since.Epoch:
			m.Reason = MissedEpochChanged
		}
		missed = &m
	}
	r.mu.Unlock()
	for _, w := range waiters {
		w <- joinAnswer{f, nil}
	}
	d := r.c.disp
	if fn := r.opts.OnJoined; fn != nil {
		d.post(func() { fn(f) })
	}
	if fn := r.opts.OnMissed; fn != nil && missed != nil {
		m := *missed
		d.post(func() { fn(m) })
	}
}

// deliver handles a message or presence frame of the room; it runs on the
// reader.
func (r *Room) deliver(f Frame) {
	if f.Type == "presence" {
		if fn := r.opts.OnPresence; fn != nil {
			r.c.disp.post(func() { fn(f) })
		}
		return
	}
	if f.HasPosition() && f.Epoch != "" {
		r.mu.Lock()
		if f.Epoch == r.seen.Epoch && f.Offset <= r.seen.Offset {
			r.mu.Unlock()
			r.dups.Add(1)
			return
		}
		r.seen = f.Position()
		if f.Epoch != r.pos.Epoch || f.Offset > r.pos.Offset {
			r.pos = f.Position()
		}
		r.mu.Unlock()
	}
	if fn := r.opts.OnMessage; fn != nil {
		r.c.disp.post(func() { fn(f) })
	}
}

func (r *Room) setJoined(v bool) {
	r.mu.Lock()
	r.joined = v
	r.mu.Unlock()
}

// unwant removes r from the wanted rooms.
func (c *Client) unwant(r *Room) {
	c.mu.Lock()
	r.mu.Lock()
	r.wanted = false
	r.mu.Unlock()
	c.order = slices.DeleteFunc(c.order, func(x *Room) bool { return x == r })
	c.mu.Unlock()
}

// Leave makes the room unwanted and, when it is joined, leaves it and
// waits for the node's left frame.
func (r *Room) Leave(ctx context.Context) error {
	r.c.unwant(r)
	r.mu.Lock()
	joined := r.joined || r.inFlight
	r.mu.Unlock()
	if !joined {
		return nil
	}
	_, err := r.c.roundTrip(ctx, map[string]any{"type": "leave", "room": r.name})
	if err == nil {
		r.setJoined(false)
	}
	return err
}

// Publish sends data to the room's members and returns the node's ack (in
// a history room it carries the message's offset and epoch). data is
// marshalled with encoding/json; pass a json.RawMessage for encoded JSON.
func (r *Room) Publish(ctx context.Context, data any, opts ...PublishOption) (Frame, error) {
	m := map[string]any{"type": "message", "room": r.name, "data": data}
	applyPublish(m, opts)
	return r.c.roundTrip(ctx, m)
}

// HistoryOptions select what History reads: the newest Limit messages (0 =
// all kept), or with Since those after a position.
type HistoryOptions struct {
	Limit int
	Since *Position
}

// History reads the room's history (members only) and returns the history
// frame; its Messages are complete message frames, oldest first.
func (r *Room) History(ctx context.Context, o HistoryOptions) (Frame, error) {
	m := map[string]any{"type": "history", "room": r.name, "limit": o.Limit}
	if o.Since != nil {
		m["since"] = *o.Since
	}
	return r.c.roundTrip(ctx, m)
}
