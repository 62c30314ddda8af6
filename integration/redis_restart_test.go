package integration

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestRedisRestart: scenario 5, at default timings. redis-server is
// SIGKILLed and a fresh, empty one starts on the same port. Within 5 s of
// it answering PING every node is ready, has re-asserted its own
// connections, users and rooms, and routes room and direct messages
// again. The outage shows in each node's metrics and node-scoped stats.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	a0 := dial(t, n0.wsURL(), "a@n0", "a", "user")
	a1 := dial(t, n1.wsURL(), "a@n1", "a", "user")
	b := dial(t, n1.wsURL(), "b@n1", "b", "user")
	cc := dial(t, n2.wsURL(), "c@n2", "c", "user")
	all := []*wsClient{a0, a1, b, cc}
	for _, cl := range all {
		cl.join("rr")
	}
	cc.join("solo")

	c.redis.p.kill()
	// While Redis is down: sends that need Redis get an error frame, the
	// sockets stay open, and the nodes report not ready.
	a0.send(map[string]any{"type": "message", "room": "rr", "data": "lost", "id": "m1"})
	if f := a0.expect("error", wait, nil); f.Code != "unavailable" || string(f.Ref) != `"m1"` {
		t.Fatalf("send during the outage answered %s, want code unavailable with ref m1", f.raw)
	}
	for _, n := range c.nodes {
		waitFor(t, 15*time.Second, n.id+" /readyz 503 during the outage", func() error { return wantStatus(n, "/readyz", 503) })
	}

	c.redis = startRedis(t, c.redis.port) // fresh and empty, same port
	back := time.Now()
	ids := map[string]*wsClient{}
	for _, cl := range all {
		ids[cl.connID] = cl
	}
	wantRoom := []string{a0.connID, a1.connID, b.connID, cc.connID}
	slices.Sort(wantRoom)
	err := poll(5*time.Second, func() error {
		var errs []error
		for _, n := range c.nodes {
			errs = append(errs, wantStatus(n, "/readyz", 200))
			for id, cl := range ids {
				var cd connDoc
				if err := n.getJSON("/connections/"+id, &cd); err != nil {
					errs = append(errs, err)
					continue
				}
				wantRooms := []string{"rr"}
				if cl == cc {
					wantRooms = []string{"rr", "solo"}
				}
				if cd.NodeID != cl.nodeID || cd.User != cl.user || !slices.Equal(cd.Rooms, wantRooms) {
					errs = append(errs, fmt.Errorf("%s /connections/%s = %+v, want node %s user %s rooms %v", n.id, id, cd, cl.nodeID, cl.user, wantRooms))
				}
			}
			var u userDoc
			if err := n.getJSON("/users/a", &u); err != nil || len(u.Conns) != 2 {
				errs = append(errs, fmt.Errorf("%s /users/a = %+v (%v), want 2 connections", n.id, u, err))
			}
			var r roomDoc
			if err := n.getJSON("/rooms/rr", &r); err != nil || !slices.Equal(r.ConnIDs, wantRoom) {
				errs = append(errs, fmt.Errorf("%s /rooms/rr = %+v (%v), want %v", n.id, r.ConnIDs, err, wantRoom))
			}
			var s statsDoc
			if err := n.getJSON("/stats", &s); err != nil || s.ActiveConnections != 4 || s.UniqueUsers != 3 || s.Rooms != 2 || s.Nodes != 3 || s.PeakConnections < 4 {
				errs = append(errs, fmt.Errorf("%s /stats = %+v (%v), want 4 connections (peak >= 4), 3 users, 2 rooms, 3 nodes", n.id, s, err))
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("5 s after Redis came back: %v", err)
	}
	t.Logf("registry restored %s after Redis came back", time.Since(back).Round(10*time.Millisecond))

	// Messages flow again across nodes; the first probes may fall into the
	// resubscription window (at most once delivery), so probe until one
	// arrives everywhere, within the same 5 s.
	probe := 0
	err = poll(5*time.Second-time.Since(back), func() error {
		probe++
		data := fmt.Sprintf("probe %d", probe)
		cc.send(map[string]any{"type": "message", "room": "rr", "data": data})
		for _, cl := range all {
			if _, err := cl.next("message", 300*time.Millisecond, hasData(data)); err != nil {
				return err
			}
		}
		cc.send(map[string]any{"type": "direct", "to_user": "a", "data": data})
		for _, cl := range []*wsClient{a0, a1} {
			if _, err := cl.next("direct", 300*time.Millisecond, hasData(data)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no room and direct delivery across nodes within 5 s of Redis coming back: %v", err)
	}
	t.Logf("routing restored %s after Redis came back (%d probes)", time.Since(back).Round(10*time.Millisecond), probe)

	// The outage is visible, never silent.
	for _, n := range c.nodes {
		v, err := n.metric("wsnode_pubsub_reconnects_total")
		if err != nil || v < 1 {
			t.Errorf("%s wsnode_pubsub_reconnects_total = %v (%v), want >= 1", n.id, v, err)
		}
		var s statsDoc
		if err := n.getJSON("/stats?scope=node", &s); err != nil {
			t.Fatal(err)
		}
		if s.Counters["pubsub_reconnects_total"] < 1 || s.Counters["reasserts_total"] < 2 {
			t.Errorf("%s node counters %v: want pubsub_reconnects_total >= 1 and reasserts_total >= 2", n.id, s.Counters)
		}
	}
	if v, err := n0.metric(`wsnode_errors_total{kind="publish_failed"}`); err != nil || v < 1 {
		t.Errorf(`n0 wsnode_errors_total{kind="publish_failed"} = %v (%v), want >= 1`, v, err)
	}
	// The counters that could not be flushed during the outage reach the
	// new Redis: the failed publish shows in the cluster-wide stats too.
	waitFor(t, wait, "the failed publish in the cluster /stats", func() error {
		var s statsDoc
		if err := n2.getJSON("/stats", &s); err != nil {
			return err
		}
		if s.ErrorsByKind["publish_failed"] < 1 {
			return fmt.Errorf("cluster errors_by_kind = %v, want publish_failed >= 1", s.ErrorsByKind)
		}
		return nil
	})
	for _, cl := range all {
		select {
		case <-cl.Done():
			code, _ := cl.closeCode()
			t.Errorf("%s was closed (code %d) by the outage; the chosen behaviour keeps sockets open", cl.name, code)
		default:
		}
	}
}
