package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsnode/wsnode/cluster"
)

// Several nodes reap one dead node at once: every connection is returned by
// exactly one Reap, with its user, type and rooms, and every authenticated
// one gets exactly one disconnect event in the stream, written by the
// script that removed it. Guests get none.
func TestReapReturnsEachConnOnceAndAppendsDisconnects(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	const total = 300 // several evict batches
	for i := range total {
		c := Conn{ID: fmt.Sprintf("a%04d", i), Rooms: []string{fmt.Sprintf("r%d", i%5), "lobby"}}
		if i%10 != 0 {
			c.User = fmt.Sprintf("u%d", i%7)
		}
		mustRegister(t, a, c)
	}
	m.FastForward(7 * time.Second)

	cfg := &Config{EventsStream: "ws:events", EventsMaxLen: 10_000}
	reapers := []*Registry{
		MustRegistry(t, rdb, "node-b", cfg), MustRegistry(t, rdb, "node-c", cfg),
		MustRegistry(t, rdb, "node-b", cfg), MustRegistry(t, rdb, "node-c", cfg),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []cluster.Conn
	for _, r := range reapers {
		wg.Go(func() {
			conns, err := r.Reap(ctx)
			noErr(t, err)
			mu.Lock()
			all = append(all, conns...)
			mu.Unlock()
		})
	}
	wg.Wait()
	equal(t, "returned in total", len(all), total)
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c.ID] {
			t.Fatalf("%s returned twice", c.ID)
		}
		seen[c.ID] = true
		var i int
		_, _ = fmt.Sscanf(c.ID, "a%04d", &i)
		wantUser := ""
		if i%10 != 0 {
			wantUser = fmt.Sprintf("u%d", i%7)
		}
		slices.Sort(c.Rooms)
		if c.NodeID != "node-a" || c.User != wantUser || !slices.Equal(c.Rooms, []string{"lobby", fmt.Sprintf("r%d", i%5)}) {
			t.Fatalf("reaped record %+v, want user %q in lobby and r%d", c, wantUser, i%5)
		}
	}

	entries, err := rdb.XRange(ctx, "ws:events", "-", "+").Result()
	noErr(t, err)
	equal(t, "disconnect events", len(entries), total-total/10)
	evSeen := map[string]bool{}
	for _, e := range entries {
		var ev cluster.Event
		raw, _ := e.Values[cluster.EventField].(string)
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			t.Fatalf("event %q: %v", raw, err)
		}
		if ev.Type != cluster.EventDisconnect || ev.Reason != "reaped" || ev.NodeID != "node-a" || ev.User == "" || ev.TS == 0 || ev.ConnType != "user" {
			t.Fatalf("event %+v", ev)
		}
		if evSeen[ev.ConnID] {
			t.Fatalf("two disconnect events for %s", ev.ConnID)
		}
		evSeen[ev.ConnID] = true
	}
}

// Without an events stream nothing is appended, and a drain appends nothing
// either: a draining node's clients are closed by the node itself.
func TestReapWithoutStreamAndDrainAppendNothing(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	cfg := &Config{EventsStream: "ws:events"}
	a := MustRegistry(t, rdb, "node-a", cfg)
	mustBeat(t, a)
	mustRegister(t, a, Conn{ID: "a1", User: "alice"})
	noErr(t, a.Deregister(ctx))
	d := MustRegistry(t, rdb, "node-d", nil)
	mustBeat(t, d)
	mustRegister(t, d, Conn{ID: "d1", User: "dora"})
	m.FastForward(7 * time.Second)
	b := MustRegistry(t, rdb, "node-b", nil)
	conns, err := b.Reap(ctx)
	noErr(t, err)
	equal(t, "reaped", len(conns), 1)
	n, err := rdb.Exists(ctx, "ws:events").Result()
	noErr(t, err)
	equal(t, "stream exists", n, int64(0))
}
