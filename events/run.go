package events

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backoff between retries of a failed Redis call.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// runner is one Run: a single goroutine that steps through group creation,
// this consumer's own pending entries, claims and new entries.
type runner struct {
	c    *Consumer
	h    Handler
	ctx  context.Context // Run's: ends the loop
	hctx context.Context // the handler's (see Consumer.handlerContext)
	log  *slog.Logger
	bo   backoff

	group        bool      // the group is known to exist
	pendingDone  bool      // own pending entries handled (at the start, and after a failed read)
	pendingFrom  string    // cursor in own pending entries
	claimFrom    string    // XAUTOCLAIM cursor; "0-0" starts a new sweep
	nextClaimDue time.Time // zero: a sweep is due now
}

func (r *runner) run() {
	r.pendingFrom, r.claimFrom = "0", "0-0"
	for r.ctx.Err() == nil {
		var err error
		switch {
		case !r.group:
			err = r.createGroup()
		case !r.pendingDone:
			err = r.pendingStep()
		case !time.Now().Before(r.nextClaimDue):
			err = r.claimStep()
		default:
			err = r.readStep(min(r.c.cfg.Block, max(time.Until(r.nextClaimDue), time.Millisecond)))
		}
		if err == nil {
			r.bo.reset()
			continue
		}
		if r.ctx.Err() != nil {
			return
		}
		r.failed(err, "redis call failed; retrying")
		r.bo.wait(r.ctx)
	}
}

// failed counts and logs a failed Redis call, and notes a missing group.
func (r *runner) failed(err error, msg string) {
	r.c.errs.Add(1)
	if isNoGroup(err) {
		r.group = false
	}
	r.log.Warn(msg, "err", err)
}

// createGroup creates the group (and the stream) unless it exists.
func (r *runner) createGroup() error {
	cfg := r.c.cfg
	err := r.c.rdb.XGroupCreateMkStream(r.ctx, cfg.Stream, cfg.Group, cfg.StartID).Err()
	switch {
	case err == nil:
		r.log.Info("created the consumer group", "start_id", cfg.StartID)
	case strings.HasPrefix(err.Error(), "BUSYGROUP"):
	default:
		return err
	}
	r.group = true
	return nil
}

// pendingStep handles one batch of this consumer's own pending entries.
func (r *runner) pendingStep() error {
	msgs, err := r.read(r.pendingFrom, -1)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		r.pendingDone = true
		return nil
	}
	r.pendingFrom = msgs[len(msgs)-1].ID
	r.handleAll(msgs, true)
	return nil
}

// claimStep takes over one batch of entries idle longer than ClaimMinIdle
// and handles them; a sweep ends when the cursor wraps to "0-0".
func (r *runner) claimStep() error {
	cfg := r.c.cfg
	msgs, next, deleted, err := r.c.rdb.XAutoClaimWithDeleted(r.ctx, &redis.XAutoClaimArgs{
		Stream: cfg.Stream, Group: cfg.Group, Consumer: cfg.Consumer,
		MinIdle: cfg.ClaimMinIdle, Start: r.claimFrom, Count: int64(cfg.Count),
	}).Result()
	if err != nil {
		r.recheckOwn()
		return err
	}
	if len(deleted) > 0 {
		// Redis has already removed them from the pending entries.
		r.c.trimmed.Add(int64(len(deleted)))
		r.log.Warn("pending entries were trimmed from the stream before they were handled", "ids", deleted)
	}
	if next == "0-0" || next == "" {
		r.claimFrom = "0-0"
		r.nextClaimDue = time.Now().Add(cfg.ClaimInterval)
	} else {
		r.claimFrom = next
	}
	if len(msgs) > 0 {
		r.c.claimed.Add(int64(len(msgs)))
		r.log.Info("took over pending entries", "count", len(msgs))
		r.handleAll(msgs, true)
	}
	return nil
}

// readStep waits up to block for new entries and handles them.
func (r *runner) readStep(block time.Duration) error {
	msgs, err := r.read(">", block)
	if err != nil {
		r.recheckOwn()
		return err
	}
	r.handleAll(msgs, false)
	return nil
}

// recheckOwn makes the next steps read this consumer's own pending entries
// again: after a failed XREADGROUP or XAUTOCLAIM, Redis may have assigned
// entries to it whose reply was lost, and they are handled now rather than
// after ClaimMinIdle.
func (r *runner) recheckOwn() {
	r.pendingDone, r.pendingFrom = false, "0"
}

// read is XREADGROUP from id (">" for new entries, else own pending ones
// after id); block < 0 does not block.
func (r *runner) read(id string, block time.Duration) ([]redis.XMessage, error) {
	cfg := r.c.cfg
	res, err := r.c.rdb.XReadGroup(r.ctx, &redis.XReadGroupArgs{
		Group: cfg.Group, Consumer: cfg.Consumer, Streams: []string{cfg.Stream, id},
		Count: int64(cfg.Count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil || len(res) == 0 {
		return nil, err
	}
	return res[0].Messages, nil
}

// handleAll handles msgs in order, and stops early when Run's context is
// canceled: the rest stay pending.
func (r *runner) handleAll(msgs []redis.XMessage, redelivered bool) {
	for _, m := range msgs {
		if r.ctx.Err() != nil {
			return
		}
		r.handle(m, redelivered)
	}
}

// handle calls the handler for one entry and acknowledges it unless the
// handler failed. Malformed and trimmed entries are acknowledged unhandled.
func (r *runner) handle(m redis.XMessage, redelivered bool) {
	e, err := decode(m, redelivered)
	switch {
	case errors.Is(err, errTrimmed):
		r.c.trimmed.Add(1)
		r.log.Warn("pending entry was trimmed from the stream before it was handled", "id", m.ID)
	case err != nil:
		r.c.malformed.Add(1)
		r.log.Warn("malformed entry acknowledged without handling", "id", m.ID, "err", err)
	default:
		if err := r.h(r.hctx, e); err != nil {
			r.c.failed.Add(1)
			r.log.Warn("handler failed; the entry stays pending and is retried after the claim idle time",
				"id", m.ID, "type", e.Type, "err", err)
			return
		}
		r.c.handled.Add(1)
	}
	r.ack(m.ID)
}

// ack acknowledges id, retrying until it succeeds, the group is gone, or
// one attempt after Run's context was canceled has failed (the entry then
// stays pending and is handled again).
func (r *runner) ack(id string) {
	cfg := r.c.cfg
	actx := context.WithoutCancel(r.ctx)
	for {
		stopped := r.ctx.Err() != nil
		err := r.c.rdb.XAck(actx, cfg.Stream, cfg.Group, id).Err()
		if err == nil {
			return
		}
		r.failed(err, "acknowledging failed")
		if stopped || isNoGroup(err) {
			r.log.Warn("entry not acknowledged; it will be handled again", "id", id)
			return
		}
		r.bo.wait(r.ctx)
	}
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// backoff doubles the wait between retries from minBackoff to maxBackoff,
// with jitter (each wait is between half and all of the step).
type backoff struct{ step time.Duration }

func (b *backoff) reset() { b.step = 0 }

// wait sleeps for the next step or until ctx is done.
func (b *backoff) wait(ctx context.Context) {
	b.step = min(max(2*b.step, minBackoff), maxBackoff)
	d := b.step/2 + rand.N(b.step/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
