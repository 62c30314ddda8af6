// Package stats owns wsnode's counters: messages per type, errors per kind
// and other event counters such as deliveries and publish failures.
//
// Counting is lock-free (atomic adds on a fixed set of names, so a hostile
// client cannot grow the label set). Run flushes the deltas to Redis every
// FlushInterval (one second by default) as one pipelined HINCRBY per changed
// field, so the hot path never writes to Redis; a field is marked flushed
// only when its own HINCRBY succeeded, so a failed flush is retried on the
// next tick without loss. go-redis never re-sends an HINCRBY itself
// (internal/noretry); the one case that double counts is a flush whose
// command ran but whose reply was lost (the connection dropped or timed out
// in between): its deltas are added again on the next tick. Cluster reads
// the summed hashes back: the totals of every node that ever flushed, exact
// up to the last interval.
//
// Redis keys (P is the key prefix):
//
//	P:stats:msgs      HASH  message type -> count
//	P:stats:errors    HASH  error kind   -> count
//	P:stats:counters  HASH  counter name -> count
//
// # Concurrency
//
// All methods of *Stats are safe for concurrent use. Run must be called at
// most once.
package stats
