package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/pubsub"
)

func withHistory(size int, rooms ...string) func(*Config) {
	return func(c *Config) { c.History = history.Config{Size: size, Rooms: rooms} }
}

// num reads a JSON number field.
func (f frame) num(k string) uint64 { v, _ := f[k].(float64); return uint64(v) }

// TestHistoryOffsetsAndRecovery: messages of a history room carry offset
// and epoch; a client that rejoins with since gets joined (recovered) and
// exactly what it missed, in order, then live messages; a join without
// since reports the position; rooms outside the patterns have no history.
func TestHistoryOffsetsAndRecovery(t *testing.T) {
	nodes, _ := MustCluster(t, 2, withHistory(50, "h.*"))
	pub := MustUser(t, nodes[0], "pub")
	pub.join("h.room")
	sub := MustUser(t, nodes[1], "sub")
	sub.send(map[string]any{"type": "join", "room": "h.room"})
	j := sub.expect("joined")
	if j["offset"] != 0.0 || j.str("epoch") != "" || j["recovered"] != nil {
		t.Fatalf("first join of an empty history room: %v", j)
	}
	var epoch string
	for i := 1; i <= 3; i++ {
		pub.send(map[string]any{"type": "message", "room": "h.room", "data": i})
		pub.expect("message")
		m := sub.expect("message")
		if m.num("offset") != uint64(i) || m.str("epoch") == "" || (epoch != "" && m.str("epoch") != epoch) {
			t.Fatalf("message %d: %v", i, m)
		}
		epoch = m.str("epoch")
	}
	// sub drops after offset 1; 4 and 5 are sent while it is away.
	sub.ws.Close()
	for i := 4; i <= 5; i++ {
		pub.send(map[string]any{"type": "message", "room": "h.room", "data": i})
		pub.expect("message")
	}
	back := MustUser(t, nodes[1], "sub")
	back.send(map[string]any{"type": "join", "room": "h.room", "id": 7, "since": map[string]any{"offset": 1, "epoch": epoch}})
	j = back.expect("joined")
	if j["recovered"] != true || j.num("offset") != 5 || j.str("epoch") != epoch || j["ref"] != 7.0 {
		t.Fatalf("rejoin: %v", j)
	}
	for want := uint64(2); want <= 5; want++ {
		if m := back.expect("message"); m.num("offset") != want || m["data"] != float64(want) {
			t.Fatalf("replay: %v, want offset %d", m, want)
		}
	}
	pub.send(map[string]any{"type": "message", "room": "h.room", "data": 6})
	if m := back.expect("message"); m.num("offset") != 6 {
		t.Fatalf("live after replay: %v", m)
	}
	back.expectNone(quiet)

	// Unknown epoch, or a position past the end: not recovered, current position.
	for _, since := range []map[string]any{{"offset": 1, "epoch": "elsewhere"}, {"offset": 99, "epoch": epoch}} {
		c := MustUser(t, nodes[0], "other")
		c.send(map[string]any{"type": "join", "room": "h.room", "since": since})
		if j := c.expect("joined"); j["recovered"] != false || j.num("offset") != 6 || j.str("epoch") != epoch {
			t.Fatalf("join since %v: %v", since, j)
		}
		c.expectNone(quiet)
	}
	// A room without history: recovered false, no position; messages plain.
	plain := MustUser(t, nodes[0], "plain")
	plain.send(map[string]any{"type": "join", "room": "nohist", "since": map[string]any{"offset": 1, "epoch": epoch}})
	if j := plain.expect("joined"); j["recovered"] != false || j["offset"] != nil {
		t.Fatalf("join of a room without history: %v", j)
	}
	plain.send(map[string]any{"type": "message", "room": "nohist", "data": 1})
	if m := plain.expect("message"); m["offset"] != nil {
		t.Fatalf("message of a room without history carries %v", m["offset"])
	}
}

// TestHistoryFrame: members read the newest messages or those after a
// position; limits are clipped; non-members and bad input get error frames
// and keep their connection.
func TestHistoryFrame(t *testing.T) {
	nodes, _ := MustCluster(t, 1, withHistory(3))
	c := MustUser(t, nodes[0], "reader")
	c.join("r")
	var epoch string
	for i := 1; i <= 5; i++ {
		c.send(map[string]any{"type": "message", "room": "r", "data": i})
		epoch = c.expect("message").str("epoch")
	}
	c.send(map[string]any{"type": "message", "room": "r", "data": 6, "id": "m6"})
	m, a := c.expectEither("message", "ack")
	if m.num("offset") != 6 {
		t.Fatalf("message 6: %v", m)
	}
	if a["ref"] != "m6" || a.num("offset") != 6 || a.str("epoch") != epoch {
		t.Fatalf("ack in a history room: %v", a)
	}
	c.send(map[string]any{"type": "history", "room": "r", "limit": 100, "id": "h1"})
	h := c.expect("history")
	msgs, _ := h["messages"].([]any)
	if h.num("offset") != 6 || h.str("epoch") != epoch || len(msgs) != 3 || h["ref"] != "h1" {
		t.Fatalf("history limit 100 (size 3): %v", h)
	}
	if first := msgs[0].(map[string]any); first["offset"] != 4.0 || first["type"] != "message" {
		t.Fatalf("oldest of the three: %v", first)
	}
	c.send(map[string]any{"type": "history", "room": "r", "since": map[string]any{"offset": 3, "epoch": epoch}})
	h = c.expect("history")
	if msgs, _ := h["messages"].([]any); h["recovered"] != true || len(msgs) != 3 {
		t.Fatalf("history since 3: %v", h)
	}
	for _, bad := range []map[string]any{
		{"type": "history", "room": "r", "since": map[string]any{"offset": -1, "epoch": epoch}},
		{"type": "history", "room": "r", "since": map[string]any{"offset": 1.5, "epoch": epoch}},
		{"type": "history", "room": "r", "since": map[string]any{"offset": 1, "epoch": "bad epoch!"}},
		{"type": "history", "room": "r", "since": "yesterday"},
		{"type": "history", "room": "r", "limit": -1},
		{"type": "join", "room": "r2", "since": map[string]any{"epoch": epoch}},
	} {
		c.send(bad)
		if e := c.expect("error"); e.str("code") != "bad_request" {
			t.Fatalf("%v: %v", bad, e)
		}
	}
	c.send(map[string]any{"type": "history", "room": "elsewhere"})
	if e := c.expect("error"); e.str("code") != "not_member" {
		t.Fatalf("history of a room not joined: %v", e)
	}
	c.send(map[string]any{"type": "ping"})
	c.expect("pong") // still connected
}

