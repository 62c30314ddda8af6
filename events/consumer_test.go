package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// One consumer gets every entry once, in stream order, with its event, and
// acknowledges each; entries written while it runs follow.
func TestDeliversInOrderAndAcks(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ids := addEvents(t, rdb, 0, 150) // more than one read's Count
		var col collector
		c := newConsumer(t, rdb, "w1", noClaim)
		start(t, c, col.handle)
		ids = append(ids, addEvents(t, rdb, 150, 160)...)
		col.waitCount(t, len(ids))
		equal(t, "ids", col.ids(), ids)
		for i, e := range col.seen() {
			want := testEvent(i)
			if e.Redelivered || e.MsgID != want.MsgID || e.Type != Message || e.Room != "lobby" || string(e.Data) != string(want.Data) {
				t.Fatalf("entry %d: %+v, want %+v", i, e, want)
			}
		}
		waitNonePending(t, rdb)
		equal(t, "stats", counts(c), Stats{Handled: 160})
	})
}

// Two consumers of one group share its entries: each entry is handled
// exactly once between them, and none stays pending.
func TestTwoConsumersShareTheGroup(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		const n = 600
		var a, b collector
		ca, cb := newConsumer(t, rdb, "a", noClaim), newConsumer(t, rdb, "b", noClaim)
		start(t, ca, a.handle)
		start(t, cb, b.handle)
		ids := addEvents(t, rdb, 0, n)
		waitFor(t, "every entry handled", func() error {
			if got := len(a.seen()) + len(b.seen()); got < n {
				return fmt.Errorf("%d handled", got)
			}
			return nil
		})
		seen := map[string]int{}
		for _, id := range append(a.ids(), b.ids()...) {
			seen[id]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Fatalf("entry %s handled %d times", id, seen[id])
			}
		}
		equal(t, "handled in all", len(seen), n)
		waitNonePending(t, rdb)
		t.Logf("a handled %d, b handled %d", len(a.seen()), len(b.seen()))
	})
}

// A handler error leaves the entry pending; it is handled again (as
// redelivered) after ClaimMinIdle, and then acknowledged.
func TestHandlerErrorIsRedelivered(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ids := addEvents(t, rdb, 0, 3)
		var mu sync.Mutex
		var calls []string
		failed := false
		h := func(_ context.Context, e Entry) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, e.MsgID+":"+strconv.FormatBool(e.Redelivered))
			if e.ID == ids[1] && !failed {
				failed = true
				return errors.New("downstream unavailable")
			}
			return nil
		}
		c := newConsumer(t, rdb, "w1", testIdle)
		start(t, c, h)
		waitFor(t, "the failed entry handled again", func() error {
			if s := c.Stats(); s.Handled < 3 {
				return fmt.Errorf("stats %+v", s)
			}
			return nil
		})
		mu.Lock()
		equal(t, "calls", calls, []string{"0:false", "1:false", "2:false", "1:true"})
		mu.Unlock()
		waitNonePending(t, rdb)
		equal(t, "stats", counts(c), Stats{Handled: 3, Failed: 1, Claimed: 1})
	})
}

// Entries without the field or with bad JSON are acknowledged without a
// handler call and counted; the good ones around them are handled.
func TestMalformedEntriesAreAckedAndCounted(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		good := addEvents(t, rdb, 0, 1)
		addRaw(t, rdb, "other", "x")
		addRaw(t, rdb, Field, "{not json")
		addRaw(t, rdb, Field, "null")
		addRaw(t, rdb, Field, `{"ts":1}`) // no type
		addRaw(t, rdb, Field, `[1,2]`)
		good = append(good, addEvents(t, rdb, 1, 2)...)
		// Unknown fields and types pass: newer nodes must not break workers.
		good = append(good, addRaw(t, rdb, Field, `{"type":"future","new_field":true}`))
		var col collector
		c := newConsumer(t, rdb, "w1", testIdle)
		start(t, c, col.handle)
		col.waitCount(t, 3)
		waitNonePending(t, rdb)
		equal(t, "handled", col.ids(), good)
		equal(t, "stats", counts(c), Stats{Handled: 3, Malformed: 5})
	})
}

// Entries read but never acknowledged by a consumer that died are taken
// over by another after ClaimMinIdle, marked redelivered.
func TestTakeOverFromDeadConsumer(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ids := addEvents(t, rdb, 0, 8)
		dead := readAsDead(t, rdb, "dead", 5)
		equal(t, "pending on dead", pending(t, rdb), map[string]int64{"dead": 5})
		var col collector
		c := newConsumer(t, rdb, "alive", testIdle)
		start(t, c, col.handle)
		col.waitCount(t, 8)
		waitNonePending(t, rdb)
		got := map[string]bool{}
		for _, e := range col.seen() {
			got[e.ID] = e.Redelivered
		}
		equal(t, "entries", len(got), len(ids))
		for _, id := range dead {
			if !got[id] {
				t.Errorf("entry %s of the dead consumer: redelivered %v", id, got[id])
			}
		}
		equal(t, "claimed", c.Stats().Claimed, 5)
	})
}

