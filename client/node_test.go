package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/client"
	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/internal/wstest"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/server"
)

const secret = "client-test-secret"

// startNodes runs n in-process nodes on one miniredis.
func startNodes(t *testing.T, n int, tune func(*server.Config)) ([]*wstest.Node, []*server.Server) {
	t.Helper()
	var srvs []*server.Server
	nodes, _ := wstest.Cluster(t, n, func(tb testing.TB, id, addr string) *wstest.Node {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		tb.Cleanup(func() { _ = rdb.Close() })
		v, err := auth.NewVerifier(0, secret)
		if err != nil {
			tb.Fatal(err)
		}
		cfg := server.Config{
			Node: node.Config{NodeID: id, Verifier: v, HeartbeatInterval: 100 * time.Millisecond,
				ReapInterval: 100 * time.Millisecond, FlushInterval: 100 * time.Millisecond},
			Prefix: "ct", Logger: slog.New(slog.DiscardHandler),
		}
		if tune != nil {
			tune(&cfg)
		}
		srv, err := server.New(rdb, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		srvs = append(srvs, srv)
		return wstest.Serve(tb, id, srv, func() bool { return srv.Ready() == nil })
	})
	return nodes, srvs
}

func token(t *testing.T, user, typ string) string {
	t.Helper()
	v, err := auth.NewVerifier(0, secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Mint(user, typ, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func dial(t *testing.T, url, user, typ string, cfg client.Config) *client.Client {
	t.Helper()
	if user != "" {
		cfg.Token = token(t, user, typ)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, cfg)
	if err != nil {
		t.Fatalf("dial as %q: %v", user, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func recv(t *testing.T, ch <-chan client.Frame, what string) client.Frame {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
	return client.Frame{}
}

// TestNodeHappyPath: two clients on two nodes: join, publish (ack), room
// message, direct (ack, and offline as *Error), ping, broadcast by a
// system connection, Leave.
func TestNodeHappyPath(t *testing.T) {
	nodes, _ := startNodes(t, 2, nil)
	ctx := context.Background()
	directs, bcasts := make(chan client.Frame, 4), make(chan client.Frame, 4)
	alice := dial(t, nodes[0].WSURL(), "alice", "user", client.Config{OnBroadcast: func(f client.Frame) { bcasts <- f }})
	bob := dial(t, nodes[1].WSURL(), "bob", "ai_assistant", client.Config{OnDirect: func(f client.Frame) { directs <- f }})
	if s := bob.Session(); s.User != "bob" || s.ConnType != "ai_assistant" || s.NodeID != "node-b" || s.ConnID == "" || s.PingInterval <= 0 {
		t.Fatalf("bob's session %+v", s)
	}
	msgs := make(chan client.Frame, 4)
	if _, err := alice.Room("lobby", client.RoomOptions{}).Join(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Room("lobby", client.RoomOptions{OnMessage: func(f client.Frame) { msgs <- f }}).Join(ctx); err != nil {
		t.Fatal(err)
	}
	ack, err := alice.Room("lobby", client.RoomOptions{}).Publish(ctx, map[string]string{"text": "hi"}, client.NoEcho())
	if err != nil || ack.Type != "ack" || ack.MsgID == "" {
		t.Fatalf("publish: %+v %v", ack, err)
	}
	m := recv(t, msgs, "room message")
	var data struct{ Text string }
	if err := m.DecodeData(&data); err != nil || data.Text != "hi" || m.From.User != "alice" || m.MsgID != ack.MsgID {
		t.Fatalf("message %s (ack %s)", m.Raw, ack.Raw)
	}

	if ack, err := alice.Direct(ctx, client.Target{User: "bob"}, "psst"); err != nil || ack.Type != "ack" {
		t.Fatalf("direct: %+v %v", ack, err)
	}
	if d := recv(t, directs, "direct"); string(d.Data) != `"psst"` || d.From.User != "alice" {
		t.Fatalf("direct %s", d.Raw)
	}
	var e *client.Error
	if _, err := alice.Direct(ctx, client.Target{User: "nobody"}, 1); !errors.As(err, &e) || e.Code != "offline" {
		t.Fatalf("direct to nobody: %v", err)
	}
	if p, err := bob.Ping(ctx); err != nil || p.Type != "pong" || p.TS == 0 {
		t.Fatalf("ping: %+v %v", p, err)
	}
	if _, err := bob.Broadcast(ctx, "x"); !errors.As(err, &e) || e.Code != "forbidden" {
		t.Fatalf("broadcast by a user: %v", err)
	}
	sys := dial(t, nodes[1].WSURL(), "ops", "system", client.Config{})
	if _, err := sys.Broadcast(ctx, "all", client.NoEcho()); err != nil {
		t.Fatal(err)
	}
	if b := recv(t, bcasts, "broadcast"); string(b.Data) != `"all"` {
		t.Fatalf("broadcast %s", b.Raw)
	}
	if err := bob.Room("lobby", client.RoomOptions{}).Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Room("lobby", client.RoomOptions{}).Publish(ctx, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-msgs:
		t.Fatalf("message after Leave: %s", f.Raw)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestNodeRecoveryAfterKick: a client kicked by the admin API (4006)
// reconnects with backoff, rejoins its history room with since, is told
// Recovered and gets what it missed once, in order, then live messages.
func TestNodeRecoveryAfterKick(t *testing.T) {
	nodes, _ := startNodes(t, 1, func(c *server.Config) { c.History = history.Config{Size: 50} })
	ctx := context.Background()
	msgs, joined := make(chan client.Frame, 32), make(chan client.Frame, 4)
	missed := make(chan client.Missed, 4)
	states := make(chan client.StateEvent, 32)
	rx := dial(t, nodes[0].WSURL(), "rx", "user", client.Config{
		Backoff:     client.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		OnState:     func(e client.StateEvent) { states <- e },
		StableAfter: time.Hour,
	})
	room := rx.Room("h", client.RoomOptions{
		OnMessage: func(f client.Frame) { msgs <- f },
		OnJoined:  func(f client.Frame) { joined <- f },
		OnMissed:  func(m client.Missed) { missed <- m },
	})
	if _, err := room.Join(ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, joined, "first joined")
	tx := dial(t, nodes[0].WSURL(), "tx", "user", client.Config{})
	pub := tx.Room("h", client.RoomOptions{})
	if _, err := pub.Join(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(i int) {
		t.Helper()
		if ack, err := pub.Publish(ctx, i, client.NoEcho()); err != nil || ack.Offset != uint64(i) {
			t.Fatalf("publish %d: %+v %v", i, ack, err)
		}
	}
	for i := 1; i <= 2; i++ {
		publish(i)
		if m := recv(t, msgs, "live message"); m.Offset != uint64(i) {
			t.Fatalf("live %s", m.Raw)
		}
	}
	// Kick rx and publish while it is away: the node is the only writer of
	// the positions, so 3..5 are what rx missed.
	connID := rx.Session().ConnID
	req, _ := http.NewRequest(http.MethodDelete, nodes[0].Admin.URL+"/connections/"+connID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE /connections: %v %v", resp, err)
	}
	_ = resp.Body.Close() // 4006 by default
	for e := range states {
		if e.State == client.StateDisconnected {
			if e.Code != 4006 {
				t.Fatalf("disconnected %+v", e)
			}
			break
		}
	}
	for i := 3; i <= 5; i++ {
		publish(i)
	}
	j := recv(t, joined, "rejoined")
	if j.Recovered == nil || !*j.Recovered {
		t.Fatalf("rejoin not recovered: %s", j.Raw)
	}
	publish(6)
	for want := uint64(3); want <= 6; want++ {
		if m := recv(t, msgs, "replayed message"); m.Offset != want {
			t.Fatalf("got %s, want offset %d", m.Raw, want)
		}
	}
	if rx.Session().ConnID == connID || room.Duplicates() != 0 || len(missed) != 0 {
		t.Fatalf("conn %s, duplicates %d, missed %d", rx.Session().ConnID, room.Duplicates(), len(missed))
	}
}

// TestNodeAuthFailedStops: a token the node rejects stops the client with
// 4500, without retrying.
func TestNodeAuthFailedStops(t *testing.T) {
	nodes, _ := startNodes(t, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, nodes[0].WSURL(), client.Config{Token: "not-a-jwt"})
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 4500 {
		t.Fatalf("Dial with a bad token: %v, want *CloseError 4500", err)
	}
	// A bad bearer header is refused before the upgrade: 401 stops too.
	_, err = client.Dial(ctx, nodes[0].WSURL(), client.Config{Header: http.Header{"Authorization": {"Bearer nope"}}})
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("Dial with a bad bearer header: %v, want *CloseError status 401", err)
	}
}
