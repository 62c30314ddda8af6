package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

// clusterFormation bounds how long a freshly created Redis Cluster may take
// until a node on it is ready.
const clusterFormation = 30 * time.Second

// clusterModel is what the tests expect the cluster to hold: the live
// connections and every room's members.
type clusterModel struct {
	live  map[string]*wsClient // conn id -> client
	rooms map[string][]string  // room -> conn ids
}

func newClusterModel() *clusterModel {
	return &clusterModel{live: map[string]*wsClient{}, rooms: map[string][]string{}}
}

func (m *clusterModel) add(cl *wsClient, rooms ...string) {
	m.live[cl.connID] = cl
	for _, r := range rooms {
		cl.join(r)
		m.rooms[r] = append(m.rooms[r], cl.connID)
	}
}

// remove forgets a connection (closed by the test or by its node).
func (m *clusterModel) remove(cl *wsClient) {
	delete(m.live, cl.connID)
	for room, ids := range m.rooms {
		m.rooms[room] = slices.DeleteFunc(ids, func(s string) bool { return s == cl.connID })
		if len(m.rooms[room]) == 0 {
			delete(m.rooms, room)
		}
	}
}

func (m *clusterModel) users() map[string][]string {
	u := map[string][]string{}
	for id, cl := range m.live {
		u[cl.user] = append(u[cl.user], id)
	}
	return u
}

