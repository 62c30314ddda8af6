package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// presenceFrame is a decoded presence frame.
type presenceFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	Event    string `json:"event"`
	User     string `json:"user"`
	ConnID   string `json:"conn_id"`
	ConnType string `json:"conn_type"`
}

func presenceOf(f frame) presenceFrame {
	var p presenceFrame
	_ = json.Unmarshal(f.raw, &p)
	return p
}

func isPresence(room, event, connID string) func(frame) bool {
	return func(f frame) bool {
		p := presenceOf(f)
		return p.Room == room && p.Event == event && p.ConnID == connID
	}
}

// Presence across nodes: joins and leaves reach the members on the other
// nodes, a disconnect is a leave, a room without presence sends none, and
// the connections of a SIGKILLed node produce one leave each, once, however
// many survivors reap.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{fast: true, args: []string{"--presence-rooms", "chat-*,support",
		"--history-size", "50", "--history-rooms", "chat-*"}})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	a := dial(t, n0.wsURL(), "a@n0", "ann", "user")
	b := dial(t, n1.wsURL(), "b@n1", "ben", "ai_assistant")
	a.join("chat-1")
	a.join("quiet")
	a.expect("presence", 10*time.Second, isPresence("chat-1", "join", a.connID)) // members see themselves join

	b.join("chat-1")
	f := a.expect("presence", 10*time.Second, isPresence("chat-1", "join", b.connID))
	if p := presenceOf(f); p.User != "ben" || p.ConnType != "ai_assistant" {
		t.Fatalf("presence join %s, want ben as ai_assistant", f.raw)
	}
	b.join("quiet")
	b.leave("chat-1")
	a.expect("presence", 10*time.Second, isPresence("chat-1", "leave", b.connID))
	a.noFrame("presence", 300*time.Millisecond, func(f frame) bool { return presenceOf(f).Room == "quiet" })

	// A disconnect leaves every presence room.
	b.join("chat-1")
	a.expect("presence", 10*time.Second, isPresence("chat-1", "join", b.connID))
	b.Close()
	a.expect("presence", 10*time.Second, isPresence("chat-1", "leave", b.connID))

	// Presence frames are not messages: a history room does not store them.
	a.request(map[string]any{"type": "message", "room": "chat-1", "data": "stored"}, "ack")
	var page struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := n1.getJSON("/rooms/chat-1/history", &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 || !strings.Contains(string(page.Messages[0]), `"stored"`) {
		t.Fatalf("history of chat-1 holds %s, want only the one message", page.Messages)
	}

	// A crashed node's members: one leave each, sent once by the reaper.
	v1 := dial(t, n2.wsURL(), "v1@n2", "vic", "user")
	v2 := dial(t, n2.wsURL(), "v2@n2", "val", "user")
	for _, v := range []*wsClient{v1, v2} {
		v.join("chat-1")
		a.expect("presence", 10*time.Second, isPresence("chat-1", "join", v.connID))
	}
	v2.join("support")
	watcher := dial(t, n1.wsURL(), "w@n1", "wes", "user")
	watcher.join("support")
	n2.p.signal(killSignal)
	for _, v := range []*wsClient{v1, v2} {
		a.expect("presence", 20*time.Second, isPresence("chat-1", "leave", v.connID))
	}
	watcher.expect("presence", 20*time.Second, isPresence("support", "leave", v2.connID))
	// Both survivors reap; nobody may hear a second leave.
	for _, cl := range []*wsClient{a, watcher} {
		cl.noFrame("presence", 2*fastTTL, func(f frame) bool { return presenceOf(f).Event == "leave" })
	}
}

// streamEvent is one entry of the event stream.
type streamEvent struct {
	Type     string          `json:"type"`
	TS       int64           `json:"ts"`
	NodeID   string          `json:"node_id"`
	ConnID   string          `json:"conn_id"`
	User     string          `json:"user"`
	ConnType string          `json:"conn_type"`
	Room     string          `json:"room"`
	ToUser   string          `json:"to_user"`
	Data     json.RawMessage `json:"data"`
	MsgID    string          `json:"msg_id"`
	Code     int             `json:"code"`
	Reason   string          `json:"reason"`
}

// readEvents returns the whole event stream.
func readEvents(t *testing.T, rs *redisServer) []streamEvent {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: rs.addr()})
	defer rdb.Close()
	entries, err := rdb.XRange(context.Background(), "ws:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]streamEvent, 0, len(entries))
	for _, e := range entries {
		var ev streamEvent
		raw, _ := e.Values["event"].(string)
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			t.Fatalf("entry %s: %q is not an event: %v", e.ID, raw, err)
		}
		out = append(out, ev)
	}
	return out
}

// The event stream, written by real nodes: every event type, in order per
// connection, with the message's data; a SIGKILLed node's connections get
// one disconnect each (reason "reaped"), however many survivors reap.
func TestEventStreamFromNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{fast: true, args: []string{"--events", "connect,disconnect,join,leave,message,direct"}})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	a := dial(t, n0.wsURL(), "a@n0", "ann", "user")
	b := dial(t, n1.wsURL(), "b@n1", "ben", "user")
	a.join("r1")
	b.join("r1")
	for i := range 5 {
		a.request(map[string]any{"type": "message", "room": "r1", "data": map[string]int{"n": i}}, "ack")
	}
	a.request(map[string]any{"type": "direct", "to_user": "ben", "data": "psst"}, "ack")
	a.leave("r1")
	a.Close()
	v := dial(t, n2.wsURL(), "v@n2", "vic", "user")
	v.join("r1")
	n2.p.signal(killSignal)

	var evs []streamEvent
	waitFor(t, 20*time.Second, "the events, the reaped disconnect included", func() error {
		evs = readEvents(t, c.redis)
		for _, e := range evs {
			if e.Type == "disconnect" && e.ConnID == v.connID {
				return nil
			}
		}
		return fmt.Errorf("%d events, no disconnect of %s yet", len(evs), v.connID)
	})
	time.Sleep(2 * fastTTL) // both survivors have reaped by now: no second disconnect may follow
	evs = readEvents(t, c.redis)

	var ofA []string
	disconnectsOfV := 0
	for _, e := range evs {
		if e.ConnID == a.connID {
			s := e.Type
			if e.Room != "" {
				s += " " + e.Room
			}
			if e.Type == "message" || e.Type == "direct" {
				s += " " + string(e.Data) + " " + e.ToUser
				if e.MsgID == "" {
					t.Errorf("%s event without msg_id", e.Type)
				}
			}
			if e.NodeID != "n0" || e.User != "ann" || e.ConnType != "user" || e.TS == 0 {
				t.Errorf("event of ann: %+v", e)
			}
			ofA = append(ofA, s)
		}
		if e.ConnID == v.connID && e.Type == "disconnect" {
			disconnectsOfV++
			if e.Reason != "reaped" || e.User != "vic" || e.NodeID != "n2" {
				t.Errorf("reaped disconnect %+v", e)
			}
		}
	}
	want := []string{"connect", "join r1", `message r1 {"n":0} `, `message r1 {"n":1} `, `message r1 {"n":2} `,
		`message r1 {"n":3} `, `message r1 {"n":4} `, `direct "psst" ben`, "leave r1", "disconnect"}
	if fmt.Sprint(ofA) != fmt.Sprint(want) {
		t.Fatalf("ann's events in stream order:\n%q\nwant\n%q", ofA, want)
	}
	if disconnectsOfV != 1 {
		t.Fatalf("%d disconnect events for the reaped connection, want exactly 1", disconnectsOfV)
	}
}
