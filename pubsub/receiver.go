package pubsub

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// receiver is one receive connection (a go-redis PubSub) with the channels wanted on it: their
// reference counts and confirmations, the loss detection (ping/pong, reconnect recognition)
// and the resubscription after a loss. Single mode has one receiver for every channel;
// cluster mode has one per base channel and one per hash tag in which the broker holds an
// interest (cluster.go), because a PubSub holds one connection, to one shard.
type receiver struct {
	b    *Broker
	log  *slog.Logger
	base []string      // channels wanted for the receiver's lifetime (never unsubscribed)
	tag  string        // cluster mode: the hash tag of its channels; "" for base receivers
	done chan struct{} // closed when the receiver closes; the broker's done in single mode

	// ps is replaced only in cluster mode, by the receive goroutine holding sem and mu
	// (resubscribe); others use it holding sem or mu, or from the receive goroutine.
	ps *redis.PubSub

	// sem serializes the decisions that send (S)SUBSCRIBE/(S)UNSUBSCRIBE together with the
	// send, so Redis sees the commands in the order of the refcount transitions.
	sem chan struct{}

	mu          sync.Mutex // guards subs, unconfirmed, live, everUp, restoring, closing
	subs        map[string]*sub
	unconfirmed int  // entries with refs > 0 that are not confirmed
	live        int  // entries with refs > 0 (a tag receiver closes when it reaches 0)
	everUp      bool // base subscriptions (any subscription, for a tag receiver) were confirmed once
	restoring   bool // a fresh connection replaced a lost one; Handler.Reconnected pending
	closing     bool // cluster tag receiver: closed, or closing after its last channel went

	ready atomic.Bool

	// Cluster mode only.
	inLoss  bool          // counted in clusterState.lost; guarded by clusterState.epochMu
	started bool          // its goroutine was started; guarded by clusterState.mu
	written chan struct{} // closed once its first SSUBSCRIBE was written (it then has a connection)
	wrote   sync.Once
}

// newReceiver returns a receiver on ps wanting base; done is closed when it must stop.
func newReceiver(b *Broker, ps *redis.PubSub, base []string, tag string, done chan struct{}) *receiver {
	r := &receiver{
		b:       b,
		log:     b.log,
		base:    base,
		tag:     tag,
		done:    done,
		ps:      ps,
		sem:     make(chan struct{}, 1),
		subs:    make(map[string]*sub),
		written: make(chan struct{}),
	}
	for _, ch := range base {
		r.subs[ch] = &sub{refs: 1, ready: make(chan struct{})}
	}
	r.unconfirmed = len(base)
	r.live = len(base)
	switch {
	case tag != "":
		r.log = b.log.With("tag", tag)
	case b.cl != nil:
		r.log = b.log.With("channel", base[0])
	}
	return r
}

func (r *receiver) isClosed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// sleep waits d or until the receiver closes; it reports whether the receiver is still open.
func (r *receiver) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.done:
		return false
	}
}

// markLost and markStable move this receiver into and out of a loss window for the epoch
// (epoch.go): directly in single mode, through the count of lost receivers in cluster mode.
func (r *receiver) markLost() {
	if r.b.cl == nil {
		r.b.markLost()
		return
	}
	r.b.cl.lose(r.b, r)
}

func (r *receiver) markStable() {
	if r.b.cl == nil {
		r.b.markStable()
		return
	}
	r.b.cl.stabilize(r.b, r)
}

// logger returns the receiver's logger: the broker's, with the tag or channel in cluster mode.
func (r *receiver) logger() *slog.Logger { return r.log }
