package pubsub

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
)

// clusterState is the broker's state in Redis Cluster mode (Config.Cluster). A go-redis PubSub
// holds one connection, to the primary of the slot of its first channel, and Redis refuses
// SSUBSCRIBE there for channels of other slots. All channels of one keyspace bucket share a
// slot, so the broker keeps one receiver per hash tag ({P:r<b>} or {P:u<b>}) in which it holds
// an interest, created by the first Subscribe and closed with its last channel, and one
// receiver each for the all and node channels, for its lifetime. Each receiver runs its own
// receive goroutine and follows its slot: see receiver.resubscribe.
type clusterState struct {
	ks keyspace.Cluster

	// hmu serializes the Handler calls of the receive goroutines, so the Handler sees one call
	// at a time as in single mode (in Redis' order per connection, not across connections).
	hmu sync.Mutex

	mu      sync.Mutex // guards tags, running, closed and every receiver's started
	bases   [2]*receiver
	tags    map[string]*receiver
	running bool // Run started the goroutines; receivers created later start their own
	closed  bool // shutdown closed every receiver; no goroutine starts any more
	wg      sync.WaitGroup

	// epochMu guards lost and every receiver's inLoss flag: the epoch (epoch.go) is odd while
	// lost > 0, that is while any receiver is in a loss window.
	epochMu sync.Mutex
	lost    int
}

func newClusterState(prefix string) *clusterState {
	return &clusterState{ks: keyspace.New(prefix), tags: make(map[string]*receiver)}
}

// newClusterBases creates the receivers of the all and node channels, lost until their first
// confirmation as the single receiver is (the epoch starts odd).
func (b *Broker) newClusterBases() {
	cl := b.cl
	for i, ch := range b.base {
		r := newReceiver(b, b.rdb.SSubscribe(context.Background()), []string{ch}, "", make(chan struct{}))
		r.inLoss = true
		cl.bases[i] = r
	}
	cl.lost = len(cl.bases)
}

// tagOf is the hash tag of the channel of (kind, target), KindRoom or KindUser.
func tagOf(cl *clusterState, kind Kind, target string) string {
	if kind == KindUser {
		return cl.ks.Tag('u', keyspace.Bucket(target))
	}
	return cl.ks.Tag('r', keyspace.Bucket(target))
}

// runCluster is Run in cluster mode: it subscribes the base channels, starts every receiver's
// goroutine and waits until shutdown, then for the goroutines to end.
func (b *Broker) runCluster() {
	cl := b.cl
	for _, r := range cl.bases {
		if err := r.ps.SSubscribe(b.ctx, r.base...); err != nil && !b.isClosed() {
			// go-redis keeps the channel in its set and subscribes it on the next connection,
			// which it opens to the channel's slot.
			r.log.Warn("pubsub: initial subscribe failed, retrying", "err", err)
		}
		r.wrote.Do(func() { close(r.written) })
	}
	cl.mu.Lock()
	cl.running = true
	for _, r := range cl.bases {
		b.startLocked(r)
	}
	for _, r := range cl.tags {
		b.startLocked(r)
	}
	cl.mu.Unlock()
	<-b.done
	cl.wg.Wait()
}

// startLocked starts r's receive goroutine once Run runs, unless the broker closed. It waits
// until r's first SSUBSCRIBE was written: a PubSub without channels would connect to a random
// node. Called with cl.mu held.
func (b *Broker) startLocked(r *receiver) {
	cl := b.cl
	if r.started || !cl.running || cl.closed {
		return
	}
	r.started = true
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		select {
		case <-r.written:
		case <-r.done:
			return
		}
		r.receive(b.ctx)
		r.ready.Store(false)
	}()
}

// clusterReceiver returns the receiver of tag, creating it if there is none. After shutdown it
// returns a closed receiver that is in no map.
func (b *Broker) clusterReceiver(tag string) *receiver {
	cl := b.cl
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if r := cl.tags[tag]; r != nil {
		return r
	}
	r := newReceiver(b, b.rdb.SSubscribe(context.Background()), nil, tag, make(chan struct{}))
	if cl.closed {
		r.close()
		return r
	}
	cl.tags[tag] = r
	b.startLocked(r)
	return r
}

// existing returns the receiver of tag, or nil.
func (cl *clusterState) existing(tag string) *receiver {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.tags[tag]
}

// closeTagReceiver closes a tag receiver whose last channel went; the caller holds its sem.
func (b *Broker) closeTagReceiver(r *receiver) {
	cl := b.cl
	cl.mu.Lock()
	if cl.tags[r.tag] == r {
		delete(cl.tags, r.tag)
	}
	cl.mu.Unlock()
	r.close()
}