// TestHistoryGapRepair: a node that missed messages of a history room (here
// stored without being published, as when its pub/sub connection was down)
// notices the gap at the next live message, reads the missing ones from the
// stream and delivers everything once, in order.
func TestHistoryGapRepair(t *testing.T) {
	nodes, _ := MustCluster(t, 1, withHistory(20))
	srv := nodes[0].srv
	c := MustUser(t, nodes[0], "member")
	c.join("g")
	c.send(map[string]any{"type": "message", "room": "g", "data": 1})
	c.expect("message")
	ch := srv.broker.Channel(pubsub.KindRoom, "g")
	for i := 2; i <= 3; i++ { // stored, published to a channel nobody hears
		body := pubsub.Encode(pubsub.Envelope{Op: pubsub.OpDeliver, Payload: []byte(fmt.Sprintf(`{"type":"message","room":"g","data":%d}`, i))})
		if _, err := srv.history.Publish(context.Background(), "g", ch+"-nobody", body); err != nil {
			t.Fatal(err)
		}
	}
	c.send(map[string]any{"type": "message", "room": "g", "data": 4})
	for want := uint64(2); want <= 4; want++ {
		if m := c.expect("message"); m.num("offset") != want || m["data"] != float64(want) {
			t.Fatalf("after the gap: %v, want offset %d", m, want)
		}
	}
	c.expectNone(quiet)
	// 2, 3 and 4 were read back (4 had been stored by then); the live 4
	// that arrived meanwhile was held and dropped as already delivered.
	if n := srv.node.LocalStats().Counters["history_repaired_total"]; n != 3 {
		t.Fatalf("history_repaired_total = %d, want 3", n)
	}
}

// TestAdminHistory: GET /rooms/{room}/history reads what the history frame
// reads; bad parameters are 400, a room without history an empty page.
func TestAdminHistory(t *testing.T) {
	nodes, _ := MustCluster(t, 1, withHistory(10, "h.*"))
	c := MustUser(t, nodes[0], "w")
	c.join("h.a")
	for i := 1; i <= 4; i++ {
		c.send(map[string]any{"type": "message", "room": "h.a", "data": i})
		c.expect("message")
	}
	var page struct {
		Messages  []map[string]any `json:"messages"`
		Offset    uint64           `json:"offset"`
		Epoch     string           `json:"epoch"`
		Recovered *bool            `json:"recovered"`
	}
	if st := adminJSON(t, nodes[0], "GET", "/rooms/h.a/history?limit=2", nil, &page); st != 200 || len(page.Messages) != 2 || page.Offset != 4 || page.Messages[1]["offset"] != 4.0 {
		t.Fatalf("limit 2: %d %+v", st, page)
	}
	epoch := page.Epoch
	page.Messages = nil
	if st := adminJSON(t, nodes[0], "GET", "/rooms/h.a/history?since=1&epoch="+epoch, nil, &page); st != 200 || len(page.Messages) != 3 || page.Recovered == nil || !*page.Recovered {
		t.Fatalf("since 1: %d %+v", st, page)
	}
	page.Messages, page.Offset = nil, 0
	if st := adminJSON(t, nodes[0], "GET", "/rooms/plain/history", nil, &page); st != 200 || len(page.Messages) != 0 || page.Offset != 0 {
		t.Fatalf("room without history: %d %+v", st, page)
	}
	for _, q := range []string{"?limit=-1", "?limit=x", "?since=1", "?since=-1&epoch=" + epoch, "?since=1&epoch=bad!"} {
		if st := adminJSON(t, nodes[0], "GET", "/rooms/h.a/history"+q, nil, nil); st != 400 {
			t.Errorf("%s: status %d, want 400", q, st)
		}
	}
	if st := adminJSON(t, nodes[0], "GET", "/rooms/a%2Fb/history", nil, nil); st != 400 {
		t.Errorf("invalid room name: status %d, want 400", st)
	}
}
