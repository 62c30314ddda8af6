package pubsub

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// sub is the state of one wanted channel. Guarded by Broker.mu.
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

	ready, err := b.addRef(ctx, ch)
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
	b.dropRef(context.WithoutCancel(ctx), ch)
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
	if err := b.dropRef(ctx, ch); err != nil {
		return fmt.Errorf("pubsub: unsubscribe %s: %w", ch, err)
	}
	return nil
}

func (b *Broker) interestChannel(kind Kind, target string) (string, error) {
	if kind != KindRoom && kind != KindUser {
		return "", fmt.Errorf("%w: only room and user channels are subscribed by interest, got %s", ErrInvalidTarget, kind)
	}
	return b.channel(kind, target)
}

// addRef adds a reference and returns the channel to wait on. The 0->1 transition and its
// SUBSCRIBE happen under sem; adding to a live entry does not need it.
func (b *Broker) addRef(ctx context.Context, ch string) (<-chan struct{}, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if ready, ok := b.addLiveRef(ch); ok {
		return ready, nil
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.done:
		return nil, ErrClosed
	}
	defer func() { <-b.sem }()
	if ready, ok := b.addLiveRef(ch); ok {
		return ready, nil
	}

	b.mu.Lock()
	s := b.subs[ch]
	if s == nil {
		s = &sub{ready: make(chan struct{})}
		b.subs[ch] = s
	}
	s.refs = 1
	s.pending++
	if s.confirmed { // cannot happen (confirmed entries with refs 0 are deleted); keep the invariant anyway
		s.confirmed = false
		s.ready = make(chan struct{})
	}
	b.unconfirmed++
	ready := s.ready
	b.mu.Unlock()
	b.stats.subscriptions.Add(1)

	// Not ctx: a write that misses a caller's deadline makes go-redis drop and redial the
	// connection, a loss window for every channel. WriteTimeout and DialTimeout bound it.
	err := ctx.Err()
	if err == nil {
		err = b.ps.Subscribe(context.WithoutCancel(ctx), ch)
	}
	if err != nil {
		b.mu.Lock()
		if s.pending > 0 {
			s.pending--
		}
		b.mu.Unlock()
		b.dropRefLocked(context.WithoutCancel(ctx), ch)
		if b.isClosed() {
			return nil, ErrClosed
		}
		return nil, err
	}
	return ready, nil
}

// addLiveRef adds a reference if the channel already has one.
func (b *Broker) addLiveRef(ch string) (<-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.subs[ch]; s != nil && s.refs > 0 {
		s.refs++
		return s.ready, true
	}
	return nil, false
}

// dropRef drops a reference, sending UNSUBSCRIBE on 1->0. It waits for sem without regard to
// ctx: the holder is bounded by its own timeout, and skipping the UNSUBSCRIBE would leave the
// channel subscribed with no reference.
func (b *Broker) dropRef(ctx context.Context, ch string) error {
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	return b.dropRefLocked(ctx, ch)
}

// dropRefLocked is dropRef for a caller holding sem.
func (b *Broker) dropRefLocked(ctx context.Context, ch string) error {
	b.mu.Lock()
	s := b.subs[ch]
	if s == nil || s.refs == 0 {
		b.mu.Unlock()
		return ErrNotSubscribed
	}
	s.refs--
	last := s.refs == 0
	if last {
		if !s.confirmed {
			b.unconfirmed--
		}
		if s.pending == 0 {
			delete(b.subs, ch)
		}
	}
	b.mu.Unlock()
	if !last {
		return nil
	}
	b.stats.subscriptions.Add(-1)
	if b.isClosed() {
		return nil
	}
	// go-redis removes ch from its resubscribe set even if the command fails. Not ctx, for the
	// reason given in addRef: the UNSUBSCRIBE is sent even if the caller has given up.
	return b.ps.Unsubscribe(context.WithoutCancel(ctx), ch)
}

// confirm records a "subscribe" confirmation for ch. Called by the receive goroutine with mu held.
func (b *Broker) confirmLocked(ch string) {
	s := b.subs[ch]
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
			b.unconfirmed--
		}
	}
	if s.refs == 0 {
		delete(b.subs, ch)
	}
}

// resetLocked forgets every confirmation: called with mu held when the first confirmation of a
// fresh connection arrives. Everything in go-redis's set is being resubscribed on it.
func (b *Broker) resetLocked() {
	b.unconfirmed = 0
	for ch, s := range b.subs {
		if s.refs == 0 {
			delete(b.subs, ch) // its SUBSCRIBE and UNSUBSCRIBE went to the old connection
			continue
		}
		s.pending = 0
		if s.confirmed {
			s.confirmed = false
			s.ready = make(chan struct{})
		}
		b.unconfirmed++
	}
}

// baseConfirmedLocked reports whether the all and node channels are confirmed.
func (b *Broker) baseConfirmedLocked() bool {
	for _, ch := range b.base {
		if s := b.subs[ch]; s == nil || !s.confirmed {
			return false
		}
	}
	return true
}

// sleep waits d or until the broker closes; it reports whether the broker is still open.
func (b *Broker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.done:
		return false
	}
}
