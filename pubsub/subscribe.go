package pubsub

import (
	"context"
	"errors"
	"fmt"
)

// errReceiverClosed reports that a cluster tag receiver closed (its last channel went) before
// a new reference could be taken on it; the caller opens a new one.
var errReceiverClosed = errors.New("pubsub: receiver closed")

// sub is the state of one wanted channel on a receiver. Guarded by receiver.mu.
//
// Invariant: confirmed implies pending == 0, and ready is closed iff confirmed.
// An entry lives while refs > 0 or a SUBSCRIBE it sent is unconfirmed (pending > 0); keeping
// it in the second case lets a SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBE sequence wait for the last
// confirmation instead of taking the first one as its own.
type sub struct {
	refs      int           // local interest: Subscribe calls minus Unsubscribe calls
	pending   int           // SUBSCRIBE commands sent on the current connection, not yet confirmed
	confirmed bool          // Redis confirmed the subscription on the current connection
	ready     chan struct{} // closed on confirmation; waiters select on it
}

// Subscribe adds one reference to (kind, target), which must be KindRoom or KindUser.
// On 0->1 it sends SUBSCRIBE; every caller then waits until Redis confirms the subscription
// (or ctx is done, or Config.SubscribeTimeout passes), so a message published after Subscribe
// returns nil is received. Concurrent calls for one channel share one SUBSCRIBE.
// On error the reference is not kept.
func (b *Broker) Subscribe(ctx context.Context, kind Kind, target string) error {
	ch, err := b.interestChannel(kind, target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.SubscribeTimeout)
	defer cancel()

	r, ready, err := b.addRef(ctx, kind, target, ch)
	if err != nil {
		return fmt.Errorf("pubsub: subscribe %s: %w", ch, err)
	}
	select {
	case <-ready:
		return nil
	case <-b.done:
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = ErrSubscribeTimeout
		}
	}
	// Give the reference back; the caller will not Unsubscribe after an error.
	_ = r.dropRef(context.WithoutCancel(ctx), ch)
	return fmt.Errorf("pubsub: subscribe %s: %w", ch, err)
}

// Unsubscribe drops one reference to (kind, target). On 1->0 it sends UNSUBSCRIBE without
// waiting for the confirmation; a message already in flight may still reach the Handler.
// It returns ErrNotSubscribed if there is no reference to drop. An error from the UNSUBSCRIBE
// itself is returned too, but the reference is gone either way: go-redis forgets the channel
// and does not resubscribe it on its next connection.
func (b *Broker) Unsubscribe(ctx context.Context, kind Kind, target string) error {
	ch, err := b.interestChannel(kind, target)
	if err != nil {
		return err
	}
	r := b.single
	if b.cl != nil {
		if r = b.cl.existing(tagOf(b.cl, kind, target)); r == nil {
			return fmt.Errorf("pubsub: unsubscribe %s: %w", ch, ErrNotSubscribed)
		}
	}
	if err := r.dropRef(ctx, ch); err != nil {
		return fmt.Errorf("pubsub: unsubscribe %s: %w", ch, err)
	}
	return nil
}

// addRef adds a reference to ch on its receiver and returns the receiver and the channel to
// wait on. In cluster mode the receiver of ch's tag is created if there is none, and looked up
// again if the one found closes meanwhile.
func (b *Broker) addRef(ctx context.Context, kind Kind, target, ch string) (*receiver, <-chan struct{}, error) {
	if b.cl == nil {
		ready, err := b.single.addRef(ctx, ch)
		return b.single, ready, err
	}
	tag := tagOf(b.cl, kind, target)
	for {
		r := b.clusterReceiver(tag)
		ready, err := r.addRef(ctx, ch)
		if errors.Is(err, errReceiverClosed) {
			continue // it closed with its last channel just now: open a new one
		}
		return r, ready, err
	}
}

func (b *Broker) interestChannel(kind Kind, target string) (string, error) {
	if kind != KindRoom && kind != KindUser {
		return "", fmt.Errorf("%w: only room and user channels are subscribed by interest, got %s", ErrInvalidTarget, kind)
	}
	return b.channel(kind, target)
}

