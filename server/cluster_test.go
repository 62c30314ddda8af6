package server

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/internal/wstest"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/protocol"
)

const quiet = 200 * time.Millisecond

func TestRoomBroadcastAcrossNodes(t *testing.T) {
	nodes, _ := MustCluster(t, 3, nil)
	alice := MustUser(t, nodes[0], "alice")
	bob := MustUser(t, nodes[1], "bob")
	carol := MustUser(t, nodes[2], "carol") // not a member
	alice.join("lobby")
	bob.join("lobby")

	alice.send(map[string]any{"type": "message", "room": "lobby", "data": map[string]any{"text": "hi"}})
	for _, c := range []*client{alice, bob} {
		f := c.expect("message")
		if f.str("room") != "lobby" || f["data"].(map[string]any)["text"] != "hi" {
			t.Fatalf("bad frame %v", f)
		}
		from := f["from"].(map[string]any)
		if from["user"] != "alice" || from["conn_id"] != alice.connID || f.str("msg_id") == "" {
			t.Fatalf("bad from/msg_id %v", f)
		}
	}
	carol.expectNone(quiet)

	// echo:false skips the sender only.
	bob.send(map[string]any{"type": "message", "room": "lobby", "data": 1, "echo": false})
	alice.expect("message")
	bob.expectNone(quiet)
}

func TestDirectToUserOnTwoNodes(t *testing.T) {
	nodes, _ := MustCluster(t, 3, nil)
	bob1 := MustUser(t, nodes[0], "bob")
	bob2 := MustUser(t, nodes[1], "bob")
	alice := MustUser(t, nodes[2], "alice")
	alice.send(map[string]any{"type": "direct", "to_user": "bob", "data": "psst", "id": 7})
	for _, c := range []*client{bob1, bob2} {
		f := c.expect("direct")
		if f["data"] != "psst" || f["from"].(map[string]any)["user"] != "alice" {
			t.Fatalf("bad direct %v", f)
		}
	}
	// The sender's id brings an ack with the delivered frame's msg_id.
	if f := alice.expect("ack"); f["ref"] != float64(7) || f.str("msg_id") == "" {
		t.Fatalf("bad ack %v", f)
	}
	alice.expectNone(quiet)

	// To a user with no connection anywhere: an offline error frame.
	alice.send(map[string]any{"type": "direct", "to_user": "nobody", "data": 1, "id": "o1"})
	if f := alice.expect("error"); f.str("code") != "offline" || f["ref"] != "o1" || f.str("msg_id") == "" {
		t.Fatalf("bad offline error %v", f)
	}

	// To one connection: only bob2 gets it.
	alice.send(map[string]any{"type": "direct", "to_conn": bob2.connID, "data": "only you"})
	if f := bob2.expect("direct"); f["data"] != "only you" {
		t.Fatalf("bad direct %v", f)
	}
	bob1.expectNone(quiet)

	// Unknown connection: an error frame carrying the ref.
	alice.send(map[string]any{"type": "direct", "to_conn": "00000000-0000-4000-8000-000000000000", "data": 1, "id": "r1"})
	if f := alice.expect("error"); f.str("code") != "not_found" || f["ref"] != "r1" {
		t.Fatalf("bad error %v", f)
	}
}

func TestBroadcastAllWithExclude(t *testing.T) {
	nodes, _ := MustCluster(t, 2, nil)
	sys := MustDial(t, nodes[0])
	sys.send(map[string]any{"type": "auth", "token": mustToken(t, "ops", "system")})
	sys.expect("authenticated")
	a := MustUser(t, nodes[0], "a")
	b := MustUser(t, nodes[1], "b")

	sys.send(map[string]any{"type": "broadcast", "data": "all"})
	for _, c := range []*client{sys, a, b} {
		if f := c.expect("broadcast"); f["data"] != "all" {
			t.Fatalf("bad broadcast %v", f)
		}
	}
	sys.send(map[string]any{"type": "broadcast", "data": "others", "echo": false})
	a.expect("broadcast")
	b.expect("broadcast")
	sys.expectNone(quiet)

	// A user connection may not broadcast.
	a.send(map[string]any{"type": "broadcast", "data": "x"})
	if f := a.expect("error"); f.str("code") != "forbidden" {
		t.Fatalf("user broadcast: %v", f)
	}
	b.expectNone(quiet)

	// Admin broadcast with exclude.
	if code := adminJSON(t, nodes[1], "POST", "/publish", map[string]any{"all": true, "data": "adm", "exclude": a.connID}, nil); code != http.StatusAccepted {
		t.Fatalf("publish all: %d", code)
	}
	sys.expect("broadcast")
	b.expect("broadcast")
	a.expectNone(quiet)
}

