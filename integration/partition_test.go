package integration

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestPartition: scenario 6. Node n2 reaches Redis only through a fault
// proxy, which is then cut (black-holed: nothing forwarded, no socket
// closed). The documented behaviour, asserted here:
//
//   - n2 notices within a bounded time (broker ping or heartbeat age) and
//     answers /readyz with 503;
//   - n2 keeps its client sockets open; requests that need Redis get an
//     error frame with code "unavailable" (clients are not closed);
//   - the other nodes reap n2 once its heartbeat TTL has passed, so they
//     no longer list its connections, users or memberships;
//   - when the cut heals, n2's heartbeat finds its key missing and it
//     re-asserts every live connection, user and room: the others list
//     them again and messages reach its clients once more.
func TestPartition(t *testing.T) {
	t.Parallel()
	c := &cluster{redis: startRedis(t, 0)}
	proxy := startProxy(t, c.redis.addr())
	n0 := startNode(t, "n0", c.redis, nodeOpts{fast: true})
	n1 := startNode(t, "n1", c.redis, nodeOpts{fast: true})
	// n2's --redis-url points at the proxy.
	n2 := startNode(t, "n2", c.redis, nodeOpts{fast: true, redisAddr: proxy.addr()})
	c.nodes = []*wsNode{n0, n1, n2}
	p1 := dial(t, n2.wsURL(), "p@n2", "p", "user")
	p2 := dial(t, n2.wsURL(), "q@n2", "q", "user")
	o0 := dial(t, n0.wsURL(), "o@n0", "o", "user")
	o1 := dial(t, n1.wsURL(), "r@n1", "r", "user")
	for _, cl := range []*wsClient{p1, p2, o0, o1} {
		cl.join("pr")
	}
	o0.send(map[string]any{"type": "message", "room": "pr", "data": "before"})
	p1.expect("message", wait, hasData("before"))

	cut := time.Now()
	proxy.blackhole()
	// Detection: heartbeat age limit is 2*500ms + 3s RedisTimeout; the
	// broker's ping fails after about 3 s of silence.
	waitFor(t, 8*time.Second, "n2 /readyz 503 after the cut", func() error { return wantStatus(n2, "/readyz", 503) })
	t.Logf("n2 unready %s after the cut", time.Since(cut).Round(10*time.Millisecond))
	for _, n := range []*wsNode{n0, n1} {
		if err := wantStatus(n, "/readyz", 200); err != nil {
			t.Fatalf("%s: %v", n.id, err)
		}
	}
	// Its clients stay connected and get error frames for sends.
	p1.send(map[string]any{"type": "message", "room": "pr", "data": "cut off", "id": "c1"})
	if f := p1.expect("error", 15*time.Second, nil); f.Code != "unavailable" || string(f.Ref) != `"c1"` {
		t.Fatalf("send during the partition answered %s, want code unavailable with ref c1", f.raw)
	}
	o0.noFrame("message", 200*time.Millisecond, hasData("cut off"))
	// A new socket cannot be registered: it is closed with 4003 (node
	// unavailable, reconnect elsewhere) instead of being served unregistered.
	if code, err := firstClose(n2.wsURL(), 10*time.Second); err != nil || code != 4003 {
		t.Fatalf("new socket on the cut-off node: close %d (%v), want 4003", code, err)
	}

	// The others reap n2 after its TTL (2.5 s) plus a reap interval (2 s).
	want := []string{o0.connID, o1.connID}
	slices.Sort(want)
	for _, n := range []*wsNode{n0, n1} {
		waitFor(t, 10*time.Second, n.id+" to reap n2", func() error {
			var errs []error
			for _, cl := range []*wsClient{p1, p2} {
				errs = append(errs, wantStatus(n, "/connections/"+cl.connID, 404), wantStatus(n, "/users/"+cl.user, 404))
			}
			var r roomDoc
			if err := n.getJSON("/rooms/pr", &r); err != nil || !slices.Equal(r.ConnIDs, want) {
				errs = append(errs, fmt.Errorf("/rooms/pr = %v (%v), want %v", r.ConnIDs, err, want))
			}
			var nd nodesDoc
			if err := n.getJSON("/nodes", &nd); err != nil {
				errs = append(errs, err)
			}
			for _, x := range nd.Nodes {
				if x.ID == "n2" && x.Alive {
					errs = append(errs, errors.New("n2 still alive in /nodes"))
				}
			}
			return errors.Join(errs...)
		})
	}
	t.Logf("n2 reaped %s after the cut", time.Since(cut).Round(10*time.Millisecond))
	for _, cl := range []*wsClient{p1, p2} {
		select {
		case <-cl.Done():
			code, _ := cl.closeCode()
			t.Fatalf("%s was closed (code %d) during the partition; the chosen behaviour keeps it", cl.name, code)
		default:
		}
	}

	healed := time.Now()
	proxy.restore()
	n2.waitReady(t, 10*time.Second)
	want = []string{o0.connID, o1.connID, p1.connID, p2.connID}
	slices.Sort(want)
	for _, n := range c.nodes {
		waitFor(t, 10*time.Second, n.id+" to list n2's connections again", func() error {
			var errs []error
			for _, cl := range []*wsClient{p1, p2} {
				var cd connDoc
				if err := n.getJSON("/connections/"+cl.connID, &cd); err != nil {
					errs = append(errs, err)
				} else if cd.NodeID != "n2" || cd.User != cl.user || !slices.Equal(cd.Rooms, []string{"pr"}) {
					errs = append(errs, fmt.Errorf("/connections/%s = %+v", cl.connID, cd))
				}
			}
			var r roomDoc
			if err := n.getJSON("/rooms/pr", &r); err != nil || !slices.Equal(r.ConnIDs, want) {
				errs = append(errs, fmt.Errorf("/rooms/pr = %v (%v), want %v", r.ConnIDs, err, want))
			}
			errs = append(errs, statsAre(n, 4, 4, 4, 1))
			var nd nodesDoc
			if err := n.getJSON("/nodes", &nd); err != nil {
				errs = append(errs, err)
			}
			alive := 0
			for _, x := range nd.Nodes {
				if x.Alive {
					alive++
				}
			}
			if alive != 3 {
				errs = append(errs, fmt.Errorf("/nodes: %d alive, want 3: %+v", alive, nd))
			}
			return errors.Join(errs...)
		})
	}
	t.Logf("n2 re-registered %s after the heal", time.Since(healed).Round(10*time.Millisecond))
	// Routing to and from n2's clients works again.
	probe := 0
	waitFor(t, 10*time.Second, "room and direct delivery to n2's clients", func() error {
		probe++
		data := fmt.Sprintf("healed %d", probe)
		o0.send(map[string]any{"type": "message", "room": "pr", "data": data})
		for _, cl := range []*wsClient{p1, p2, o1} {
			if _, err := cl.next("message", 300*time.Millisecond, hasData(data)); err != nil {
				return err
			}
		}
		o1.send(map[string]any{"type": "direct", "to_user": "q", "data": data})
		if _, err := p2.next("direct", 300*time.Millisecond, hasData(data)); err != nil {
			return err
		}
		p1.send(map[string]any{"type": "direct", "to_user": "o", "data": data})
		_, err := o0.next("direct", 300*time.Millisecond, hasData(data))
		return err
	})
	var s statsDoc
	if err := n2.getJSON("/stats?scope=node", &s); err != nil {
		t.Fatal(err)
	}
	if s.ErrorsByKind["publish_failed"] < 1 {
		t.Fatalf("n2 errors_by_kind %v: the failed send during the partition is not counted", s.ErrorsByKind)
	}
}
