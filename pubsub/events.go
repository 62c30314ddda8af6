package pubsub

import (
	"context"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/internal/noretry"
)

// defaultEventsMaxLen matches registry.DefaultEventsMaxLen.
const defaultEventsMaxLen = 1_000_000

// The client event stream. An event travels in the publish pipeline: a
// message's event (Envelope.Event) right behind the message's PUBLISH, so
// the hot path stays one round trip per batch; other events (AppendEvent)
// on their own. XADD is not idempotent, so it is sent at most once (package
// noretry): at worst an event is lost (counted in Stats.EventErrors), never
// duplicated by the broker. The stream's consumers must still expect
// duplicates (consumer groups redeliver), see package events.

// AppendEvent queues one client event (cluster.Event as JSON) for the event
// stream and returns at once. Without Config.EventsStream it does nothing.
func (b *Broker) AppendEvent(event []byte) {
	if b.cfg.EventsStream == "" || len(event) == 0 {
		return
	}
	b.enqueue(pendingPublish{event: event})
}

// queueEvent adds the XADD of event to p.
func (b *Broker) queueEvent(ctx context.Context, p redis.Pipeliner, event []byte) *redis.StringCmd {
	c, res := noretry.XAdd(ctx, b.cfg.EventsStream, b.cfg.EventsMaxLen, cluster.EventField, event)
	_ = p.Process(ctx, c) // queues; errors come from Exec
	return res
}

// countEvent records the outcome of one XADD.
func (b *Broker) countEvent(cmd *redis.StringCmd) {
	if cmd == nil {
		return
	}
	if cmd.Err() != nil {
		b.stats.eventErrors.Add(1)
		return
	}
	b.stats.events.Add(1)
}
