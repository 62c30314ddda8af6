// Package pubsub routes messages between wsnode nodes over Redis pub/sub.
//
// It owns the envelope format (encoded once at the origin, decoded once per receiving node),
// the interest-based subscriptions of a node with their reference counts, the single receive
// goroutine, resubscription after a reconnect, and the counters that make loss windows visible.
// It never imports node, registry or stats.
//
// # Channels
//
// With prefix P (Config.Prefix, default "ws") a Broker always listens on P:ch:all and on
// P:ch:node:<NodeID>, and on P:ch:room:<room> and P:ch:user:<user> while Subscribe references
// are held. The kind and target of a message come from its channel; the body carries the rest
// of the Envelope (see Encode for the layout). The payload, a complete client frame, is copied
// verbatim: receivers write it to sockets without re-encoding.
//
// # Redis Cluster mode
//
// With Config.Cluster (docs/redis-cluster.md, "Pub/sub") the channels are package keyspace's
// shard channels ({P:a}:ch:all, {P:n<b>}:ch:node:<id>, {P:r<b>}:ch:room:<room>,
// {P:u<b>}:ch:user:<user>), every message goes out with SPUBLISH (never PUBLISH; still at
// most once and pipelined, internal/noretry.SPublish), and the broker receives with
// SSUBSCRIBE. A go-redis PubSub holds one connection, to the primary of its first channel's
// slot, so the broker keeps one "receiver" (receiver.go: the connection with its
// subscriptions, confirmations, ping/pong and resubscription, exactly single mode's
// machinery) per hash tag in which it holds an interest, opened by the first Subscribe of the
// tag and closed with its last channel, and one each for the all and node channels (cluster.go).
// Single mode has one receiver for everything, and its receive path is unchanged.
//
// Each receiver runs its own receive goroutine; Handler calls are serialized by a mutex, so the
// Handler still sees one call at a time, in Redis' order per connection. A receiver follows
// its slot: when Redis unsubscribes its channels itself (Redis 7 sends "sunsubscribe" when the
// slot moves to another primary), or answers on its connection with an error (MOVED, ASK,
// TRYAGAIN, CLUSTERDOWN to an SSUBSCRIBE: its channels may not be subscribed), it reloads the ClusterClient's slot map (ReloadState; go-redis alone refreshes
// it every 10s) and resubscribes every channel on a new PubSub, which dials the slot's current
// owner; when its connection breaks (a primary that failed), it reloads the map and lets
// go-redis redial, to the promoted replica once the map names it. Either way the first
// confirmation on the new connection counts a reconnect as in single mode. Stats.Reconnects
// counts every receiver's losses, Handler.Reconnected is called after any receiver was
// restored, and the epoch (epoch.go) is broker-wide: odd while any receiver is in a loss
// window. Ready is true when no receiver is in a loss window and the base channels were
// confirmed; a new tag's first SSUBSCRIBE does not make it false. A failed publish also
// reloads the slot map, so publishing follows a failover without waiting for go-redis' own
// refresh; MOVED and ASK replies to SPUBLISH are followed by go-redis (a redirected command
// did not run, so this is not a re-send).
//
// # Concurrency
//
// A Broker is safe for concurrent use. Run is the one goroutine that reads the pub/sub
// connection (in cluster mode: starts one per receiver, see above), and it calls the Handler it was given itself, in the order Redis delivered the
// messages; its methods must return quickly. Publish uses the ordinary client pool and
// never waits for the receive goroutine. Subscribe and Unsubscribe keep reference counts under
// a mutex; the 0->1 and 1->0 transitions and the SUBSCRIBE/UNSUBSCRIBE they send are serialized
// so Redis sees the commands in transition order, and a Subscribe waits on a channel that the
// receive goroutine closes on confirmation, so the receive goroutine never waits on callers.
// Close (or cancelling Run's context) stops everything; no goroutine is left.
//
// # Publishing
//
// PublishAsync queues a message for the publishing goroutine (publisher.go), which sends
// everything queued while one round trip is in flight in the next pipeline, in queue order:
// a busy node sends many PUBLISHes per round trip. PublishInline is for callers that may wait
// (the goroutine serving a client's frames, when no other frame of the client is buffered):
// when nothing is queued or in flight it sends the message on the caller's goroutine and
// completes it before returning, which spares a lightly loaded node a goroutine hand-off, and
// with it often a thread wake-up, per message; otherwise it queues like PublishAsync. One
// round trip is in flight at a time, whoever sends it, so each caller's messages reach Redis
// in order either way.
//
// # Delivery
//
// Delivery is at most once, in order per publishing node and channel, as Redis pub/sub is.
// A message published after Subscribe returned nil reaches the Handler unless a loss window
// intervenes. Loss windows are: a failed PUBLISH (Stats.PublishErrors), a receive connection
// that broke or stopped answering pings and was replaced (Stats.Reconnects, Ready false during
// the gap, Handler.Reconnected once every subscription is back), and a message that fails to
// decode (Stats.DecodeErrors). A PUBLISH is never re-sent, not even by go-redis' own retries
// (internal/noretry): one whose reply was lost may have been delivered, so it counts as failed
// and is not sent twice. A message already in flight when Unsubscribe runs may still reach
// the Handler; the node drops what it has no local member for.
//
// # Stalls
//
// A Redis that stops answering but keeps its connections (a long fork or fsync, a slow command,
// a paused VM or process) delivers, once it resumes, everything published meanwhile to the
// subscribers it had. Replacing the receive connection during the stall would throw that away:
// the old connection's subscriptions die with it and the new one only hears what is published
// after its SUBSCRIBE. So PongWait (default 10s) is deliberately long: a stall shorter than it
// costs no message. Before, the wait was 2*PingInterval (2s), and a 5s SIGSTOP of Redis under
// load lost about a third of the deliveries silently. The price is that a truly dead connection
// (a black-holed path; a closed one fails at once) is noticed after up to 11s instead of 3s,
// and messages for this node published in that time are lost.
//
// # Acknowledgement
//
// PublishAsync's completion gets the PUBLISH reply (Result.Receivers, the number of subscribed
// pub/sub connections, one per node) and reports ErrLossWindow when this node's receive
// connection was lost or resubscribing at any moment between queueing and the reply (the epoch,
// epoch.go). No extra Redis call is made. A reply of 0 on a channel this node is subscribed to
// means its own subscription was missing. What the broker cannot see: another node's loss
// window, and a message Redis wrote to this node's receive connection just before it broke and
// before the break was noticed.
//
// # go-redis behaviour relied on (v9.23.0, pubsub.go and internal/pool/conn.go)
//
//   - PubSub keeps the set of subscribed channels; Subscribe adds to it and Unsubscribe removes
//     from it even when the command fails to send. Whenever it opens a new connection (in
//     Receive, Ping, Subscribe or Unsubscribe, after the previous one was closed as bad) it first
//     writes one SUBSCRIBE with the whole set. So the first reply on a new connection is a
//     "subscribe" confirmation with Count 1, and since the all and node channels are never
//     unsubscribed, Count 1 is never seen on an old connection: that is how reconnects are
//     detected, whichever call redialled.
//   - Subscribe only writes the command; the confirmation arrives through Receive. Receive* is
//     not safe for concurrent use, so only the receive goroutine calls it. Channel() is not used:
//     it adds a goroutine and a 100-slot buffer that drops messages after a minute.
//   - Receive does not hold the PubSub mutex while reading, so Subscribe, Ping and Close can run
//     meanwhile. Close closes the connection, which fails a blocked read; later calls return
//     pool.ErrClosed. Cancelling the context does not interrupt a read, only a dial.
//   - The read deadline is ReceiveTimeout's timeout, or the context deadline when the timeout is
//     0. After a failed read go-redis closes the connection and redials unless the error is a
//     Redis error reply or, for ReceiveTimeout with a timeout, a network timeout. The loop reads
//     with ReceiveTimeout(PingInterval) while healthy and sends PING when that expires; it then
//     reads with Receive under a context deadline of PongWait, so a missing reply makes
//     go-redis drop the connection. A blackholed connection is thus replaced (and Ready turns
//     false) PingInterval+PongWait after the last byte received (11s at the defaults).
//   - PubSub.Subscribe, Unsubscribe and Ping write under the context's deadline when it has one
//     (else WriteTimeout), and a missed write deadline also makes go-redis drop and redial the
//     connection. So Subscribe and Unsubscribe check the caller's context themselves and pass
//     context.WithoutCancel to go-redis: a caller's short deadline cannot cause a loss window.
//   - A dial failure is returned by the next Receive; the loop backs off 50ms..1s between tries.
//
// Known limit: a read deadline that expires in the middle of a reply leaves the reader
// misaligned; the next read fails and the connection is replaced, which counts as a reconnect.
package pubsub
