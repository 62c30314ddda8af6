package pubsub

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/envelope"
)

// Backoff between receive attempts while Redis is unreachable.
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = time.Second
)

// loss is what a receive error means for the connection.
type loss int

const (
	lossNone  loss = iota // an error reply; go-redis keeps the connection
	lossConn              // the connection is gone; go-redis redials on the next call
	lossMoved             // cluster mode: an error reply (the shard may not serve the slot); resubscribe
)

// receive is the receive loop: the only caller of ps.Receive*. See doc.go for the go-redis
// behaviour it relies on.
func (r *receiver) receive(ctx context.Context) {
	var (
		pingSent bool          // a PING is unanswered; the next read uses a fatal deadline
		delay    time.Duration // retry backoff; 0 while healthy
	)
	for !r.isClosed() {
		msg, err := r.receiveOne(ctx, pingSent)
		if err != nil {
			if r.isClosed() {
				return
			}
			if !pingSent && isTimeout(err) {
				// Idle for PingInterval: probe. The reply (or any message) arrives through Receive.
				if perr := r.ps.Ping(ctx); perr != nil {
					r.b.log.Debug("pubsub: ping failed", "err", perr)
				}
				pingSent = true
				continue
			}
			pingSent = false
			l := r.lost(err, delay == 0)
			if l == lossNone {
				// Same connection, Redis answered with an error: not a loss.
				continue
			}
			delay = min(max(2*delay, minRetryDelay), maxRetryDelay)
			if !r.sleep(delay) {
				return
			}
			if l == lossMoved {
				r.resubscribe(ctx)
			}
			continue
		}
		pingSent = false
		if !r.dispatch(msg) {
			delay = 0
			continue
		}
		// Cluster mode: Redis unsubscribed the slot's channels, it moved to another shard.
		delay = min(max(2*delay, minRetryDelay), maxRetryDelay)
		if !r.sleep(delay) {
			return
		}
		r.resubscribe(ctx)
	}
}

// receiveOne reads one reply. Normally the read deadline is PingInterval and go-redis keeps the
// connection when it expires (ReceiveTimeout passes allowTimeout). After a PING it reads with a
// context deadline and no timeout argument instead; go-redis then treats an expired deadline as
// a bad connection, closes it and redials, which is how a blackholed connection is replaced.
func (r *receiver) receiveOne(ctx context.Context, pingSent bool) (any, error) {
	if !pingSent {
		return r.ps.ReceiveTimeout(ctx, r.b.cfg.PingInterval)
	}
	ctx, cancel := context.WithTimeout(ctx, r.b.pongWait())
	defer cancel()
	return r.ps.Receive(ctx)
}

// pongWait is how long a PING may go unanswered before the connection is declared dead.
func (b *Broker) pongWait() time.Duration { return b.cfg.PongWait }

// lost handles a receive error. An error reply from Redis leaves the connection in place
// (lossNone); in cluster mode it answers an SSUBSCRIBE (or SUNSUBSCRIBE, PING) on a shard that
// may not serve the channels' slot any more (MOVED, ASK, TRYAGAIN, CLUSTERDOWN), so the
// channels may not be subscribed and the receiver resubscribes them all (lossMoved). Anything
// else means the connection is gone (go-redis has closed it and is redialling) and a loss
// window has begun (lossConn).
func (r *receiver) lost(err error, first bool) loss {
	log := r.logger()
	var rerr redis.Error
	if errors.As(err, &rerr) {
		if r.b.cl == nil {
			log.Warn("pubsub: redis error on receive connection", "err", err)
			return lossNone
		}
		r.markLost()
		r.ready.Store(false)
		r.b.reloadState()
		if isClusterRedirect(err) {
			log.Info("pubsub: shard does not serve the channels' slot, resubscribing", "err", err)
		} else {
			log.Warn("pubsub: redis error on receive connection, resubscribing", "err", err)
		}
		return lossMoved
	}
	r.markLost()
	if r.ready.Swap(false) || first {
		log.Warn("pubsub: receive connection lost, messages may be lost until it is restored", "err", err)
	} else {
		log.Debug("pubsub: receive connection still down", "err", err)
	}
	if r.b.cl != nil {
		r.b.reloadState() // its primary may have failed over: dial the new one next
	}
	return lossConn
}