// addRef adds a reference and returns the channel to wait on. The 0->1 transition and its
// SUBSCRIBE happen under sem; adding to a live entry does not need it. It returns
// errReceiverClosed when a cluster tag receiver closed before the reference was taken.
func (r *receiver) addRef(ctx context.Context, ch string) (<-chan struct{}, error) {
	b := r.b
	if b.isClosed() {
		return nil, ErrClosed
	}
	if ready, ok := r.addLiveRef(ch); ok {
		return ready, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.done:
		return nil, ErrClosed
	}
	defer func() { <-r.sem }()
	if ready, ok := r.addLiveRef(ch); ok {
		return ready, nil
	}

	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil, errReceiverClosed
	}
	s := r.subs[ch]
	if s == nil {
		s = &sub{ready: make(chan struct{})}
		r.subs[ch] = s
	}
	s.refs = 1
	s.pending++
	if s.confirmed { // cannot happen (confirmed entries with refs 0 are deleted); keep the invariant anyway
		s.confirmed = false
		s.ready = make(chan struct{})
	}
	r.unconfirmed++
	r.live++
	ready := s.ready
	r.mu.Unlock()
	b.stats.subscriptions.Add(1)

	// Not ctx: a write that misses a caller's deadline makes go-redis drop and redial the
	// connection, a loss window for every channel. WriteTimeout and DialTimeout bound it.
	err := ctx.Err()
	if err == nil {
		err = r.subscribe(context.WithoutCancel(ctx), ch)
	}
	if err != nil {
		r.mu.Lock()
		if s.pending > 0 {
			s.pending--
		}
		r.mu.Unlock()
		_ = r.dropRefLocked(context.WithoutCancel(ctx), ch)
		if b.isClosed() {
			return nil, ErrClosed
		}
		return nil, err
	}
	return ready, nil
}

// subscribe sends SUBSCRIBE (SSUBSCRIBE in cluster mode) for ch; the caller holds sem.
func (r *receiver) subscribe(ctx context.Context, ch string) error {
	if r.b.cl == nil {
		return r.ps.Subscribe(ctx, ch)
	}
	err := r.ps.SSubscribe(ctx, ch)
	if err == nil {
		r.wrote.Do(func() { close(r.written) }) // it has a connection to the slot's shard now
	}
	return err
}

// addLiveRef adds a reference if the channel already has one.
func (r *receiver) addLiveRef(ch string) (<-chan struct{}, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.subs[ch]; s != nil && s.refs > 0 {
		s.refs++
		return s.ready, true
	}
	return nil, false
}

// dropRef drops a reference, sending UNSUBSCRIBE on 1->0. It waits for sem without regard to
// ctx: the holder is bounded by its own timeout, and skipping the UNSUBSCRIBE would leave the
// channel subscribed with no reference.
func (r *receiver) dropRef(ctx context.Context, ch string) error {
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	return r.dropRefLocked(ctx, ch)
}

// dropRefLocked is dropRef for a caller holding sem. A cluster tag receiver whose last channel
// goes is closed instead: closing its connection unsubscribes everything.
func (r *receiver) dropRefLocked(ctx context.Context, ch string) error {
	r.mu.Lock()
	s := r.subs[ch]
	if s == nil || s.refs == 0 {
		r.mu.Unlock()
		return ErrNotSubscribed
	}
	s.refs--
	last := s.refs == 0
	if last {
		r.live--
		if !s.confirmed {
			r.unconfirmed--
		}
		if s.pending == 0 {
			delete(r.subs, ch)
		}
	}
	closeIt := last && r.tag != "" && r.live == 0
	r.mu.Unlock()
	if !last {
		return nil
	}
	r.b.stats.subscriptions.Add(-1)
	if r.b.isClosed() {
		return nil
	}
	if closeIt {
		r.b.closeTagReceiver(r)
		return nil
	}
	// go-redis removes ch from its resubscribe set even if the command fails. Not ctx, for the
	// reason given in addRef: the UNSUBSCRIBE is sent even if the caller has given up.
	if r.b.cl != nil {
		return r.ps.SUnsubscribe(context.WithoutCancel(ctx), ch)
	}
	return r.ps.Unsubscribe(context.WithoutCancel(ctx), ch)
}

// confirm records a "subscribe" confirmation for ch. Called by the receive goroutine with mu held.
func (r *receiver) confirmLocked(ch string) {
	s := r.subs[ch]
	if s == nil {
		return
	}
	if s.pending > 0 {
		s.pending--
	}
	if s.pending > 0 {
		return
	}
	if !s.confirmed {
		s.confirmed = true
		close(s.ready)
		if s.refs > 0 {
			r.unconfirmed--
		}
	}
	if s.refs == 0 {
		delete(r.subs, ch)
	}
}

// resetLocked forgets every confirmation: called with mu held when the first confirmation of a
// fresh connection arrives. Everything in go-redis's set is being resubscribed on it.
func (r *receiver) resetLocked() {
	r.unconfirmed = 0
	for ch, s := range r.subs {
		if s.refs == 0 {
			delete(r.subs, ch) // its SUBSCRIBE and UNSUBSCRIBE went to the old connection
			continue
		}
		s.pending = 0
		if s.confirmed {
			s.confirmed = false
			s.ready = make(chan struct{})
		}
		r.unconfirmed++
	}
}

// baseConfirmedLocked reports whether the receiver's base channels are confirmed (the all and
// node channels in single mode); for a tag receiver, whether it was ever up.
func (r *receiver) baseConfirmedLocked() bool {
	if len(r.base) == 0 {
		return r.everUp
	}
	for _, ch := range r.base {
		if s := r.subs[ch]; s == nil || !s.confirmed {
			return false
		}
	}
	return true
}
