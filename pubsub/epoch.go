package pubsub

// The receive connection's epoch tells PublishAsync whether this node could have missed its own
// message. It is even while the receive connection is up with every wanted channel confirmed,
// and odd from the moment a loss is noticed (a failed read, a missed pong, or the first
// confirmation on a connection that go-redis replaced) until every subscription is confirmed
// again on the new connection; it starts odd, before the first connection is up. Each
// transition adds one, so a PUBLISH queued at an even epoch whose reply arrives at the same
// epoch overlapped no loss window noticed by this node.
//
// In cluster mode there are several receive connections (cluster.go) and one broker-wide
// epoch: it is odd while any receiver is in a loss window (clusterState.lost > 0, counted
// under clusterState.epochMu, which calls markLost on 0->1 and markStable on 1->0). So a loss
// on any receiver changes the epoch, and a publish whose round trip spans it reports
// ErrLossWindow, even for a channel of another receiver (conservative, never silent).
//
// Concurrency: markLost is called by the receive goroutine, markStable by the receive
// goroutine with mu held; PublishAsync and the publishing goroutine only load the value.
// The transitions are compare-and-swap loops, so they are safe from any goroutine.

// markLost moves the epoch to odd (lost) if it is even.
func (b *Broker) markLost() {
	for {
		e := b.epoch.Load()
		if e%2 == 1 || b.epoch.CompareAndSwap(e, e+1) {
			return
		}
	}
}

// markStable moves the epoch to even (fully subscribed) if it is odd.
func (b *Broker) markStable() {
	for {
		e := b.epoch.Load()
		if e%2 == 0 || b.epoch.CompareAndSwap(e, e+1) {
			return
		}
	}
}

// stableSince reports whether the epoch was even at start and has not changed since.
func (b *Broker) stableSince(start uint64) bool {
	return start%2 == 0 && b.epoch.Load() == start
}
