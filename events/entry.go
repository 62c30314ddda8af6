package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/cluster"
)

// Event is one client occurrence as the nodes write it (cluster.Event).
type Event = cluster.Event

// Field is the one field of a stream entry; its value is the Event as JSON.
const Field = cluster.EventField

// The event types (Event.Type).
const (
	Connect    = cluster.EventConnect
	Disconnect = cluster.EventDisconnect
	Join       = cluster.EventJoin
	Leave      = cluster.EventLeave
	Message    = cluster.EventMessage
	Direct     = cluster.EventDirect
)

// Entry is one stream entry given to the Handler: its id and the Event. As
// JSON it is the event's object with "id" (and "redelivered") added.
type Entry struct {
	// ID is the stream entry's id ("<ms>-<seq>"): unique in the stream and
	// increasing in the order the nodes wrote the entries. A handler that
	// must not act twice on one event remembers the ids it has acted on.
	ID string `json:"id"`
	Event
	// Redelivered is true when the entry comes from the group's pending
	// entries: this consumer's own after a restart, or taken over from
	// another consumer (or from a failed call of this one) after
	// ClaimMinIdle. It may have been handled, in part or in full, before.
	Redelivered bool `json:"redelivered,omitempty"`
}

// Handler handles one entry. It returns nil when the entry is done, and it
// is then acknowledged; an error leaves the entry pending, and it is handled
// again after ClaimMinIdle (by this or another consumer of the group).
// Return nil for an entry that can never succeed: an error means "retry".
type Handler func(ctx context.Context, e Entry) error

// Stats counts what a Consumer has done since New.
type Stats struct {
	Handled   int64 // handler calls that returned nil (each then acknowledged)
	Failed    int64 // handler calls that returned an error (entry left pending)
	Malformed int64 // entries without the event field or with undecodable JSON, acknowledged unhandled
	Trimmed   int64 // pending entries found trimmed from the stream before they were handled
	Claimed   int64 // entries taken over by XAUTOCLAIM (handled again)
	Errors    int64 // failed Redis calls (each retried)
}

// errTrimmed: a pending entry whose content is gone from the stream.
var errTrimmed = errors.New("entry was trimmed from the stream")

// decode turns a stream message into an Entry. A message without values is
// a pending entry that was trimmed (errTrimmed); any other failure makes it
// malformed.
func decode(m redis.XMessage, redelivered bool) (Entry, error) {
	e := Entry{ID: m.ID, Redelivered: redelivered}
	if m.Values == nil {
		return e, errTrimmed
	}
	v, ok := m.Values[Field]
	if !ok {
		return e, fmt.Errorf("no %q field", Field)
	}
	s, ok := v.(string)
	if !ok {
		return e, fmt.Errorf("field %q is a %T", Field, v)
	}
	if err := json.Unmarshal([]byte(s), &e.Event); err != nil {
		return e, fmt.Errorf("field %q: %w", Field, err)
	}
	if e.Type == "" {
		return e, fmt.Errorf("field %q: no type", Field)
	}
	return e, nil
}
