package node

import (
	"context"
)

// setupGate bounds the connection set-up work that runs at once on a node:
// an upgrade with its registration, an auth frame, a join. In a reconnect
// storm, hundreds of connects each do a little CPU work between Redis round
// trips; unbounded, their goroutines fill the run queue, and Go's scheduler
// gives the delivery path (the pub/sub receive goroutine and the writers)
// no precedence, so messages to the sockets the node already serves wait
// hundreds of milliseconds behind them (bench/analysis.md, "Reconnect
// storms"). Work beyond the bound waits, blocked rather than runnable, for a
// slot. A nil gate does not bound.
type setupGate chan struct{}

func newSetupGate(slots int) setupGate {
	if slots <= 0 {
		return nil
	}
	return make(setupGate, slots)
}

// enter waits for a slot, or for ctx to end (then it reports ctx's error
// and holds no slot).
func (g setupGate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs f holding a slot; when ctx ends first it returns ctx's error
// without running f.
func (g setupGate) do(ctx context.Context, f func() error) error {
	if err := g.enter(ctx); err != nil {
		return err
	}
	defer g.leave()
	return f()
}

// leave returns a slot taken by enter.
func (g setupGate) leave() {
	if g != nil {
		<-g
	}
}
