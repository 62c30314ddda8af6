// Package counter names what a node counts (inbound message types, error
// kinds and event counters) and holds the Snapshot of their values. Package
// stats keeps the counts and flushes them to Redis; package node records
// events by these names without importing stats' Redis and Prometheus side.
//
// It is pure: constants, a value type and pure functions, all safe for
// concurrent use.
package counter
