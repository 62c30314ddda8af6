// Package node is wsnode's per-process connection manager: it accepts
// WebSocket connections, runs one reader and at most one writer per socket,
// keeps the local index of rooms and users, and implements the public Go API
// (send to a connection, a user, a room or everyone; join and leave; stats;
// cleanup of inactive connections; ping) on top of three small interfaces it
// declares itself: Registry (the cluster-wide Redis model), Broker (pub/sub
// routing between nodes) and Counters (statistics).
//
// # Goroutines
//
// The upgrade handler returns right after the upgrade (so net/http's
// per-request state is freed); a pooled worker registers the socket, writes
// the welcome and starts its reader (accept.go). Each socket has exactly one
// reader goroutine, whose cleanup's Redis calls run on a worker again, and
// at most one writer, which exists only while its send queue is non-empty.
// The writer is a role, not always a goroutine: a frame queued alone is written
// by the goroutine that queued it (a worker, for a pub/sub fan-out) with one
// write that never waits for the socket (writenow.go); a burst, a ping or a
// socket whose buffer is full gets a writer goroutine, which may wait.
// Only the writer writes frames; the one exception is the close frame,
// sent with gorilla's WriteControl by finishClose (once the writer has
// flushed, or after closeWriteTimeout) or by gorilla's reader answering a
// client's close. socket.Conn orders it after what the writer has written
// and refuses the writer's frames after it. Data frames carry no deadline:
// the sweep fails a write that runs longer than WriteTimeout (writeStuck).
// The writer frames messages itself (a header and the payload bytes that
// every recipient shares; gorilla reads, and writes the close frame), takes
// its whole queue per round and gathers the frames into one socket write of
// up to 16 KiB (socket.Conn), so a burst to a socket costs one system call, not
// one per frame.
//
// The reader only waits until the socket is readable, through a call chain
// that fits the smallest goroutine stack (2 KiB on an idle socket). Frames
// are read and served, one at a time and in order, on another goroutine
// the reader waits for (from a small pool whose stacks have already grown,
// workers.go), so the deep stacks of decoding, JWT checks and Redis round
// trips are never an idle socket's; see reader.go. A socket that keeps
// sending (a wake-up at least every second, 5 in a row) is served on its
// reader instead, which saves the hand-off's thread wake-up (inline.go).
// For the same reason a client message that is the last frame its socket
// has buffered is published on the goroutine serving it, which waits for
// the round trip, when the broker has nothing else in flight
// (routeAsync, pubsub's PublishInline); frames behind it take the
// pipelined path. On the receiving side the pub/sub goroutine writes to 4
// sockets or fewer itself (a small fan-out, or the rest of a large one after
// its chunks of 64 went to workers, when that rest is so small), without
// waiting on any socket (inlineFanout, writenow.go). A reader yields the
// processor after a turn of 16 frames or 64 KiB, so a client flooding its
// socket cannot monopolise one, and after a close for abuse (1007, 1008,
// 1009, 4002, 4500) it reads nothing more (readframe.go). One node-wide sweep
// goroutine queues pings and enforces the write timeout, the auth timeout
// and token expiry; an idle socket holds no timer.
//
// Everything else talks to a connection through its bounded send queue, and
// enqueueing never blocks: when the queue (or its byte budget) is full the
// connection is closed with protocol.CloseSlowConsumer and counted, so a
// slow client never holds up the pub/sub receive loop or other clients.
//
// Membership changes of one connection (auth, join, leave, cleanup) are
// serialised by a per-connection mutex, so the Redis registry, the pub/sub
// interest counts and the local index always agree.
//
// # Concurrency
//
// All exported methods of *Node are safe for concurrent use. Run starts the
// maintenance loop (heartbeat, reaper, activity flush, inactivity cleanup) and
// may be called once; Shutdown is idempotent.
//
// # Files
//
// The pure part of the client protocol (frame types, error and close codes,
// request decoding, frame encoding, permissions) is package protocol, and
// the socket's byte level (framing, gathered writes, writes that never
// wait, the hijacked read buffer) is package socket; node runs the one on
// the other. Node's files, by layer:
//
//   - HTTP admission: accept.go (ServeHTTP, limits, Origin, client IP,
//     register and clean up), admission.go (the bound on connects in
//     flight: 503), setupgate.go (the bound on set-up work running at once:
//     the rest waits).
//   - Reading the socket: readwait.go (waiting for bytes), pingpong.go
//     (control frames), readframe.go (a frame's admission).
//   - The connection: conn.go (send queue, close), writer.go (the writer
//     goroutine), writenow.go (writing without one), reader.go (the
//     reader), workers.go (the goroutine pool), sweep.go (pings and
//     deadlines).
//   - Serving requests: dispatch.go (decode, rate limit, strikes),
//     handlers.go, history.go, recovery.go (history rooms' replay),
//     ack.go (acks and error frames of routed messages), envelope.go.
//   - Cluster upkeep: membership.go (auth, join, leave), userlimit.go (a
//     per-user limit refusal held while a crashed node may free it), route.go,
//     sequencer.go and position.go (history rooms' order), index.go (the
//     local index), maintenance.go, inactive.go, opctx.go (Redis deadlines).
//   - The public API: node.go, config.go, deps.go, api.go, queries.go,
//     historyapi.go, connstate.go, errors.go.
package node
