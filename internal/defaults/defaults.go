// Package defaults holds the defaults that several packages share, so that
// each is defined once. A package exports the ones its users set (for
// example registry.DefaultPrefix); wsnode's flags show them as their
// defaults.
package defaults

import "time"

const (
	// KeyPrefix starts every Redis key and channel when no prefix is
	// configured: registry, pubsub, stats and history (wsnode's --key-prefix).
	KeyPrefix = "ws"
	// FlushInterval is how often node flushes connection activity and stats
	// flushes its counters to Redis (wsnode's --flush-interval). It is also
	// node's maximum flush interval (node.MaxFlushInterval).
	FlushInterval = time.Second
)