// exact waits until /stats on every node and the bucketed indexes, room
// sets and node index in Redis match the model, and every node's room and
// user queries list the right connections.
func (m *clusterModel) exact(t *testing.T, rdb *redis.ClusterClient, nodes []*wsNode, bound time.Duration, what string) {
	t.Helper()
	ks := keyspace.New("ws")
	users := m.users()
	var nodeIDs []string
	for _, n := range nodes {
		nodeIDs = append(nodeIDs, n.id)
	}
	err := poll(bound, func() error {
		var errs []error
		for _, n := range nodes {
			var s statsDoc
			if err := n.getJSON("/stats", &s); err != nil || s.Scope != "cluster" || s.ActiveConnections != int64(len(m.live)) ||
				s.UniqueUsers != int64(len(users)) || s.Rooms != int64(len(m.rooms)) || s.Nodes != int64(len(nodes)) {
				errs = append(errs, fmt.Errorf("%s /stats = %+v (%v), want %d connections, %d users, %d rooms, %d nodes",
					n.id, s, err, len(m.live), len(users), len(m.rooms), len(nodes)))
			}
			for room, ids := range m.rooms {
				errs = append(errs, roomIs(n, room, ids, m.live))
			}
			for user, ids := range users {
				errs = append(errs, userIs(n, user, ids, m.live))
			}
		}
		errs = append(errs, sameBuckets(rdb, ks.Conns, slices.Collect(maps.Keys(m.live))),
			sameBuckets(rdb, ks.Users, slices.Collect(maps.Keys(users))),
			sameBuckets(rdb, ks.Rooms, slices.Collect(maps.Keys(m.rooms))),
			sameBuckets(rdb, ks.Nodes, nodeIDs))
		for room, ids := range m.rooms {
			errs = append(errs, sameClusterSet(rdb, ks.Room(room), ids))
		}
		for user, ids := range users {
			errs = append(errs, sameClusterSet(rdb, ks.User(user), ids))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("%s: the state is not exact after %s: %v", what, bound, err)
	}
}

// roomIs checks GET /rooms/{room} on n against the expected members.
func roomIs(n *wsNode, room string, ids []string, live map[string]*wsClient) error {
	var r roomDoc
	if err := n.getJSON("/rooms/"+room, &r); err != nil {
		return err
	}
	want := slices.Sorted(slices.Values(ids))
	var wantUsers []string
	for _, id := range ids {
		if !slices.Contains(wantUsers, live[id].user) {
			wantUsers = append(wantUsers, live[id].user)
		}
	}
	slices.Sort(wantUsers)
	got := slices.Sorted(slices.Values(r.ConnIDs))
	gotUsers := slices.Sorted(slices.Values(r.Users))
	if r.Name != room || !slices.Equal(got, want) || !slices.Equal(gotUsers, wantUsers) || r.Connections != len(ids) {
		return fmt.Errorf("%s /rooms/%s = %+v, want conns %v users %v", n.id, room, r, want, wantUsers)
	}
	return nil
}

// userIs checks GET /users/{user} on n: the user's connections, each with
// the node that holds it.
func userIs(n *wsNode, user string, ids []string, live map[string]*wsClient) error {
	var u userDoc
	if err := n.getJSON("/users/"+user, &u); err != nil {
		return err
	}
	var got, want []string
	for _, c := range u.Conns {
		got = append(got, c.ID+"@"+c.NodeID+"/"+c.User)
	}
	for _, id := range ids {
		want = append(want, id+"@"+live[id].nodeID+"/"+user)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s /users/%s lists %v, want %v", n.id, user, got, want)
	}
	return nil
}

// TestRedisClusterScenarios: one Redis Cluster of 3 primaries and three
// nodes in cluster mode with --max-conns-per-user 2, shared by subtests
// that run one after the other (the sharded pub/sub count needs a quiet
// cluster; the drain ends the third node):
//   - rooms, direct to_user and to_conn, admin publish to a room, a user
//     and a connection cross nodes; /stats, the room and user queries and
//     the bucketed indexes are exact;
//   - the per-user limit counts the user's connections on every node: a
//     third one is refused with 4007, and admitted once one of them left;
//   - a room's messages are SPUBLISHed only on the primary that owns its
//     channel's slot, for three rooms on three different primaries;
//   - a SIGTERMed node closes its sockets with 1001, exits 0, and its
//     connections, its users and rooms held only there leave every index.
func TestRedisClusterScenarios(t *testing.T) {
	t.Parallel()
	rc := rediscluster.Start(t, rediscluster.Options{})
	// Default heartbeat timings (2 s, TTL 6 s), not fast ones: the per-user
	// limit counts a connection only while its node's heartbeat is younger
	// than 1.5 intervals, so with 500 ms beats a node stalled for 750 ms on
	// a busy machine would let a third connection in. The drain does not
	// wait for the TTL, and the refusals are held 3.5 s each.
	o := nodeOpts{redisAddr: rc.Nodes[0].Addr(), args: []string{"--redis-mode", "cluster", "--redis-url", rc.URL(),
		"--msg-rate", "0", "--max-conns-per-user", "2"}}
	var nodes []*wsNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("c%d", i), nil, o))
	}
	c0, c1, c2 := nodes[0], nodes[1], nodes[2]
	rdb := rc.Client(t)
	m := newClusterModel()

	alice0 := dial(t, c0.wsURL(), "alice@c0", "alice", "user")
	alice1 := dial(t, c1.wsURL(), "alice@c1", "alice", "user")
	bob := dial(t, c2.wsURL(), "bob@c2", "bob", "user")
	carol := dial(t, c1.wsURL(), "carol@c1", "carol", "user")
	for cl, want := range map[*wsClient]string{alice0: "c0", alice1: "c1", bob: "c2", carol: "c1"} {
		if cl.nodeID != want {
			t.Fatalf("%s landed on %s, want %s", cl.name, cl.nodeID, want)
		}
	}
	for _, cl := range []*wsClient{alice0, alice1, bob, carol} {
		m.add(cl, "lobby")
	}
	m.exact(t, rdb, nodes, wait, "four members on three nodes")

	t.Run("routing across nodes", func(t *testing.T) {
		alice0, alice1, bob, carol := alice0.in(t), alice1.in(t), bob.in(t), carol.in(t)
		members := []*wsClient{alice0, alice1, bob, carol}
		bob.send(map[string]any{"type": "message", "room": "lobby", "data": "hello lobby"})
		for _, cl := range members { // the sender's echo too
			f := cl.expect("message", wait, hasData("hello lobby"))
			if f.Room != "lobby" || f.From.User != "bob" || f.From.ConnID != bob.connID || f.MsgID == "" {
				t.Fatalf("%s got %s", cl.name, f.raw)
			}
		}

		bob.send(map[string]any{"type": "direct", "to_user": "alice", "data": "hi alice"})
		for _, cl := range []*wsClient{alice0, alice1} {
			if f := cl.expect("direct", wait, hasData("hi alice")); f.From.User != "bob" || f.From.ConnID != bob.connID {
				t.Fatalf("%s got %s", cl.name, f.raw)
			}
		}
		carol.send(map[string]any{"type": "direct", "to_conn": alice0.connID, "data": "only alice0"})
		if f := alice0.expect("direct", wait, hasData("only alice0")); f.From.User != "carol" || f.From.ConnID != carol.connID {
			t.Fatalf("alice0 got %s", f.raw)
		}
		alice0.send(map[string]any{"type": "direct", "to_conn": bob.connID, "data": "c0 to c2"})
		bob.expect("direct", wait, hasData("c0 to c2"))

		// Admin publish from a node that holds none of the targets.
		c0.mustAdmin(t, "POST", "/publish", map[string]any{"room": "lobby", "data": "admin to lobby"}, 202)
		for _, cl := range members {
			if f := cl.expect("message", wait, hasData("admin to lobby")); f.Room != "lobby" || !f.From.System {
				t.Fatalf("%s got %s, want a system message in lobby", cl.name, f.raw)
			}
		}
		c0.mustAdmin(t, "POST", "/publish", map[string]any{"user": "carol", "data": "admin to carol"}, 202)
		if f := carol.expect("direct", wait, hasData("admin to carol")); !f.From.System {
			t.Fatalf("carol got %s, want from.system", f.raw)
		}
		c1.mustAdmin(t, "POST", "/publish", map[string]any{"user": "alice", "data": "admin to alice"}, 202)
		alice0.expect("direct", wait, hasData("admin to alice"))
		alice1.expect("direct", wait, hasData("admin to alice"))
		c0.mustAdmin(t, "POST", "/publish", map[string]any{"conn_id": bob.connID, "data": "admin to bob"}, 202)
		bob.expect("direct", wait, hasData("admin to bob"))

		// Nobody got what was not theirs.
		for _, cl := range []*wsClient{alice1, bob, carol} {
			cl.noFrame("direct", 200*time.Millisecond, hasData("only alice0"))
		}
		for _, cl := range []*wsClient{alice0, alice1, bob} {
			cl.noFrame("direct", 100*time.Millisecond, hasData("admin to carol"))
		}
		carol.noFrame("direct", 100*time.Millisecond, hasData("hi alice"))
		carol.noFrame("direct", 100*time.Millisecond, hasData("admin to alice"))
		m.exact(t, rdb, nodes, wait, "after the routing")
	})

	t.Run("per-user limit across nodes", func(t *testing.T) {
		// Clients that outlive a subtest are dialled by the parent test (a
		// client is closed at the cleanup of the test that dialled it), so
		// this one only probes with tryAuth, which closes what it admitted.
		alice := token(t, "alice", "user")
		// alice holds two connections, on c0 and c1; a third on c2 is refused.
		if ok, code, err := tryAuth(c2.wsURL(), alice); err != nil || ok || code != 4007 {
			t.Fatalf("a third connection of alice on c2: admitted=%v close=%d err=%v; want refused with 4007", ok, code, err)
		}
		// Another user is not limited by alice's connections.
		if ok, code, err := tryAuth(c2.wsURL(), token(t, "dave", "user")); err != nil || !ok {
			t.Fatalf("dave's first connection on c2: admitted=%v close=%d err=%v; want admitted", ok, code, err)
		}
		// Neither the refused nor the closed connection left anything behind.
		m.exact(t, rdb, nodes, wait, "after the refusal")
		// One of alice's connections leaves: the next one is admitted on c2.
		alice1.Close()
		m.remove(alice1)
		m.exact(t, rdb, nodes, wait, "after alice@c1 left")
		if ok, code, err := tryAuth(c2.wsURL(), alice); err != nil || !ok {
			t.Fatalf("alice's second connection on c2 after alice@c1 left: admitted=%v close=%d err=%v; want admitted", ok, code, err)
		}
		m.exact(t, rdb, nodes, wait, "after alice's second connection closed again")
	})

	t.Run("sharded pub/sub on one shard per room", func(t *testing.T) {
		ks := keyspace.New("ws")
		// Three rooms whose channels live on three different primaries.
		byPrimary := map[string]string{} // primary addr -> room
		for i := 0; len(byPrimary) < 3 && i < 1000; i++ {
			room := fmt.Sprintf("shard-%d", i)
			p := rc.PrimaryFor(t, ks.RoomChannel(room))
			if _, ok := byPrimary[p.Addr()]; !ok {
				byPrimary[p.Addr()] = room
			}
		}
		if len(byPrimary) != 3 {
			t.Fatalf("found rooms on %d primaries, want 3: %v", len(byPrimary), byPrimary)
		}
		const n = 50
		for owner, room := range byPrimary {
			if got := rc.PrimaryFor(t, ks.Room(room)).Addr(); got != owner {
				t.Fatalf("room %s: its set is on %s but its channel on %s", room, got, owner)
			}
			// Users of their own: a closed connection's cleanup may still
			// be under way when the next room's clients authenticate.
			sender := dial(t, c0.wsURL(), "sender@c0", "sender-"+room, "user")
			recv1 := dial(t, c1.wsURL(), "recv@c1", "recv-"+room, "user")
			recv2 := dial(t, c2.wsURL(), "recv@c2", "recv-"+room, "user")
			for _, cl := range []*wsClient{sender, recv1, recv2} {
				cl.join(room)
			}
			before := spublishCalls(t, rdb)
			if len(before) != 3 {
				t.Fatalf("commandstats from %d primaries, want 3: %v", len(before), before)
			}
			for i := range n {
				sender.send(map[string]any{"type": "message", "room": room, "data": room + "/" + strconv.Itoa(i)})
			}
			// Every message reached the other nodes: every SPUBLISH was run.
			for _, cl := range []*wsClient{sender, recv1, recv2} {
				for i := range n {
					cl.expect("message", wait, hasData(room+"/"+strconv.Itoa(i)))
				}
			}
			after := spublishCalls(t, rdb)
			var errs []error
			for addr, b := range before {
				d := after[addr] - b
				switch {
				case addr == owner && d < n:
					errs = append(errs, fmt.Errorf("the owner %s of room %s ran %d SPUBLISH for %d messages", addr, room, d, n))
				case addr != owner && d != 0:
					errs = append(errs, fmt.Errorf("%s, which does not own room %s (owner %s), ran %d SPUBLISH", addr, room, owner, d))
				}
			}
			t.Logf("room %s on %s: SPUBLISH calls grew %v", room, owner, deltas(before, after))
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			for _, cl := range []*wsClient{sender, recv1, recv2} {
				cl.Close()
			}
		}
		m.exact(t, rdb, nodes, wait, "after the senders and receivers left")
		noPublishNoCrossSlot(t, rdb)
	})

	t.Run("drain", func(t *testing.T) {
		alice0, carol := alice0.in(t), carol.in(t)
		// On c2: bob (only there, in lobby), dave (only there, in no
		// room), erin (alone in room solo-c2) and frank (also on c0, in
		// room shared-c02 with him). These clients end with this subtest,
		// as does the node.
		dave := dial(t, c2.wsURL(), "dave@c2", "dave", "user")
		m.add(dave)
		erin := dial(t, c2.wsURL(), "erin@c2", "erin", "user")
		m.add(erin, "solo-c2")
		frank0 := dial(t, c0.wsURL(), "frank@c0", "frank", "user")
		frank2 := dial(t, c2.wsURL(), "frank@c2", "frank", "user")
		m.add(frank0, "shared-c02")
		m.add(frank2, "shared-c02")
		m.exact(t, rdb, nodes, wait, "before the drain")

		var drained []*wsClient
		for _, cl := range m.live {
			if cl.nodeID == "c2" {
				drained = append(drained, cl)
			}
		}
		termed := time.Now()
		c2.p.signal(syscall.SIGTERM)
		for _, cl := range drained {
			code, err := cl.waitClosed(wait)
			if err != nil {
				t.Fatalf("%s: %v", cl.name, err)
			}
			if code != 1001 {
				t.Fatalf("%s closed with %d, want 1001 (going away)", cl.name, code)
			}
		}
		if code := c2.p.wait(t, 15*time.Second); code != 0 {
			t.Fatalf("the drained node exited with %d, want 0", code)
		}
		t.Logf("c2 exited %s after SIGTERM", time.Since(termed).Round(time.Millisecond))
		for _, cl := range drained {
			m.remove(cl)
		}
		if l := c2.p.log.String(); !containsAll(l, "draining", "stopped cleanly") {
			t.Fatal("c2's log lacks the drain messages")
		}
		nodes = nodes[:2]
		m.exact(t, rdb, nodes, wait, "after c2 drained")
		// The drained node removed its entries itself: the survivors' reaper
		// (which would also have cleared them within the deadline above,
		// 6 s TTL + 2 s reap interval) found no connection to reap. Its
		// count reaches Redis within a flush (1 s).
		time.Sleep(2 * time.Second)
		for _, n := range nodes {
			var s statsDoc
			if err := n.getJSON("/stats", &s); err != nil {
				t.Fatal(err)
			}
			if r := s.Counters["reaped_connections_total"]; r != 0 {
				t.Errorf("%s: counters.reaped_connections_total = %d after a drain, want 0: the drained node left connections to reap", n.id, r)
			}
		}
		for _, n := range nodes {
			for _, path := range []string{"/users/bob", "/users/dave", "/users/erin", "/rooms/solo-c2",
				"/connections/" + bob.connID, "/connections/" + erin.connID, "/connections/" + frank2.connID} {
				if err := wantStatus(n, path, 404); err != nil {
					t.Errorf("%s: %v", n.id, err)
				}
			}
		}
		// The survivors still route across nodes.
		carol.send(map[string]any{"type": "message", "room": "lobby", "data": "after the drain"})
		alice0.expect("message", wait, hasData("after the drain"))
		alice0.send(map[string]any{"type": "direct", "to_user": "carol", "data": "still here"})
		carol.expect("direct", wait, hasData("still here"))
	})
}

