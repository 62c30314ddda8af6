package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/protocol"
)

func badFrameRows() []badRow {
	deep := func(n int, open, close string) string {
		return `{"type":"ping","data":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`
	}
	malformed := []struct{ frame, msg string }{
		{``, "not a valid JSON object"},
		{`not json`, "not a valid JSON object"},
		{`{"type":"ping"`, "not a valid JSON object"}, // truncated
		{`{"type":"join","room":"lob`, "not a valid JSON object"},
		{`{"type":"ping"}}`, "not a valid JSON object"},
		{`null`, "not a valid JSON object"},
		{`{}`, `missing "type"`},
		{`[]`, "not a valid JSON object"},
		{`"ping"`, "not a valid JSON object"},
		{`12`, "not a valid JSON object"},
		{`{"type":5}`, `field "type" has the wrong type`},
		{`{"type":"join","room":["lobby"]}`, `field "room" has the wrong type`},
		{`{"type":"message","room":"lobby","echo":"no"}`, `field "echo" has the wrong type`},
		{`{"type":"direct","to_user":{"a":1}}`, `field "to_user" has the wrong type`},
		{`{"type":"ping","id":{"a":1}}`, `"id" must be`},
		{`{"type":"ping","id":true}`, `"id" must be`},
		{`{"type":"ping","id":"` + strings.Repeat("x", 200) + `"}`, `"id" must be`},
		{deep(20000, "[", "]"), "not a valid JSON object"}, // deeper than encoding/json allows
		{deep(10500, `{"a":`, "}"), "not a valid JSON object"},
		{`{"type":"direct","to_user":"bob","to_conn":"x","data":1}`, `exactly one of`},
		{`{"type":"direct","data":1}`, `exactly one of`},
	}
	return []badRow{
		{name: "frame at the size limit passes, one byte more closes 1009",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "gus", "user")
				limit := int(e.node().srv.node.Config().MaxMessageSize)
				if limit != 64<<10 {
					t.Fatalf("default MaxMessageSize %d, want 64 KiB", limit)
				}
				frame := func(size int) []byte {
					head, tail := `{"type":"ping","id":"big","data":"`, `"}`
					return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
				}
				c.sendRaw(websocket.TextMessage, frame(limit))
				c.expect("pong")
				c.sendRaw(websocket.TextMessage, frame(limit+1))
				c.expectClose(protocol.CloseTooBig)
				e.noTraces(c.id)
			}},
		{name: "invalid UTF-8 closes 1007",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "hal", "user")
				c.sendRaw(websocket.TextMessage, []byte("{\"type\":\"ping\",\"data\":\"\xff\xfe\"}"))
				c.expectClose(protocol.CloseInvalidUTF8)
				e.noTraces(c.id)
			}},
		{name: "malformed, truncated, deeply nested and wrong-typed JSON get error frames and the connection stays",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "ida", "user")
				c.send(map[string]any{"type": "join", "room": "lobby"})
				c.expect("joined")
				for _, m := range malformed {
					c.sendRaw(websocket.TextMessage, []byte(m.frame))
					f := c.expectError("bad_request")
					if !strings.Contains(f.Message, m.msg) {
						t.Errorf("frame %.40q: message %q, want it to contain %q", m.frame, f.Message, m.msg)
					}
					c.alive()
				}
				// Deep but within encoding/json's limit is just data.
				c.sendRaw(websocket.TextMessage, []byte(deep(5000, "[", "]")))
				c.expect("pong")
				c.sendRaw(websocket.BinaryMessage, []byte(`{"type":"ping"}`))
				c.expectError("unsupported_frame")
				c.alive()
			}},
		{name: "unknown type gets unknown_type with the ref",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "jo", "user")
				for _, typ := range []string{"subscribe", "PING", "", "error", "welcome", "authenticated", "\u0000"} {
					c.send(map[string]any{"type": typ, "id": "q-" + typ})
					want := "unknown_type"
					if typ == "" {
						want = "bad_request"
					}
					f := c.expectError(want)
					var ref string
					if want == "unknown_type" && (json.Unmarshal(f.Ref, &ref) != nil || ref != "q-"+typ) {
						t.Errorf("ref %s for type %q", f.Ref, typ)
					}
					c.alive()
				}
			}},
		{name: "repeated bad frames close 1008 after max strikes",
			tune: func(c *Config) { c.Node.MaxStrikes = 3 },
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "kai", "user")
				for range 4 {
					c.sendRaw(websocket.TextMessage, []byte(`{`))
				}
				skipped := c.expectClose(protocol.ClosePolicy)
				if len(skipped) != 4 {
					t.Errorf("got %d frames before the close, want 4 error frames: %v", len(skipped), skipped)
				}
				e.noTraces(c.id)
			}},
		{name: "bad names get invalid_name naming the rule and create no key",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "lea", "user")
				long := strings.Repeat("r", 129)
				bad := map[string]string{
					"":              "must be 1-128 characters",
					long:            "must be 1-128 characters",
					"a\x01b":        "may contain only",
					"a\nb":          "may contain only",
					"a\x7fb":        "may contain only",
					"a*":            "may contain only",
					"a?b":           "may contain only",
					"[ab]":          "may contain only",
					"a:b":           "may contain only",
					"a b":           "may contain only",
					"{a}":           "may contain only",
					"a/b":           "may contain only",
					"\u00e9t\u00e9": "may contain only",
				}
				for name, rule := range bad {
					c.send(map[string]any{"type": "join", "room": name, "id": 7})
					f := c.expectError("invalid_name")
					if !strings.Contains(f.Message, "room name: "+rule) || string(f.Ref) != "7" {
						t.Errorf("join %q: %s, want rule %q", name, f.raw, rule)
					}
					c.send(map[string]any{"type": "direct", "to_user": name, "data": 1})
					if name == "" { // empty to_user means "not given"
						c.expectError("bad_request")
					} else if f := c.expectError("invalid_name"); !strings.Contains(f.Message, "user name: "+rule) {
						t.Errorf("direct to %q: %s, want rule %q", name, f.raw, rule)
					}
					c.alive()
				}
				c.send(map[string]any{"type": "direct", "to_conn": "a:b", "data": 1})
				c.expectError("not_found")
				ok := strings.Repeat("r", 128)
				c.send(map[string]any{"type": "join", "room": ok})
				c.expect("joined")
				for _, k := range e.mr.Keys() {
					if strings.HasPrefix(k, badPrefix+":room:") && k != badPrefix+":room:"+ok {
						t.Errorf("unexpected room key %q", k)
					}
				}
			}},
		{name: "guests may do nothing by default",
			run: func(t *testing.T, e *badEnv) {
				c := e.connect(e.node(), nil)
				for _, req := range []map[string]any{
					{"type": "join", "room": "lobby"}, {"type": "leave", "room": "lobby"},
					{"type": "message", "room": "lobby", "data": 1}, {"type": "direct", "to_user": "bob", "data": 1},
					{"type": "broadcast", "data": 1},
				} {
					c.send(req)
					c.expectError("unauthorized")
				}
				c.alive()
				if e.mr.Exists(badPrefix + ":room:lobby") {
					t.Error("a guest created a room")
				}
			}},
		{name: "only system connections may broadcast",
			run: func(t *testing.T, e *badEnv) {
				u := e.user(e.node(), "uma", "user")
				ai := e.user(e.node(), "bot", "ai_assistant")
				sys := e.user(e.node(), "ops", "system")
				for _, c := range []*badConn{u, ai} {
					c.send(map[string]any{"type": "broadcast", "data": 1})
					c.expectError("forbidden")
					c.send(map[string]any{"type": "join", "room": "lobby"})
					c.expect("joined")
				}
				for _, c := range []*badConn{u, ai} {
					c.send(map[string]any{"type": "message", "room": "lobby", "data": 1, "echo": false})
				}
				u.expect("message")  // from ai
				ai.expect("message") // from u
				u.send(map[string]any{"type": "message", "room": "elsewhere", "data": 1})
				u.expectError("not_member")
				sys.send(map[string]any{"type": "broadcast", "data": "all"})
				for _, c := range []*badConn{u, ai, sys} {
					c.expect("broadcast")
				}
			}},
	}
}

