// Package events reads the client-event stream of a wsnode cluster, for
// backends: chat services, AI assistants, audit logs.
//
// With events on, every node appends one entry per client occurrence
// (connect, disconnect, join, leave, message, direct) to the Redis Stream
// P:events (P is the key prefix, default "ws"; see StreamKey). An entry has
// one field, "event" (Field), whose value is a cluster.Event as JSON. The
// nodes cap the stream with XADD ... MAXLEN ~ N, so it holds about the last
// N events. docs/events.md describes the format and how a program in any
// language reads the stream with plain Redis commands.
//
// A Consumer is one consumer of a Redis consumer group: every group sees
// every event, and the consumers of one group (one per worker process,
// each with its own name) share its events. Run creates the group when it is
// missing and calls a Handler for each entry; an entry is acknowledged
// (XACK) after its handler returns nil.
//
// # Delivery
//
// At least once. An entry read but not acknowledged stays in the group's
// pending entries: when the handler returned an error, when the worker died
// or was stopped in the middle of a batch, or when an acknowledgement
// failed. A consumer restarted under the same name handles its own pending
// entries first (and again after a failed read, whose entries Redis may
// have assigned to it); every consumer of the group takes over entries that have
// been pending on any consumer for longer than Config.ClaimMinIdle
// (XAUTOCLAIM, every Config.ClaimInterval) and handles them again. So a
// handler may see an entry twice (Entry.Redelivered says it may have been
// seen before, Entry.ID identifies it): handlers should be idempotent, or
// remember the ids they have acted on. An entry trimmed from the stream
// while it was pending is lost; Stats.Trimmed counts those.
//
// Order: one consumer gets new entries in stream order, which is the order
// the nodes wrote them (for one connection, the order its node saw them).
// Redelivered entries arrive later than the entries after them, and the
// consumers of a group run in parallel, so across a group there is no order.
//
// An entry without the event field, or whose value is not a JSON object
// with a type, is acknowledged without calling the handler, logged and
// counted (Stats.Malformed). Unknown JSON fields are ignored and unknown
// types are passed on, so newer nodes do not break older workers.
//
// # Stopping
//
// When Run's context is canceled, a handler call in progress finishes and
// its entry is acknowledged; then Run returns nil. The handler's own
// context is canceled Config.HandlerGrace later. Entries of the batch not
// yet handled stay pending for the next Run of the same consumer name, or
// for the others after ClaimMinIdle. A handler panic is not recovered.
//
// # Redis failures
//
// A failed Redis call is logged, counted (Stats.Errors) and retried after
// a backoff growing from 50 ms to 5 s; Run never returns because of Redis.
// A group that disappears (a Redis flush) is created again from
// Config.StartID.
//
// # Concurrency
//
// Run calls the handler from one goroutine, one entry at a time, and may be
// called once per Consumer. For parallel handling run several Consumers with
// distinct names, in one process or in several. Stats and Config are safe
// for concurrent use.
package events