// in returns c bound to t: expect, next, noFrame and request then fail t
// (a subtest) rather than the test that dialled c. Both share the socket
// and its queue of received frames.
func (c *wsClient) in(t *testing.T) *wsClient {
	d := *c
	d.t = t
	return &d
}

// spublishCalls returns cmdstat_spublish calls per primary address.
func spublishCalls(t *testing.T, rdb *redis.ClusterClient) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int64{}
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		stats, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		var n int64
		if v := infoMap(stats)["cmdstat_spublish"]; v != "" {
			calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
			if n, err = strconv.ParseInt(calls, 10, 64); err != nil {
				return fmt.Errorf("%s cmdstat_spublish %q: %w", c.Options().Addr, v, err)
			}
		}
		mu.Lock()
		out[c.Options().Addr] = n
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func deltas(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// TestRedisClusterNotCreated: nodes started in cluster mode against
// cluster-enabled redis-servers that are not joined yet (cluster_state
// fail, no slot served) keep running and answer /readyz 503; once the
// cluster is created they turn ready and carry messages across nodes.
func TestRedisClusterNotCreated(t *testing.T) {
	t.Parallel()
	rc := rediscluster.StartUncreated(t, rediscluster.Options{})
	o := nodeOpts{fast: true, redisAddr: rc.Nodes[0].Addr(), args: []string{"--redis-mode", "cluster", "--redis-url", rc.URL(), "--msg-rate", "0"}}
	var nodes []*wsNode
	for i := range 2 {
		nodes = append(nodes, startNodeUnready(t, fmt.Sprintf("u%d", i), o))
	}
	for _, n := range nodes {
		waitFor(t, wait, n.id+" to answer /readyz", func() error {
			if n.p.exited() {
				t.Fatalf("%s exited against an uncreated cluster:\n%s", n.id, n.p.log.String())
			}
			_, err := n.status("/readyz")
			return err
		})
	}
	// While the cluster is not created: alive and not ready, for a while.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.p.exited() {
				t.Fatalf("%s exited against an uncreated cluster:\n%s", n.id, n.p.log.String())
			}
			if err := wantStatus(n, "/readyz", 503); err != nil {
				t.Fatalf("%s while the cluster is not created: %v", n.id, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range nodes {
		_, body, _ := n.admin("GET", "/readyz", nil)
		t.Logf("%s /readyz while the cluster is not created: %s", n.id, strings.TrimSpace(string(body)))
		// Not ready, so not open to clients either (503 before the first
		// heartbeat, docs/protocol.md).
		if st, err := tryDial(n.wsURL()); st != 503 {
			t.Fatalf("%s: a WebSocket handshake while the cluster is not created answered %d (%v), want 503", n.id, st, err)
		}
	}

	created := time.Now()
	rc.Create(t, rediscluster.Options{})
	t.Logf("cluster created and healthy %s after the nodes saw it unready", time.Since(created).Round(10*time.Millisecond))
	for _, n := range nodes {
		n.waitReady(t, clusterFormation)
	}
	t.Logf("both nodes ready %s after the cluster creation started", time.Since(created).Round(10*time.Millisecond))

	a := dial(t, nodes[0].wsURL(), "a@u0", "a", "user")
	b := dial(t, nodes[1].wsURL(), "b@u1", "b", "user")
	a.join("formed")
	b.join("formed")
	a.send(map[string]any{"type": "message", "room": "formed", "data": "cluster formed"})
	b.expect("message", wait, hasData("cluster formed"))
	b.send(map[string]any{"type": "direct", "to_user": "a", "data": "back"})
	a.expect("direct", wait, hasData("back"))
	for _, n := range nodes {
		waitFor(t, wait, n.id+" /stats", func() error { return statsAre(n, 2, 2, 2, 1) })
	}
	noPublishNoCrossSlot(t, rc.Client(t))
}

// startNodeUnready starts a node like startNode, without waiting for it to
// turn ready.
func startNodeUnready(t *testing.T, id string, o nodeOpts) *wsNode {
	t.Helper()
	n := &wsNode{id: id,
		wsAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	args := []string{
		"--addr", n.wsAddr, "--admin-addr", n.adminAddr, "--node-id", id,
		"--redis-url", "redis://" + o.redisAddr + "/0", "--jwt-secret", testJWTSecret,
		"--admin-key", testAdminKey, "--log-level", "debug",
		"--shutdown-timeout", "10s",
	}
	if o.fast {
		args = append(args, "--heartbeat-interval", fastHeartbeat.String(), "--heartbeat-ttl", fastTTL.String())
	}
	args = append(args, o.args...)
	n.args = args
	n.p = startProc(t, "wsnode "+id, nil, wsnodeBin, args...)
	t.Cleanup(func() { checkLogs(t, n.p) })
	return n
}