func badLimitRows() []badRow {
	return []badRow{
		{name: "flood over the rate gets rate_limited frames, then close 4002; others unaffected",
			tune: func(c *Config) { c.Node.MessageRate, c.Node.MessageBurst, c.Node.MaxStrikes = 5, 5, 5 },
			run: func(t *testing.T, e *badEnv) {
				other := e.user(e.node(), "calm", "user")
				c := e.user(e.node(), "flood", "user")
				for range 40 {
					if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
						break
					}
				}
				frames := c.expectClose(protocol.CloseRateLimited)
				pongs, limited := 0, 0
				for _, f := range frames {
					switch {
					case f.Type == "pong":
						pongs++
					case f.Type == "error" && f.Code == "rate_limited":
						limited++
					default:
						t.Errorf("unexpected frame %s", f.raw)
					}
				}
				if pongs == 0 || limited < 5 {
					t.Errorf("%d pongs and %d rate_limited frames, want some pongs, then >= 5 rate_limited", pongs, limited)
				}
				other.alive()
				e.noTraces(c.id)
			}},
		{name: "rooms over the cap get room_limit and the connection stays",
			tune: func(c *Config) { c.Node.MaxRoomsPerConn = 3 },
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "max", "user")
				for _, r := range []string{"r1", "r2", "r3", "r2"} { // re-joining is free
					c.send(map[string]any{"type": "join", "room": r})
					c.expect("joined")
				}
				c.send(map[string]any{"type": "join", "room": "r4"})
				c.expectError("room_limit")
				if e.mr.Exists(badPrefix + ":room:r4") {
					t.Error("room over the cap reached Redis")
				}
				c.send(map[string]any{"type": "leave", "room": "r1"})
				c.expect("left")
				c.send(map[string]any{"type": "join", "room": "r4"})
				c.expect("joined")
				if m, _ := e.mr.Members(badPrefix + ":connrooms:" + c.id); !slices.Equal(badSorted(m), []string{"r2", "r3", "r4"}) {
					t.Errorf("rooms in Redis %v", m)
				}
			}},
		{name: "one connection over the per-user limit closes 4007 (retry with backoff)",
			tune: func(c *Config) { c.MaxConnsPerUser = 2 },
			run: func(t *testing.T, e *badEnv) {
				a, b := e.user(e.node(), "ned", "user"), e.user(e.node(), "ned", "user")
				c := e.connect(e.node(), nil)
				c.send(map[string]any{"type": "auth", "token": e.token("ned", "user", time.Hour)})
				c.expectError("connection_limit")
				c.expectClose(protocol.CloseUserLimit)
				e.noTraces(c.id)
				if m, _ := e.mr.Members(badPrefix + ":user:ned"); !slices.Equal(badSorted(m), badSorted([]string{a.id, b.id})) {
					t.Errorf("user set %v, want %v", m, []string{a.id, b.id})
				}
				_ = a.ws.Close()
				e.noTraces(a.id)
				e.user(e.node(), "ned", "user").alive() // the count went down again
				b.alive()
			}},
		{name: "the per-user limit is cluster-wide",
			tune: func(c *Config) { c.MaxConnsPerUser = 2 },
			run: func(t *testing.T, e *badEnv) {
				second := e.addNode("bad-2")
				e.baseline = e.snapshot()
				e.user(e.node(), "ola", "user")
				e.user(second, "ola", "user")
				for _, n := range []*badNode{e.node(), second} {
					c := e.connect(n, nil)
					c.send(map[string]any{"type": "auth", "token": e.token("ola", "user", time.Hour)})
					c.expectError("connection_limit")
					c.expectClose(protocol.CloseUserLimit)
					e.noTraces(c.id)
				}
			}},
		{name: "a client that never reads is closed 4001 while another keeps receiving",
			tune: func(c *Config) {
				c.Node.SendQueueSize, c.Node.MessageRate = 64, -1 // MaxQueuedBytes: the default
				// The silent client sends no pongs: on a busy machine filling
				// its socket and queue can take longer than the rows' 2+2 s
				// ping deadline, which would close it 4004 first.
				c.Node.PingInterval = time.Minute
			},
			run: func(t *testing.T, e *badEnv) {
				fast := e.user(e.node(), "fast", "user")
				fast.send(map[string]any{"type": "join", "room": "feed"})
				fast.expect("joined")
				slow := badSilentMember(t, e, "slow", "feed")
				pad := strings.Repeat("x", 16<<10)
				got := 0
				next := func() {
					f := fast.expect("message")
					var d struct{ Seq int }
					if err := json.Unmarshal(f.Data, &d); err != nil || d.Seq != got {
						t.Fatalf("fast client got seq %d (%v), want %d", d.Seq, err, got)
					}
					got++
				}
				// At most ahead messages in flight past what the fast client
				// has read, a quarter of its queue (64 frames): on a busy
				// machine its reader may run slower than any fixed rate.
				const ahead = 16
				sent := 0
				for ; sent < 3000; sent++ {
					if sent >= 50 && e.node().srv.stats.Local().ErrorsByKind["slow_consumer"] > 0 {
						break
					}
					for sent-got >= ahead {
						next()
					}
					data, _ := json.Marshal(map[string]any{"seq": sent, "pad": pad})
					if err := e.node().srv.node.BroadcastRoom(context.Background(), "feed", data, ""); err != nil {
						t.Fatal(err)
					}
				}
				for got < sent {
					next()
				}
				if code := e.closeCode(slow); code != fmt.Sprint(protocol.CloseSlowConsumer) {
					t.Errorf("slow client closed with %s, want %d", code, protocol.CloseSlowConsumer)
				}
				if got := e.node().srv.stats.Local().ErrorsByKind["slow_consumer"]; got != 1 {
					t.Errorf("slow_consumer count %d, want 1", got)
				}
				e.noTraces(slow)
				fast.alive()
			}},
	}
}
