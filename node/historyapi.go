package node

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// HistoryPage is one read of a room's history.
type HistoryPage struct {
	Room string `json:"room"`
	// Messages are complete message frames, oldest first.
	Messages []json.RawMessage `json:"messages"`
	// Position is the room's current position (zero without history).
	Position
	// Recovered is set when the read asked for what followed a position:
	// true when Messages start right after it (false: another epoch, or
	// trimmed; Messages are then the newest ones).
	Recovered *bool `json:"recovered,omitempty"`
}

// History reads room's history: up to limit of the newest messages, or with
// since those after it. limit is clipped to the history size (0 = all it
// holds). A room that keeps no history has an empty page. Safe for
// concurrent use; it reads Redis once or twice.
func (n *Node) History(ctx context.Context, room string, limit int, since *Position) (HistoryPage, error) {
	if err := cluster.ValidateName("room", room); err != nil {
		return HistoryPage{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if limit < 0 || (since != nil && !protocol.ValidEpoch(since.Epoch)) {
		return HistoryPage{}, fmt.Errorf("%w: %w", ErrInvalidInput, protocol.ErrBadSince)
	}
	page := HistoryPage{Room: room, Messages: []json.RawMessage{}}
	if !n.historyRoom(room) {
		if since != nil {
			f := false
			page.Recovered = &f
		}
		return page, nil
	}
	entries, cur, recovered, err := n.readHistory(ctx, room, since, limit)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	page.Position, page.Recovered = cur, recovered
	for _, e := range entries {
		if env, err := envelope.Decode(envelope.KindRoom, room, e.Body); err == nil {
			page.Messages = append(page.Messages, env.Payload)
		}
	}
	return page, nil
}

// readHistory reads the newest limit entries, or with since those after
// it when since's epoch is current (recovered true), else the newest
// (recovered false). recovered is nil without since.
func (n *Node) readHistory(ctx context.Context, room string, since *Position, limit int) ([]HistoryEntry, Position, *bool, error) {
	h := n.history
	if since == nil {
		e, cur, err := h.Last(ctx, room, limit)
		return e, cur, nil, err
	}
	entries, cur, err := h.After(ctx, room, since.Offset, limit)
	if err != nil {
		return nil, cur, nil, err
	}
	ok := cur.Epoch != "" && cur.Epoch == since.Epoch && since.Offset <= cur.Offset &&
		(since.Offset == cur.Offset || (len(entries) > 0 && entries[0].Offset == since.Offset+1))
	if !ok {
		entries, cur, err = h.Last(ctx, room, limit)
	}
	return entries, cur, &ok, err
}
