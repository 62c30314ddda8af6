// Package server wires one wsnode node together from a Redis client: the
// registry, the pub/sub broker, the stats flusher, the node itself, the
// admin API and the Prometheus registry. cmd/wsnode uses it, and so do the
// in-process cluster tests, which run several Servers on one Redis.
//
// # Concurrency
//
// Run is called once; Shutdown is idempotent and safe to call from any
// goroutine, before, during or after Run.
package server
