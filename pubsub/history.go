package pubsub

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/history"
)

// RoomHistory stores the messages of history rooms (package history). When
// Config.History is set, a room message of a room it Enables is appended
// and published by one script instead of a PUBLISH, in the same pipeline.
type RoomHistory interface {
	Enabled(room string) bool
	Queue(ctx context.Context, p redis.Pipeliner, room, channel string, body []byte) (func() (history.Published, error), error)
	Publish(ctx context.Context, room, channel string, body []byte) (history.Published, error)
	Load(ctx context.Context) error
}

// viaHistory reports whether a message to (kind, target) goes through the
// history script.
func (b *Broker) viaHistory(kind Kind, target string) bool {
	return kind == KindRoom && b.cfg.History != nil && b.cfg.History.Enabled(target)
}