func TestAdminPublishAndDisconnectAcrossNodes(t *testing.T) {
	nodes, _ := MustCluster(t, 3, nil)
	bob := MustUser(t, nodes[0], "bob")
	bob.join("ops")
	peer := MustUser(t, nodes[1], "peer")
	peer.join("ops")

	for _, body := range []map[string]any{
		{"room": "ops", "data": "r"}, {"user": "bob", "data": "u"}, {"conn_id": bob.connID, "data": "c"},
	} {
		if code := adminJSON(t, nodes[2], "POST", "/publish", body, nil); code != http.StatusAccepted {
			t.Fatalf("publish %v: %d", body, code)
		}
	}
	if f := bob.expect("message"); f["data"] != "r" || f["from"].(map[string]any)["system"] != true {
		t.Fatalf("room publish %v", f)
	}
	peer.expect("message")
	if f := bob.expect("direct"); f["data"] != "u" {
		t.Fatalf("user publish %v", f)
	}
	if f := bob.expect("direct"); f["data"] != "c" {
		t.Fatalf("conn publish %v", f)
	}
	peer.expectNone(quiet)

	var errBody map[string]map[string]string
	if code := adminJSON(t, nodes[2], "POST", "/publish", map[string]any{"room": "a:b", "data": 1}, &errBody); code != http.StatusBadRequest || errBody["error"]["code"] != "invalid_name" {
		t.Fatalf("bad room name: %d %v", code, errBody)
	}

	if code := adminJSON(t, nodes[2], "DELETE", "/connections/"+bob.connID, nil, nil); code != http.StatusAccepted {
		t.Fatalf("disconnect: %d", code)
	}
	bob.expectClose(protocol.CloseKicked)
	waitFor(t, 5*time.Second, "bob gone everywhere", func() bool {
		return adminJSON(t, nodes[1], "GET", "/connections/"+bob.connID, nil, nil) == http.StatusNotFound
	})
	var room map[string]any
	adminJSON(t, nodes[2], "GET", "/rooms/ops", nil, &room)
	if room["connections"] != 1.0 {
		t.Fatalf("room after kick: %v", room)
	}
}

// clusterStats fetches /stats from a node.
func clusterStats(t *testing.T, tn *testNode) node.ConnectionStats {
	t.Helper()
	var s node.ConnectionStats
	if code := adminJSON(t, tn, "GET", "/stats", nil, &s); code != http.StatusOK {
		t.Fatalf("stats: %d", code)
	}
	return s
}

func TestStatsAgreeOnEveryNode(t *testing.T) {
	nodes, _ := MustCluster(t, 3, nil)
	var clients []*client
	for i, user := range []string{"u1", "u2", "u2", "u3"} {
		c := MustUser(t, nodes[i%3], user)
		c.join("r1")
		clients = append(clients, c)
	}
	clients[0].join("r2")
	clients[0].send(map[string]any{"type": "message", "room": "r1", "data": 1})
	for _, c := range clients {
		c.expect("message")
	}
	want := func(s node.ConnectionStats) bool {
		return s.ActiveConnections == 4 && s.PeakConnections == 4 && s.UniqueUsers == 3 && s.Rooms == 2 &&
			s.Nodes == 3 && s.MessagesByType["message"] == 1 && s.MessagesByType["join"] == 5 && s.MessagesByType["auth"] == 4
	}
	for _, tn := range nodes {
		waitFor(t, 5*time.Second, "stats to agree", func() bool { return want(clusterStats(t, tn)) })
	}
	var nodeScope node.ConnectionStats
	adminJSON(t, nodes[0], "GET", "/stats?scope=node", nil, &nodeScope)
	if nodeScope.Scope != "node" || nodeScope.ActiveConnections != 2 {
		t.Fatalf("node scope: %+v", nodeScope)
	}
	var act node.ConnectionStats
	adminJSON(t, nodes[1], "GET", "/stats?activity=1", nil, &act)
	if len(act.Activity) != 4 {
		t.Fatalf("activity: %v", act.Activity)
	}
}

