package integration

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestDrain: scenario 4. SIGTERM makes a node close its sockets with 1001,
// remove its entries from Redis itself (well before the 6 s heartbeat TTL
// would let others reap them: default timings here), and exit 0. Its
// clients reconnect through the other nodes and work.
func TestDrain(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	stay0 := dial(t, n0.wsURL(), "both@n0", "both", "user")
	stay1 := dial(t, n1.wsURL(), "stay@n1", "stay", "user")
	d1 := dial(t, n2.wsURL(), "drainer@n2", "drainer", "user")
	d2 := dial(t, n2.wsURL(), "both@n2", "both", "user")
	for _, cl := range []*wsClient{stay0, stay1, d1, d2} {
		cl.join("dr")
	}
	termed := time.Now()
	n2.p.signal(syscall.SIGTERM)
	for _, cl := range []*wsClient{d1, d2} {
		code, err := cl.waitClosed(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code != 1001 {
			t.Fatalf("%s closed with %d, want 1001 (going away)", cl.name, code)
		}
	}
	if code := n2.p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("drained node exited with %d, want 0", code)
	}
	t.Logf("n2 exited %s after SIGTERM", time.Since(termed).Round(time.Millisecond))
	// Its entries are gone at once: no waiting for the TTL and the reaper.
	err := poll(3*time.Second-time.Since(termed), func() error {
		var errs []error
		for _, n := range []*wsNode{n0, n1} {
			errs = append(errs, wantStatus(n, "/connections/"+d1.connID, 404), wantStatus(n, "/connections/"+d2.connID, 404),
				wantStatus(n, "/users/drainer", 404), statsAre(n, 2, 4, 2, 1))
			var r roomDoc
			want := []string{stay0.connID, stay1.connID}
			slices.Sort(want)
			if err := n.getJSON("/rooms/dr", &r); err != nil {
				errs = append(errs, err)
			} else if !slices.Equal(r.ConnIDs, want) {
				errs = append(errs, fmt.Errorf("%s /rooms/dr = %v, want %v", n.id, r.ConnIDs, want))
			}
			var nd nodesDoc
			if err := n.getJSON("/nodes", &nd); err != nil {
				errs = append(errs, err)
			}
			for _, x := range nd.Nodes {
				if x.ID == "n2" {
					errs = append(errs, fmt.Errorf("%s /nodes still lists n2: %+v", n.id, nd))
				}
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("3 s after SIGTERM the drained node's entries remain: %v", err)
	}
	if !n2.p.exited() || !containsAll(n2.p.log.String(), "draining", "stopped cleanly") {
		t.Fatalf("n2's log lacks the drain messages")
	}

	// The drained clients reconnect through the others.
	r1 := dial(t, n0.wsURL(), "drainer@n0", "drainer", "user")
	r2 := dial(t, n1.wsURL(), "both@n1", "both", "user")
	r1.join("dr")
	r2.join("dr")
	stay1.send(map[string]any{"type": "message", "room": "dr", "data": "welcome back"})
	for _, cl := range []*wsClient{stay0, stay1, r1, r2} {
		cl.expect("message", wait, hasData("welcome back"))
	}
	r1.send(map[string]any{"type": "direct", "to_user": "both", "data": "to both"})
	stay0.expect("direct", wait, hasData("to both"))
	r2.expect("direct", wait, hasData("to both"))
	if err := statsAre(n1, 4, 4, 3, 1); err != nil {
		t.Fatal(err)
	}
	// The refused address: the drained node's listener is closed.
	if _, err := tryDial(n2.wsURL()); err == nil {
		t.Fatal("the drained node still accepts sockets")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !contains(s, x) {
			return false
		}
	}
	return true
}
