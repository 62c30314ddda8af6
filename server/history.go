package server

import (
	"context"

	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/node"
)

// historyAdapter gives node its view of a history.Store, in node's own
// types (node does not import Redis packages).
type historyAdapter struct{ s *history.Store }

func (h historyAdapter) Enabled(room string) bool { return h.s.Enabled(room) }
func (h historyAdapter) Size() int                { return h.s.Size() }

func (h historyAdapter) Current(ctx context.Context, room string) (node.Position, error) {
	p, err := h.s.Current(ctx, room)
	return node.Position(p), err
}

func (h historyAdapter) Recover(ctx context.Context, room string, since node.Position) ([]node.HistoryEntry, node.Position, bool, error) {
	e, cur, ok, err := h.s.Recover(ctx, room, history.Position(since))
	return entries(e), node.Position(cur), ok, err
}

func (h historyAdapter) After(ctx context.Context, room string, offset uint64, limit int) ([]node.HistoryEntry, node.Position, error) {
	e, cur, err := h.s.After(ctx, room, offset, limit)
	return entries(e), node.Position(cur), err
}

func (h historyAdapter) Last(ctx context.Context, room string, limit int) ([]node.HistoryEntry, node.Position, error) {
	e, cur, err := h.s.Last(ctx, room, limit)
	return entries(e), node.Position(cur), err
}

func entries(in []history.Entry) []node.HistoryEntry {
	out := make([]node.HistoryEntry, len(in))
	for i, e := range in {
		out[i] = node.HistoryEntry(e)
	}
	return out
}
