package pubsub

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backoff between receive attempts while Redis is unreachable.
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = time.Second
)

// receive is the receive loop: the only caller of ps.Receive*. See doc.go for the go-redis
// behaviour it relies on.
func (b *Broker) receive(ctx context.Context) {
	var (
		pingSent bool          // a PING is unanswered; the next read uses a fatal deadline
		delay    time.Duration // retry backoff; 0 while healthy
	)
	for !b.isClosed() {
		msg, err := b.receiveOne(ctx, pingSent)
		if err != nil {
			if b.isClosed() {
				return
			}
			if !pingSent && isTimeout(err) {
				// Idle for PingInterval: probe. The reply (or any message) arrives through Receive.
				if perr := b.ps.Ping(ctx); perr != nil {
					b.log.Debug("pubsub: ping failed", "err", perr)
				}
				pingSent = true
				continue
			}
			pingSent = false
			if b.lost(err, delay == 0) {
				// Same connection, Redis answered with an error: not a loss.
				continue
			}
			delay = min(max(2*delay, minRetryDelay), maxRetryDelay)
			if !b.sleep(delay) {
				return
			}
			continue
		}
		pingSent, delay = false, 0
		b.dispatch(msg)
	}
}

// receiveOne reads one reply. Normally the read deadline is PingInterval and go-redis keeps the
// connection when it expires (ReceiveTimeout passes allowTimeout). After a PING it reads with a
// context deadline and no timeout argument instead; go-redis then treats an expired deadline as
// a bad connection, closes it and redials, which is how a blackholed connection is replaced.
func (b *Broker) receiveOne(ctx context.Context, pingSent bool) (any, error) {
	if !pingSent {
		return b.ps.ReceiveTimeout(ctx, b.cfg.PingInterval)
	}
	ctx, cancel := context.WithTimeout(ctx, b.pongWait())
	defer cancel()
	return b.ps.Receive(ctx)
}

// pongWait is how long a PING may go unanswered before the connection is declared dead.
func (b *Broker) pongWait() time.Duration { return b.cfg.PongWait }

// lost handles a receive error. It reports true for an error reply from Redis, after which
// go-redis keeps the connection; anything else means the connection is gone (go-redis has
// closed it and is redialling) and a loss window has begun.
func (b *Broker) lost(err error, first bool) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		b.log.Warn("pubsub: redis error on receive connection", "err", err)
		return true
	}
	b.markLost()
	if b.ready.Swap(false) || first {
		b.log.Warn("pubsub: receive connection lost, messages may be lost until it is restored", "err", err)
	} else {
		b.log.Debug("pubsub: receive connection still down", "err", err)
	}
	return false
}

func (b *Broker) dispatch(msg any) {
	switch m := msg.(type) {
	case *redis.Message:
		b.markAlive()
		b.deliver(m)
	case *redis.Subscription:
		if m.Kind == "subscribe" {
			b.subscribed(m.Channel, m.Count)
		}
		b.markAlive()
	case *redis.Pong:
		b.markAlive()
	}
}

func (b *Broker) deliver(m *redis.Message) {
	kind, target, ok := b.parseChannel(m.Channel)
	if !ok {
		b.stats.decodeErrors.Add(1)
		b.log.Debug("pubsub: message on unknown channel", "channel", m.Channel, "len", len(m.Payload))
		return
	}
	e, err := Decode(kind, target, []byte(m.Payload))
	if err != nil {
		b.stats.decodeErrors.Add(1)
		b.log.Debug("pubsub: dropping undecodable message", "channel", m.Channel, "len", len(m.Payload), "err", err)
		return
	}
	b.stats.received.Add(1)
	b.h.HandleEnvelope(e)
}

// subscribed handles a "subscribe" confirmation. count is the number of channels subscribed on
// the connection; the all and node channels are never unsubscribed, so count 1 can only be the
// first confirmation on a new connection. That is how a reconnect is recognised no matter which
// go-redis call (Receive, Ping, Subscribe) redialled.
func (b *Broker) subscribed(ch string, count int) {
	b.mu.Lock()
	if count == 1 {
		if b.everUp && !b.restoring {
			b.restoring = true
			b.markLost()
			b.stats.reconnects.Add(1)
			b.log.Info("pubsub: receive connection replaced, resubscribing")
		}
		b.ready.Store(false)
		b.resetLocked()
	}
	b.confirmLocked(ch)
	notify := b.restoring && b.unconfirmed == 0
	if notify {
		b.restoring = false
		b.markStable()
	}
	b.mu.Unlock()
	if notify {
		b.log.Info("pubsub: subscriptions restored")
		b.h.Reconnected()
	}
}

// markAlive sets Ready once the base channels are confirmed on a working connection.
func (b *Broker) markAlive() {
	if b.ready.Load() || b.isClosed() {
		return
	}
	b.mu.Lock()
	ok := b.baseConfirmedLocked()
	if ok {
		b.everUp = true
		if !b.restoring {
			b.markStable()
		}
	}
	b.mu.Unlock()
	if ok && !b.isClosed() {
		b.ready.Store(true)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