// closeCluster closes every receiver; part of shutdown.
func (b *Broker) closeCluster() {
	cl := b.cl
	cl.mu.Lock()
	cl.closed = true
	rs := append([]*receiver(nil), cl.bases[:]...)
	for _, r := range cl.tags {
		rs = append(rs, r)
	}
	cl.mu.Unlock()
	for _, r := range rs {
		r.close()
	}
}

// close stops a cluster receiver: its goroutine ends, its connection closes (which
// unsubscribes its channels) and its loss window, if any, ends with it. Idempotent.
func (r *receiver) close() {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.closing = true
	close(r.done)
	ps := r.ps
	r.mu.Unlock()
	_ = ps.Close()
	r.ready.Store(false)
	r.markStable() // after done is closed: a late markLost of its goroutine is ignored (lose)
}

// resubscribe moves the receiver to its slot's current owner: it replaces the PubSub by a new
// one and SSUBSCRIBEs every wanted channel on it, which dials the primary that go-redis' slot
// map names (reloaded by the caller). Called by the receive goroutine after Redis unsubscribed
// the channels or redirected an SSUBSCRIBE; if the map was still stale the new SSUBSCRIBE is
// redirected again and the receive loop comes back here after a backoff. The first
// confirmation on the new connection (count 1) counts the reconnect and restores, as after a
// go-redis redial (receiver.subscribed).
func (r *receiver) resubscribe(ctx context.Context) {
	select {
	case r.sem <- struct{}{}:
	case <-r.done:
		return
	}
	defer func() { <-r.sem }()
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	old := r.ps
	r.ps = r.b.rdb.SSubscribe(ctx) // no channels: no connection yet
	chans := make([]string, 0, r.live)
	for ch, s := range r.subs {
		if s.refs > 0 {
			chans = append(chans, ch)
		}
	}
	r.mu.Unlock()
	_ = old.Close()
	if len(chans) == 0 {
		return // cannot happen: a tag receiver closes with its last channel
	}
	if err := r.ps.SSubscribe(ctx, chans...); err != nil {
		// go-redis keeps the channels and subscribes them when the next Receive redials.
		r.log.Debug("pubsub: resubscribe failed, retrying", "err", err)
	}
}

// reloadState makes a ClusterClient refresh its slot map now (in the background); go-redis
// alone does it only every 10 s, or on a MOVED reply to an ordinary command.
func (b *Broker) reloadState() {
	if c, ok := b.rdb.(*redis.ClusterClient); ok {
		c.ReloadState(b.ctx)
	}
}

// isClusterRedirect reports whether an error reply on a receive connection means the shard
// does not serve the channels' slot (now): MOVED, ASK, TRYAGAIN or CLUSTERDOWN.
func isClusterRedirect(err error) bool {
	msg := err.Error()
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// lose and stabilize move r into and out of a loss window (epoch.go).
func (cl *clusterState) lose(b *Broker, r *receiver) {
	cl.epochMu.Lock()
	defer cl.epochMu.Unlock()
	if r.inLoss || r.isClosed() {
		return
	}
	r.inLoss = true
	cl.lost++
	if cl.lost == 1 {
		b.markLost()
	}
}

func (cl *clusterState) stabilize(b *Broker, r *receiver) {
	cl.epochMu.Lock()
	defer cl.epochMu.Unlock()
	if !r.inLoss {
		return
	}
	r.inLoss = false
	cl.lost--
	if cl.lost == 0 {
		b.markStable()
	}
}

// clusterReady is Ready in cluster mode: no receiver is in a loss window, the base receivers
// included (they are lost until their first confirmation).
func (b *Broker) clusterReady() bool {
	return !b.isClosed() && b.epoch.Load()%2 == 0
}

// handle and reconnected call the Handler one at a time.
func (cl *clusterState) handle(h Handler, e Envelope) {
	cl.hmu.Lock()
	defer cl.hmu.Unlock()
	h.HandleEnvelope(e)
}

func (cl *clusterState) reconnected(h Handler) {
	cl.hmu.Lock()
	defer cl.hmu.Unlock()
	h.Reconnected()
}

// parseChannel is the inverse of channel in cluster mode (keyspace.Cluster.ParseChannel).
func (cl *clusterState) parseChannel(ch string) (Kind, string, bool) {
	kind, target, ok := cl.ks.ParseChannel(ch)
	if !ok {
		return 0, "", false
	}
	switch kind {
	case "all":
		return KindAll, "", true
	case "node":
		return KindNode, target, true
	case "room":
		return KindRoom, target, true
	case "user":
		return KindUser, target, true
	}
	return 0, "", false
}

// channel is Broker.channel in cluster mode, for a valid (kind, target).
func (cl *clusterState) channel(kind Kind, target string) string {
	switch kind {
	case KindAll:
		return cl.ks.AllChannel()
	case KindNode:
		return cl.ks.NodeChannel(target)
	case KindRoom:
		return cl.ks.RoomChannel(target)
	default:
		return cl.ks.UserChannel(target)
	}
}
