package integration

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestNodeCrash: scenario 3, at the default timings (heartbeat 2 s, TTL
// 6 s, reap every 2 s). A SIGKILLed node's connections, users and room
// memberships disappear from every survivor's view within 10 s of the
// kill; counts are corrected, the peak stays, and the survivors route.
func TestNodeCrash(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	s0 := dial(t, n0.wsURL(), "shared@n0", "shared", "user")
	s1 := dial(t, n1.wsURL(), "s1@n1", "s1", "user")
	v1 := dial(t, n2.wsURL(), "victim@n2", "victim", "user")
	v2 := dial(t, n2.wsURL(), "shared@n2", "shared", "user")
	for _, cl := range []*wsClient{s0, s1, v1, v2} {
		cl.join("room-a")
	}
	v2.join("room-v") // only the dead node's client is in it
	waitFor(t, wait, "stats before the crash", func() error {
		return statsAre(n0, 4, 4, 3, 2)
	})

	killed := time.Now()
	n2.p.signal(killSignal)
	if code, err := v1.waitClosed(wait); err != nil || code != 1006 {
		t.Fatalf("victim socket: code %d, %v; want an abnormal close (1006)", code, err)
	}
	survivors := []*wsNode{n0, n1}
	err := poll(10*time.Second-time.Since(killed), func() error {
		var errs []error
		for _, n := range survivors {
			for _, id := range []string{v1.connID, v2.connID} {
				errs = append(errs, wantStatus(n, "/connections/"+id, 404))
			}
			errs = append(errs, wantStatus(n, "/users/victim", 404), wantStatus(n, "/rooms/room-v", 404))
			var u userDoc
			if err := n.getJSON("/users/shared", &u); err != nil {
				errs = append(errs, err)
			} else if len(u.Conns) != 1 || u.Conns[0].ID != s0.connID {
				errs = append(errs, fmt.Errorf("%s /users/shared = %+v, want only %s", n.id, u, s0.connID))
			}
			var r roomDoc
			want := []string{s0.connID, s1.connID}
			slices.Sort(want)
			if err := n.getJSON("/rooms/room-a", &r); err != nil {
				errs = append(errs, err)
			} else if !slices.Equal(r.ConnIDs, want) {
				errs = append(errs, fmt.Errorf("%s /rooms/room-a = %v, want %v", n.id, r.ConnIDs, want))
			}
			errs = append(errs, statsAre(n, 2, 4, 2, 1))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("10 s after SIGKILL the survivors still list the dead node's state: %v", err)
	}
	t.Logf("dead node's state gone %s after SIGKILL", time.Since(killed).Round(10*time.Millisecond))

	var nodes nodesDoc
	if err := n0.getJSON("/nodes", &nodes); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes.Nodes {
		if nd.ID == "n2" && nd.Alive {
			t.Fatalf("/nodes still lists n2 as alive: %+v", nodes)
		}
	}
	// The survivors keep routing rooms and users.
	s1.send(map[string]any{"type": "message", "room": "room-a", "data": "after crash"})
	s0.expect("message", wait, hasData("after crash"))
	s1.send(map[string]any{"type": "direct", "to_user": "shared", "data": "still here"})
	s0.expect("direct", wait, hasData("still here"))
	// Reaping is idempotent: two survivors race to reap, the two
	// connections are counted once (counters reach Redis within a flush).
	reaped := func() (int64, error) {
		var st statsDoc
		if err := n1.getJSON("/stats", &st); err != nil {
			return 0, err
		}
		return st.Counters["reaped_connections_total"], nil
	}
	waitFor(t, wait, "counters.reaped_connections_total", func() error {
		n, err := reaped()
		if err == nil && n < 2 {
			err = fmt.Errorf("reaped_connections_total = %d, want 2", n)
		}
		return err
	})
	time.Sleep(2500 * time.Millisecond) // one more reap interval and flush
	if n, err := reaped(); err != nil || n != 2 {
		t.Fatalf("reaped_connections_total = %d (%v), want exactly 2", n, err)
	}
}

// statsAre checks the cluster figures of /stats on n.
func statsAre(n *wsNode, active, peak, users, rooms int64) error {
	var s statsDoc
	if err := n.getJSON("/stats", &s); err != nil {
		return err
	}
	if s.ActiveConnections != active || s.PeakConnections != peak || s.UniqueUsers != users || s.Rooms != rooms {
		return fmt.Errorf("%s /stats: active %d peak %d users %d rooms %d, want %d %d %d %d", n.id,
			s.ActiveConnections, s.PeakConnections, s.UniqueUsers, s.Rooms, active, peak, users, rooms)
	}
	return nil
}
