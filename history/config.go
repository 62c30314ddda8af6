package history

import (
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/wsnode/wsnode/internal/defaults"
)

// Defaults applied by New to zero-valued Config fields.
const (
	// DefaultTTL is how long the history of a silent room is kept.
	DefaultTTL = 5 * time.Minute
	// MaxSize bounds Config.Size: a replay is at most this many messages.
	MaxSize = 10000
)

// Config configures a Store. Its zero value means history off.
type Config struct {
	// Prefix starts every key. Default "ws" (registry.DefaultPrefix).
	Prefix string
	// Size is the number of messages kept per room; the stream is trimmed
	// approximately (MAXLEN ~), so it may briefly hold a few more. It is
	// also the most a recovery replays and the most one read returns.
	// 0 means history off (the default); at most MaxSize.
	Size int
	// TTL is how long the history of a room that has been silent is kept.
	// Default DefaultTTL (5m).
	TTL time.Duration
	// Rooms are glob patterns (path.Match syntax: * ? [...]) of the rooms
	// that keep history. Empty means every room, when Size > 0.
	Rooms []string
	// Cluster selects the Redis Cluster layout (docs/redis-cluster.md):
	// keys from package keyspace ({P:r<b>}:history:<room> and
	// {P:r<b>}:historymeta:<room>, in the slot of the room's shard channel)
	// and an append script that publishes with SPUBLISH. The channel given
	// to Queue and Publish must then be the room's shard channel
	// (keyspace.Cluster.RoomChannel). Default false: the single-instance
	// names and PUBLISH, unchanged.
	Cluster bool
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = defaults.KeyPrefix
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
}

func (c Config) validate() error {
	if c.Size < 0 || c.Size > MaxSize {
		return fmt.Errorf("history size %d: must be 0 (off) to %d", c.Size, MaxSize)
	}
	if c.TTL < time.Second {
		return fmt.Errorf("history TTL %s: must be at least 1s", c.TTL)
	}
	for _, p := range c.Rooms {
		if p == "" {
			return errors.New("history rooms: empty pattern")
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("history rooms: pattern %q: %w", p, err)
		}
	}
	return nil
}