func TestCleanupAfterLeaveAndDisconnect(t *testing.T) {
	nodes, m := MustCluster(t, 2, nil)
	a := MustUser(t, nodes[0], "a")
	b := MustUser(t, nodes[1], "b")
	a.join("room1")
	b.join("room1")
	a.send(map[string]any{"type": "leave", "room": "room1"})
	a.expect("left")
	var room map[string]any
	adminJSON(t, nodes[1], "GET", "/rooms/room1", nil, &room)
	if room["connections"] != 1.0 {
		t.Fatalf("after leave: %v", room)
	}
	// a no longer receives room traffic.
	b.send(map[string]any{"type": "message", "room": "room1", "data": 1})
	b.expect("message")
	a.expectNone(quiet)

	_ = b.ws.Close()
	waitFor(t, 5*time.Second, "room1 to disappear", func() bool {
		return adminJSON(t, nodes[0], "GET", "/rooms/room1", nil, nil) == http.StatusNotFound
	})
	if code := adminJSON(t, nodes[0], "GET", "/users/b", nil, nil); code != http.StatusNotFound {
		t.Fatalf("user b still listed: %d", code)
	}
	_ = a.ws.Close()
	waitFor(t, 5*time.Second, "no connections left", func() bool { return clusterStats(t, nodes[0]).ActiveConnections == 0 })
	// Only cluster bookkeeping is left: no per-connection, user or room key.
	for _, k := range m.Keys() {
		switch k {
		case "t:peak", "t:nodes", "t:node:node-a", "t:node:node-b", "t:stats:msgs", "t:stats:counters", "t:stats:errors":
		default:
			t.Errorf("orphan key %q", k)
		}
	}
}

