package node

import (
	"context"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
)

// History is the room history store (package history) as node uses it. A
// nil History, or one whose Enabled is false for a room, means that room
// keeps no history.
type History interface {
	// Enabled reports whether room keeps history.
	Enabled(room string) bool
	// Size is the most messages one replay or read returns.
	Size() int
	// Recover returns the messages of room after since when all of them are
	// still stored and since's epoch is current (recovered), and room's
	// current position either way.
	Recover(ctx context.Context, room string, since Position) (entries []HistoryEntry, cur Position, recovered bool, err error)
	// Current returns room's position (zero without history).
	Current(ctx context.Context, room string) (Position, error)
	// After returns up to limit messages after offset, oldest first, and
	// the current position.
	After(ctx context.Context, room string, offset uint64, limit int) ([]HistoryEntry, Position, error)
	// Last returns up to limit of the newest messages, oldest first, and the
	// current position.
	Last(ctx context.Context, room string, limit int) ([]HistoryEntry, Position, error)
}

// Position is a point in a room's history: an offset (per room, strictly
// increasing) and the epoch it belongs to. A new epoch means earlier
// offsets mean nothing.
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// HistoryEntry is one stored message: its offset and the envelope body as
// it was published.
type HistoryEntry struct {
	Offset uint64
	Body   []byte
}

// since returns the request's "since" position (nil when absent). A
// malformed one is rejected with bad_request and ok is false.
func (c *conn) since(req protocol.Request) (since *Position, ok bool) {
	if len(req.Since) == 0 || string(req.Since) == "null" {
		return nil, true
	}
	p, err := protocol.ParseSince(req.Since)
	if err != nil {
		c.reject(req.ID, protocol.CodeBadRequest, err.Error(), counter.ErrBadRequest)
		return nil, false
	}
	pos := Position(p)
	return &pos, true
}

// historyRoom reports whether room keeps history on this node.
func (n *Node) historyRoom(room string) bool { return n.history != nil && n.history.Enabled(room) }

// handleHistory serves {"type":"history","room":r,"limit":n,"since":{...}}
// for members of r (see Node.History).
func (c *conn) handleHistory(req protocol.Request) bool {
	if !c.may(protocol.ActJoin, req.ID) {
		return false
	}
	since, ok := c.since(req)
	if !ok {
		return false
	}
	if req.Limit < 0 {
		c.reject(req.ID, protocol.CodeBadRequest, `"limit" must be >= 0`, counter.ErrBadRequest)
		return false
	}
	if !c.inRoom(req.Room) {
		c.reject(req.ID, protocol.CodeNotMember, "join the room before reading its history", counter.ErrForbidden)
		return false
	}
	page, err := c.n.History(c.n.opCtx(), req.Room, req.Limit, since)
	if err != nil {
		return c.unavailable(req, err)
	}
	c.sendBytes(protocol.History{Ref: req.ID, Room: page.Room, Messages: page.Messages,
		Offset: page.Offset, Epoch: page.Epoch, Recovered: page.Recovered}.Frame())
	return true
}
