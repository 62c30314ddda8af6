package pubsub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/wsnode/wsnode/cluster"
)

// A message's event goes to the stream with its PUBLISH, AppendEvent's on
// its own, in queue order; without a stream nothing is appended.
func TestEventsAppendedWithPublishes(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", func(c *Config) { c.EventsStream, c.EventsMaxLen = "ws:events", 1000 })
	b := startNode(t, m.Addr(), "node-b", nil) // no stream
	ctx := context.Background()
	if err := a.Subscribe(ctx, KindRoom, "lobby"); err != nil {
		t.Fatal(err)
	}
	results := make(chan Result, 3)
	for i := range 3 {
		e := deliver(KindRoom, "lobby", fmt.Sprintf("m%d", i))
		e.Event = []byte(fmt.Sprintf(`{"type":"message","n":%d}`, i))
		a.PublishAsync(e, func(r Result) { results <- r })
		a.AppendEvent([]byte(fmt.Sprintf(`{"type":"join","n":%d}`, i)))
	}
	for range 3 {
		if r := <-results; r.Err != nil || r.Receivers != 1 {
			t.Fatalf("publish result %+v", r)
		}
	}
	b.AppendEvent([]byte(`{"type":"join"}`))
	e := deliver(KindRoom, "lobby", "from-b")
	e.Event = []byte(`{"type":"message"}`)
	done := make(chan Result, 1)
	b.PublishAsync(e, func(r Result) { done <- r })
	if r := <-done; r.Err != nil {
		t.Fatal(r.Err)
	}

	waitFor(t, 5*time.Second, "6 events", func() bool { return a.Stats().Events == 6 })
	entries, err := a.rdb.XRange(ctx, "ws:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprint(e.Values[cluster.EventField]))
	}
	want := []string{`{"type":"message","n":0}`, `{"type":"join","n":0}`, `{"type":"message","n":1}`,
		`{"type":"join","n":1}`, `{"type":"message","n":2}`, `{"type":"join","n":2}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream holds\n%v\nwant\n%v", got, want)
	}
	if s := a.Stats(); s.Published != 3 || s.EventErrors != 0 {
		t.Fatalf("a stats %+v: events must not count as publishes", s)
	}
	if s := b.Stats(); s.Events != 0 {
		t.Fatalf("b has no stream but counted %d events", s.Events)
	}
}

// An event the stream refuses (the key holds another type) is counted as
// lost and does not fail the message's publish.
func TestEventErrorsCounted(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", func(c *Config) { c.EventsStream = "ws:events" })
	if err := m.Set("ws:events", "not a stream"); err != nil {
		t.Fatal(err)
	}
	e := deliver(KindNode, "node-a", "x")
	e.Event = []byte(`{}`)
	done := make(chan Result, 1)
	a.PublishAsync(e, func(r Result) { done <- r })
	if r := <-done; r.Err != nil {
		t.Fatalf("the message failed with its event: %v", r.Err)
	}
	a.AppendEvent([]byte(`{}`))
	waitFor(t, 5*time.Second, "2 event errors", func() bool { return a.Stats().EventErrors == 2 })
	if s := a.Stats(); s.Events != 0 || s.PublishErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}