func TestSlowConsumerIsClosedOthersKeepReceiving(t *testing.T) {
	nodes, _ := MustCluster(t, 2, func(c *Config) {
		c.Node.SendQueueSize, c.Node.MaxQueuedBytes, c.Node.MessageRate = 64, 1<<20, -1
		// 12.8 MB through miniredis on a busy machine: a pipelined PUBLISH
		// must not time out (and be lost) for want of CPU.
		c.PubSubPublishTimeout = 30 * time.Second
	})
	fast := MustUser(t, nodes[1], "fast")
	fast.join("busy")
	slow := mustSilentMember(t, nodes[0], "slow", "busy")
	pub := MustUser(t, nodes[1], "pub")
	pub.join("busy")

	big := make([]byte, 16<<10)
	for i := range big {
		big[i] = 'x'
	}
	const n = 800 // 12.8 MB: more than the kernel buffers of a stalled reader and its queue hold
	var sent atomic.Int64
	var sendErr atomic.Value
	frame, err := json.Marshal(map[string]any{"type": "message", "room": "busy", "data": string(big), "echo": false})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < n; i++ {
			// Through the harness, which gives each write its own 10 s
			// deadline: the raw socket kept the deadline of the join's
			// write, so on a busy machine the sends stopped 10 s after the
			// join, and the test failed with the publisher's "i/o timeout".
			if err := pub.Write(websocket.TextMessage, frame); err != nil {
				sendErr.Store(err)
				return
			}
			sent.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for i := 0; i < n; {
		m, open, err := fast.NextWithin(20 * time.Second)
		if err != nil || !open {
			// Enough to tell a stopped publisher, a publish pipeline that
			// hangs, and a receiver that stalls apart.
			st := nodes[1].srv.stats.Local()
			b1, b0 := nodes[1].srv.broker.Stats(), nodes[0].srv.broker.Stats()
			t.Fatalf("fast after %d of %d messages: open %v, %v; the client wrote %d (error %v); publisher's node: "+
				"published %d, publish_failed %d, received %d, pub/sub reconnects %d; slow's node: received %d, slow_consumer %d",
				i, n, open, err, sent.Load(), sendErr.Load(), b1.Published, st.ErrorsByKind["publish_failed"], b1.Received,
				st.Counters["pubsub_reconnects_total"], b0.Received, nodes[0].srv.stats.Local().ErrorsByKind["slow_consumer"])
		}
		if decodeFrame(t, m)["type"] == "message" {
			i++
		}
	}
	waitFor(t, 10*time.Second, "slow consumer counted", func() bool {
		return nodes[0].srv.stats.Local().ErrorsByKind["slow_consumer"] == 1
	})
	waitFor(t, 10*time.Second, "slow consumer unregistered", func() bool {
		return adminJSON(t, nodes[1], "GET", "/connections/"+slow, nil, nil) == http.StatusNotFound
	})
}

// mustSilentMember joins room as user over a raw socket, then never reads
// again, like a client whose network stalled.
func mustSilentMember(t *testing.T, tn *testNode, user, room string) (connID string) {
	t.Helper()
	_, connID = mustRawMember(t, tn, user, room)
	return connID
}

// mustSilentMemberWS is mustSilentMember returning the raw socket, for
// tests that read frames themselves.
func mustSilentMemberWS(t *testing.T, tn *testNode, user, room string) *websocket.Conn {
	t.Helper()
	ws, _ := mustRawMember(t, tn, user, room)
	return ws
}

func mustRawMember(t *testing.T, tn *testNode, user, room string) (*websocket.Conn, string) {
	t.Helper()
	// Held: the harness never starts its reader, so only this test reads.
	c := wstest.MustDial(t, tn.wsURL(), wstest.Options{Hold: true, RecvBuf: 4096})
	var welcome frame
	read := func() frame {
		t.Helper()
		m, err := c.ReadOne(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return decodeFrame(t, m)
	}
	welcome = read()
	for _, req := range []map[string]any{{"type": "auth", "token": mustToken(t, user, "user")}, {"type": "join", "room": room}} {
		c.Send(req)
		if f := read(); f.str("type") == "error" {
			t.Fatalf("setup %v: %v", req, f)
		}
	}
	return c.WS(), welcome.str("conn_id")
}

func TestRedisFlushHealsByReassertion(t *testing.T) {
	nodes, m := MustCluster(t, 2, nil)
	a := MustUser(t, nodes[0], "a")
	b := MustUser(t, nodes[1], "b")
	a.join("x")
	b.join("x")
	m.FlushAll()
	waitFor(t, 5*time.Second, "state re-asserted", func() bool {
		s := clusterStats(t, nodes[0])
		return s.ActiveConnections == 2 && s.UniqueUsers == 2 && s.Rooms == 1 && s.Nodes == 2
	})
	a.send(map[string]any{"type": "message", "room": "x", "data": "after flush"})
	b.expect("message")
}

func TestDriftHealsByReassertion(t *testing.T) {
	nodes, m := MustCluster(t, 1, nil)
	a := MustUser(t, nodes[0], "a")
	a.join("x")
	// Lose part of the node's state while its heartbeat stays: only a drift
	// check can notice this.
	m.Del("t:nodeconns:node-a")
	m.SRem("t:conns", a.connID)
	m.Del("t:room:x")
	m.SRem("t:rooms", "x")
	waitFor(t, 5*time.Second, "state re-asserted after drift", func() bool {
		s := clusterStats(t, nodes[0])
		return s.ActiveConnections == 1 && s.Rooms == 1
	})
	var room map[string]any
	adminJSON(t, nodes[0], "GET", "/rooms/x", nil, &room)
	if room["connections"] != 1.0 {
		t.Fatalf("room after drift heal: %v", room)
	}
}

// TestMessagesOutReachRedis: a connection that only receives still has its
// msgs_out flushed (every outFlushEvery-th activity flush, 1 s at the test
// FlushInterval), so GET /connections/{id} on another node reports it.
func TestMessagesOutReachRedis(t *testing.T) {
	nodes, _ := MustCluster(t, 2, nil)
	alice := MustUser(t, nodes[0], "alice")
	bob := MustUser(t, nodes[1], "bob") // only receives
	alice.join("lobby")
	bob.join("lobby")
	var got struct {
		MessagesIn  int64 `json:"messages_in"`
		MessagesOut int64 `json:"messages_out"`
	}
	// First a flush that carries bob's own frames (auth, join) and their
	// replies (welcome, authenticated, joined): after it bob is not dirty.
	waitFor(t, 5*time.Second, "bob's activity flushed", func() bool {
		return adminJSON(t, nodes[0], http.MethodGet, "/connections/"+bob.connID, nil, &got) == http.StatusOK &&
			got.MessagesIn == 2 && got.MessagesOut == 3
	})
	const sent = 3
	for range sent {
		alice.send(map[string]any{"type": "message", "room": "lobby", "data": 1, "echo": false})
		bob.expect("message")
	}
	const want = sent + 3
	waitFor(t, 5*time.Second, "bob's messages_out in Redis", func() bool {
		return adminJSON(t, nodes[0], http.MethodGet, "/connections/"+bob.connID, nil, &got) == http.StatusOK &&
			got.MessagesOut >= want
	})
	if got.MessagesOut != want || got.MessagesIn != 2 {
		t.Fatalf("messages_in %d, messages_out %d; want 2 and %d", got.MessagesIn, got.MessagesOut, want)
	}
}