// dispatch handles one reply. It reports true when, in cluster mode, Redis unsubscribed the
// receiver's last channel itself: what Redis 7 does when the channels' slot moves to another
// shard (a tag receiver never unsubscribes its last channel, it closes instead).
func (r *receiver) dispatch(msg any) bool {
	switch m := msg.(type) {
	case *redis.Message:
		r.markAlive()
		r.deliver(m)
	case *redis.Subscription:
		switch m.Kind {
		case "subscribe", "ssubscribe":
			r.subscribed(m.Channel, m.Count)
		case "sunsubscribe":
			if m.Count == 0 && r.b.cl != nil && !r.isClosed() {
				r.markLost()
				r.ready.Store(false)
				r.b.reloadState()
				r.logger().Info("pubsub: Redis unsubscribed the channels (slot moved), resubscribing", "channel", m.Channel)
				return true
			}
		}
		r.markAlive()
	case *redis.Pong:
		r.markAlive()
	}
	return false
}

func (r *receiver) deliver(m *redis.Message) {
	b := r.b
	kind, target, ok := b.parseChannel(m.Channel)
	if !ok {
		b.stats.decodeErrors.Add(1)
		b.log.Debug("pubsub: message on unknown channel", "channel", m.Channel, "len", len(m.Payload))
		return
	}
	// No copy: the envelope aliases the message's string, and the node only
	// reads its payload (writes it to sockets; envelope.DecodeString).
	e, err := envelope.DecodeString(kind, target, m.Payload)
	if err != nil {
		b.stats.decodeErrors.Add(1)
		b.log.Debug("pubsub: dropping undecodable message", "channel", m.Channel, "len", len(m.Payload), "err", err)
		return
	}
	b.stats.received.Add(1)
	if b.cl != nil {
		b.cl.handle(b.h, e)
		return
	}
	b.h.HandleEnvelope(e)
}

// subscribed handles a "subscribe" confirmation. count is the number of channels subscribed on
// the connection; the base channels are never unsubscribed, and a tag receiver closes instead
// of unsubscribing its last channel, so count 1 can only be the first confirmation on a new
// connection. That is how a reconnect is recognised no matter which go-redis call (Receive,
// Ping, Subscribe) redialled, or whether the receiver resubscribed on a new PubSub itself.
func (r *receiver) subscribed(ch string, count int) {
	r.mu.Lock()
	if count == 1 {
		if r.everUp && !r.restoring {
			r.restoring = true
			r.markLost()
			r.b.stats.reconnects.Add(1)
			r.logger().Info("pubsub: receive connection replaced, resubscribing")
		}
		r.ready.Store(false)
		r.resetLocked()
	}
	r.confirmLocked(ch)
	notify := r.restoring && r.unconfirmed == 0
	if notify {
		r.restoring = false
		r.markStable()
	} else if len(r.base) == 0 && !r.everUp { // a tag receiver's first confirmation
		r.everUp = true
		r.markStable()
	}
	r.mu.Unlock()
	if notify {
		r.logger().Info("pubsub: subscriptions restored")
		if r.b.cl != nil {
			r.b.cl.reconnected(r.b.h)
			return
		}
		r.b.h.Reconnected()
	}
}

// markAlive sets ready once the base channels are confirmed on a working connection.
func (r *receiver) markAlive() {
	if r.ready.Load() || r.isClosed() {
		return
	}
	r.mu.Lock()
	ok := r.baseConfirmedLocked()
	if ok {
		r.everUp = true
		if !r.restoring {
			r.markStable()
		}
	}
	r.mu.Unlock()
	if ok && !r.isClosed() {
		r.ready.Store(true)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