// A consumer restarted under the same name handles its own pending
// entries first, without waiting for ClaimMinIdle.
func TestOwnPendingFirstAfterRestart(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ids := addEvents(t, rdb, 0, 6)
		readAsDead(t, rdb, "w1", 4) // the previous process of w1
		// Entries 4 and 5 are new; 0-3 pending on w1.
		var col collector
		c := newConsumer(t, rdb, "w1", noClaim, func(c *Config) { c.Count = 2 })
		start(t, c, col.handle)
		col.waitCount(t, 6)
		equal(t, "order", col.ids(), ids)
		for i, e := range col.seen() {
			equal(t, "redelivered "+e.ID, e.Redelivered, i < 4)
		}
		waitNonePending(t, rdb)
		equal(t, "claimed", c.Stats().Claimed, 0)
	})
}

// Canceling Run's context lets the handler call in progress finish with a
// live context, acknowledges its entry, and leaves the rest of the batch
// pending; Run returns nil.
func TestGracefulStop(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ids := addEvents(t, rdb, 0, 5)
		entered, release := make(chan struct{}), make(chan struct{})
		var handlerCtxErr error
		h := func(ctx context.Context, e Entry) error {
			close(entered)
			<-release
			handlerCtxErr = ctx.Err()
			return nil
		}
		c := newConsumer(t, rdb, "w1", noClaim)
		stop := start(t, c, h)
		<-entered
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		time.Sleep(100 * time.Millisecond) // Run's context is canceled by now
		select {
		case <-stopped:
			t.Fatal("Run returned while its handler was running")
		default:
		}
		close(release)
		<-stopped
		if handlerCtxErr != nil {
			t.Errorf("handler context canceled within the grace: %v", handlerCtxErr)
		}
		equal(t, "stats", counts(c), Stats{Handled: 1})
		equal(t, "pending", pending(t, rdb), map[string]int64{"w1": int64(len(ids) - 1)})
	})
}

// After HandlerGrace the handler's context is canceled; a handler that then
// fails leaves its entry pending, and another consumer takes it over.
func TestHardStopThenTakeOver(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ids := addEvents(t, rdb, 0, 3)
		entered := make(chan struct{})
		h := func(ctx context.Context, e Entry) error {
			close(entered)
			<-ctx.Done() // a call that would block forever
			return ctx.Err()
		}
		a := newConsumer(t, rdb, "a", testIdle, func(c *Config) { c.HandlerGrace = 20 * time.Millisecond })
		stop := start(t, a, h)
		<-entered
		stop()
		equal(t, "a's stats", counts(a), Stats{Failed: 1})
		equal(t, "pending", pending(t, rdb), map[string]int64{"a": 3})
		var col collector
		b := newConsumer(t, rdb, "b", testIdle)
		start(t, b, col.handle)
		col.waitCount(t, 3)
		waitNonePending(t, rdb)
		equal(t, "b's entries", col.ids(), ids)
	})
}

// A group that disappears (a flush) is created again, and new entries are
// handled.
func TestGroupRecreatedAfterFlush(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		var col collector
		c := newConsumer(t, rdb, "w1", noClaim)
		start(t, c, col.handle)
		addEvents(t, rdb, 0, 2)
		col.waitCount(t, 2)
		if err := rdb.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the group again", func() error {
			addEvents(t, rdb, 2, 3)
			if len(col.seen()) < 3 {
				return fmt.Errorf("%d handled", len(col.seen()))
			}
			return nil
		})
		if c.Stats().Errors == 0 {
			t.Error("no Redis error counted for the missing group")
		}
	})
}

// A pending entry deleted from the stream (trimmed) before it was handled
// is acknowledged and counted, not handed to the handler: found among this
// consumer's own pending entries, or by XAUTOCLAIM among another's. Real
// Redis only: miniredis drops a deleted entry from the pending entries.
func TestTrimmedPendingEntries(t *testing.T) {
	rdb := newRealRedis(t)
	ctx := context.Background()
	ids := addEvents(t, rdb, 0, 6)
	readAsDead(t, rdb, "w1", 2)   // ids 0, 1: pending on w1, this consumer
	readAsDead(t, rdb, "dead", 2) // ids 2, 3: pending on another
	if err := rdb.XDel(ctx, StreamKey(DefaultPrefix), ids[0], ids[2]).Err(); err != nil {
		t.Fatal(err)
	}
	var col collector
	c := newConsumer(t, rdb, "w1", testIdle)
	start(t, c, col.handle)
	col.waitCount(t, 4)
	waitNonePending(t, rdb)
	// Entry 3 comes after 4 and 5, or before them when the first sweep
	// already finds it idle long enough.
	got := col.ids()
	slices.Sort(got)
	equal(t, "handled", got, []string{ids[1], ids[3], ids[4], ids[5]})
	equal(t, "stats", counts(c), Stats{Handled: 4, Trimmed: 2, Claimed: 1})
}

// A new group starts at the oldest entry by default, and after the last one
// with StartID "$".
func TestStartID(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		old := addEvents(t, rdb, 0, 2)
		var all, fresh collector
		start(t, newConsumer(t, rdb, "w1", noClaim), all.handle)
		start(t, newConsumer(t, rdb, "w2", noClaim, func(c *Config) { c.Group = "new-only"; c.StartID = "$" }), fresh.handle)
		all.waitCount(t, 2)
		// The "$" group exists once its consumer has read once; an entry
		// added before that would be old to it.
		waitFor(t, "group new-only", func() error {
			return rdb.XInfoConsumers(context.Background(), StreamKey(DefaultPrefix), "new-only").Err()
		})
		later := addEvents(t, rdb, 2, 3)
		all.waitCount(t, 3)
		fresh.waitCount(t, 1)
		equal(t, "default group", all.ids(), append(old, later...))
		equal(t, "$ group", fresh.ids(), later)
	})
}
