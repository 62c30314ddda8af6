package integration

import (
	"fmt"
	"maps"
	"testing"
)

// TestStatsAgree: scenario 2. After known traffic and one flush interval,
// /stats answers the same exact figures on every node, and the per-node
// figures add up to them.
func TestStatsAgree(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{fast: true})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	u1a := dial(t, n0.wsURL(), "u1@n0", "u1", "user")
	u1b := dial(t, n1.wsURL(), "u1@n1", "u1", "user")
	u2 := dial(t, n1.wsURL(), "u2@n1", "u2", "user")
	u3 := dial(t, n2.wsURL(), "u3@n2", "u3", "ai_assistant")
	u4a := dial(t, n2.wsURL(), "u4@n2", "u4", "user")
	u4b := dial(t, n0.wsURL(), "u4@n0", "u4", "user")
	r1 := []*wsClient{u1a, u2, u3}
	r2 := []*wsClient{u1b, u4a, u4b}
	for _, cl := range r1 {
		cl.join("r1")
	}
	for _, cl := range r2 {
		cl.join("r2")
	}
	for i, cl := range append(append([]*wsClient{}, r1...), r2...) {
		room := "r1"
		if i >= 3 {
			room = "r2"
		}
		cl.send(map[string]any{"type": "message", "room": room, "data": cl.name})
	}
	for _, cl := range r1 {
		for _, from := range r1 {
			cl.expect("message", wait, hasData(from.name))
		}
	}
	for _, cl := range r2 {
		for _, from := range r2 {
			cl.expect("message", wait, hasData(from.name))
		}
	}
	u2.send(map[string]any{"type": "direct", "to_user": "u3", "data": "d1"})
	u2.send(map[string]any{"type": "direct", "to_conn": u4b.connID, "data": "d2"})
	u3.expect("direct", wait, hasData("d1"))
	u4b.expect("direct", wait, hasData("d2"))
	for _, cl := range []*wsClient{u1a, u2, u3} {
		cl.request(map[string]any{"type": "ping"}, "pong")
	}
	wantMsgs := map[string]int64{"auth": 6, "join": 6, "message": 6, "direct": 2, "ping": 3}
	check := func(active, peak, users, rooms int64) {
		t.Helper()
		want := statsDoc{ActiveConnections: active, PeakConnections: peak, UniqueUsers: users, Rooms: rooms, Nodes: 3}
		for _, n := range c.nodes {
			waitFor(t, wait, n.id+" /stats", func() error {
				var s statsDoc
				if err := n.getJSON("/stats", &s); err != nil {
					return err
				}
				if s.Scope != "cluster" || s.ActiveConnections != want.ActiveConnections || s.PeakConnections != want.PeakConnections ||
					s.UniqueUsers != want.UniqueUsers || s.Rooms != want.Rooms || s.Nodes != want.Nodes {
					return fmt.Errorf("got active %d peak %d users %d rooms %d nodes %d (scope %q), want %+v",
						s.ActiveConnections, s.PeakConnections, s.UniqueUsers, s.Rooms, s.Nodes, s.Scope, want)
				}
				if !maps.Equal(s.MessagesByType, wantMsgs) {
					return fmt.Errorf("messages_by_type %v, want %v", s.MessagesByType, wantMsgs)
				}
				if s.MessagesTotal != 23 {
					return fmt.Errorf("messages_total %d, want 23", s.MessagesTotal)
				}
				return nil
			})
		}
		// The node-scoped figures add up to the cluster's.
		var sumActive int64
		sumMsgs := map[string]int64{}
		for _, n := range c.nodes {
			var s statsDoc
			if err := n.getJSON("/stats?scope=node", &s); err != nil {
				t.Fatal(err)
			}
			if s.Scope != "node" || s.NodeID != n.id {
				t.Fatalf("%s /stats?scope=node answered scope %q node %q", n.id, s.Scope, s.NodeID)
			}
			sumActive += s.ActiveConnections
			for k, v := range s.MessagesByType {
				sumMsgs[k] += v
			}
		}
		if sumActive != active || !maps.Equal(sumMsgs, wantMsgs) {
			t.Fatalf("node-scoped stats add up to active %d messages %v, want %d %v", sumActive, sumMsgs, active, wantMsgs)
		}
	}
	check(6, 6, 4, 2)

	// Closing u3 (its only connection) and one of u4's two: peak stays.
	u3.Close()
	u4b.Close()
	check(4, 6, 3, 2)
	// The per-node counts in /nodes come from heartbeats (every 500ms here).
	waitFor(t, wait, "/nodes connection counts", func() error {
		var n nodesDoc
		if err := n1.getJSON("/nodes", &n); err != nil {
			return err
		}
		got := map[string]int{}
		for _, nd := range n.Nodes {
			if !nd.Alive {
				return fmt.Errorf("/nodes lists %s as dead: %+v", nd.ID, n)
			}
			got[nd.ID] = nd.Connections
		}
		if want := map[string]int{"n0": 1, "n1": 2, "n2": 1}; !maps.Equal(got, want) {
			return fmt.Errorf("/nodes connections %v, want %v", got, want)
		}
		return nil
	})
}
