package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/internal/keyspace"
)

// Several nodes reap one dead node at once: every connection is returned by
// exactly one Reap with its user, type and rooms, every authenticated one
// gets exactly one disconnect event, and nothing of the node is left.
func runClusterConcurrentReapers(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	const total = 300 // several evict batches
	batch := make([]Conn, 0, total)
	for i := range total {
		c := Conn{ID: fmt.Sprintf("a%04d", i), Rooms: []string{fmt.Sprintf("r%d", i%5), "lobby"}, ConnectedAt: t0}
		if i%10 != 0 {
			c.User = fmt.Sprintf("u%d", i%7)
		}
		batch = append(batch, c)
	}
	noErr(t, a.Reassert(ctx, batch)) // one pipelined registration per step
	equal(t, "registered", counts(t, a).Active, int64(total))
	noErr(t, rdb.Del(ctx, ks.Node("node-a")).Err())

	cfg := &Config{EventsStream: ks.Events(), EventsMaxLen: 10_000}
	reapers := []*Registry{
		mustClusterRegistry(t, rdb, "node-b", cfg), mustClusterRegistry(t, rdb, "node-c", cfg),
		mustClusterRegistry(t, rdb, "node-b", cfg), mustClusterRegistry(t, rdb, "node-c", cfg),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []cluster.Conn
	errs := make([]error, len(reapers))
	for i, r := range reapers {
		wg.Go(func() {
			conns, err := r.Reap(ctx)
			errs[i] = err
			mu.Lock()
			all = append(all, conns...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		noErr(t, err)
	}
	equal(t, "returned in total", len(all), total)
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c.ID] {
			t.Fatalf("%s returned twice", c.ID)
		}
		seen[c.ID] = true
		var i int
		_, _ = fmt.Sscanf(c.ID, "a%04d", &i)
		wantUser, wantType := "", TypeGuest
		if i%10 != 0 {
			wantUser, wantType = fmt.Sprintf("u%d", i%7), TypeUser
		}
		slices.Sort(c.Rooms)
		if c.NodeID != "node-a" || c.User != wantUser || c.Type != wantType ||
			!slices.Equal(c.Rooms, []string{"lobby", fmt.Sprintf("r%d", i%5)}) {
			t.Fatalf("reaped record %+v, want user %q in lobby and r%d", c, wantUser, i%5)
		}
	}
	entries, err := rdb.XRange(ctx, ks.Events(), "-", "+").Result()
	noErr(t, err)
	equal(t, "disconnect events", len(entries), total-total/10)
	evSeen := map[string]bool{}
	for _, e := range entries {
		var ev cluster.Event
		raw, _ := e.Values[cluster.EventField].(string)
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			t.Fatalf("event %q: %v", raw, err)
		}
		if ev.Type != cluster.EventDisconnect || ev.Reason != "reaped" || ev.NodeID != "node-a" || ev.User == "" || ev.TS == 0 || ev.ConnType != TypeUser {
			t.Fatalf("event %+v", ev)
		}
		if evSeen[ev.ConnID] {
			t.Fatalf("two disconnect events for %s", ev.ConnID)
		}
		evSeen[ev.ConnID] = true
	}
	equal(t, "keys left", clusterKeys(t, rdb), sorted(ks.Events(), ks.Peak()))
}

func runClusterFlushAndReassert(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	noErr(t, rdb.ScriptFlush(ctx).Err()) // as after a restart: the NOSCRIPT path of pipelines
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	b := mustClusterRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	noErr(t, a.Authenticate(ctx, "a2", "bob", TypeAIAssistant, t0.Add(time.Second)))
	noErr(t, a.Touch(ctx, []Activity{{ConnID: "a1", LastActivity: t0.Add(time.Minute), MessagesIn: 5, MessagesOut: 9}}))
	noErr(t, a.SetState(ctx, "a3", StateInactive))
	rooms, users := []string{"lobby", "a-only"}, []string{"alice", "bob", "carol"}
	before := takeSnapshot(t, a, rooms, users)
	local := map[*Registry][]Conn{}
	for _, r := range []*Registry{a, b} {
		for _, id := range members(t, rdb, keyspace.New(DefaultPrefix).NodeConns(r.NodeID())) {
			c, err := r.Conn(ctx, id)
			noErr(t, err)
			local[r] = append(local[r], c)
		}
	}
	flushCluster(t, rdb)
	noErr(t, rdb.ScriptFlush(ctx).Err())
	for _, r := range []*Registry{a, b} {
		equal(t, r.NodeID()+" lost after flush", mustBeat(t, r), true)
		noErr(t, r.Reassert(ctx, local[r]))
	}
	after := takeSnapshot(t, a, rooms, users)
	equal(t, "after re-assertion", after, before)
	noErr(t, a.Reassert(ctx, local[a])) // idempotent
	equal(t, "after second re-assertion", takeSnapshot(t, a, rooms, users), before)
}

func runClusterReassertDropsStale(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	old := time.Now().Add(-time.Hour)
	keep := Conn{ID: "keep", User: "alice", Rooms: []string{"lobby"}, ConnectedAt: old}
	mustRegister(t, a, keep)
	mustRegister(t, a, Conn{ID: "stale", User: "alice", Rooms: []string{"lobby", "gone"}, ConnectedAt: old})
	mustRegister(t, a, Conn{ID: "fresh", ConnectedAt: time.Now()})               // registered after the snapshot
	noErr(t, rdb.SAdd(ctx, ks.NodeConns("node-a"), "orphan").Err())              // id without a record
	equal(t, "active before", counts(t, a).Active, int64(3))                     // samples the peak
	noErr(t, rdb.SRem(ctx, ks.Nodes(keyspace.Bucket("node-a")), "node-a").Err()) // as if the beat's SADD failed
	noErr(t, a.Reassert(ctx, []Conn{keep}))
	equal(t, "nodeconns", members(t, rdb, ks.NodeConns("node-a")), []string{"fresh", "keep"})
	equal(t, "counts", counts(t, a), Counts{Active: 2, Peak: 3, Users: 1, Rooms: 1, Nodes: 1})
	equal(t, "alice", members(t, rdb, ks.User("alice")), []string{"keep"})
	equal(t, "node index bucket", members(t, rdb, ks.Nodes(keyspace.Bucket("node-a"))), []string{"node-a"})
	for _, k := range []string{ks.Conn("stale"), ks.ConnRooms("stale"), ks.RoomMeta("gone"), ks.Room("gone")} {
		equal(t, "exists "+k, rdb.Exists(ctx, k).Val(), int64(0))
	}
}

func runClusterDeregister(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	cfg := &Config{EventsStream: keyspace.New(DefaultPrefix).Events()}
	a := mustClusterRegistry(t, rdb, "node-a", cfg)
	b := mustClusterRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	equal(t, "peak", counts(t, a).Peak, int64(5))
	noErr(t, a.Deregister(ctx))
	clusterAssertOnlyB(t, rdb, b, 5) // no heartbeat of node-a, no event stream
	noErr(t, a.Deregister(ctx))      // idempotent
	clusterAssertOnlyB(t, rdb, b, 5)
}

// Re-registering with another user and rooms makes the record match
// exactly; the old user's and rooms' entries go.
func runClusterRegisterReconciles(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	r := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, r)
	mustRegister(t, r, Conn{ID: "c1", User: "alice", Rooms: []string{"a", "b"}, LastActivity: t0, MessagesIn: 4})
	mustRegister(t, r, Conn{ID: "c1", User: "bob", Rooms: []string{"b", "c"}, MessagesIn: 1})
	c, err := r.Conn(ctx, "c1")
	noErr(t, err)
	equal(t, "record", []any{c.User, c.Rooms, c.LastActivity, c.MessagesIn}, []any{"bob", []string{"b", "c"}, t0, int64(4)})
	equal(t, "counts", counts(t, r), Counts{Active: 1, Peak: 1, Users: 1, Rooms: 2, Nodes: 1})
	for _, k := range []string{ks.Room("a"), ks.RoomMeta("a"), ks.User("alice")} {
		equal(t, "exists "+k, rdb.Exists(ctx, k).Val(), int64(0))
	}
	// The connection moves to another node: it leaves node-a's set.
	other := mustClusterRegistry(t, rdb, "node-b", nil)
	mustBeat(t, other)
	mustRegister(t, other, Conn{ID: "c1", User: "bob", Rooms: []string{"c"}})
	equal(t, "node-a's set", members(t, rdb, ks.NodeConns("node-a")), []string(nil))
	equal(t, "node-b's set", members(t, rdb, ks.NodeConns("node-b")), []string{"c1"})
	node, err := r.ConnNode(ctx, "c1")
	noErr(t, err)
	equal(t, "node", node, "node-b")
}

// A large room, connection index and activity are read whole, in more than
// one SSCAN/HSCAN page, never with SMEMBERS or HGETALL on the big keys.
func runClusterPages(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	r := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, r)
	const n = 2*scanCount + 17
	conns := make([]Conn, n)
	acts := make([]Activity, n)
	for i := range n {
		id := fmt.Sprintf("c%04d", i)
		conns[i] = Conn{ID: id, User: "u" + strconv.Itoa(i%7), Rooms: []string{"big"}, LastActivity: t0, ConnectedAt: t0}
		acts[i] = Activity{ConnID: id, LastActivity: t0.Add(time.Second)}
	}
	noErr(t, r.Reassert(ctx, conns))
	noErr(t, r.Touch(ctx, acts[:n/2]))
	before := commandCalls(t, rdb) // no CONFIG RESETSTAT: the suite's CROSSSLOT check needs the stats
	room, err := r.Room(ctx, "big")
	noErr(t, err)
	equal(t, "members", len(room.ConnIDs), n)
	equal(t, "users", len(room.Users), 7)
	act, err := r.Activity(ctx)
	noErr(t, err)
	equal(t, "activity entries", len(act), n)
	equal(t, "a touched one", act["c0000"], t0.Add(time.Second))
	equal(t, "a quiet one", act[fmt.Sprintf("c%04d", n-1)], t0)
	rooms, err := r.Rooms(ctx)
	noErr(t, err)
	equal(t, "rooms", rooms, []RoomSummary{{Name: "big", Connections: n}})
	calls := commandCalls(t, rdb)
	for cmd, n := range before {
		calls[cmd] -= n
	}
	// The room is one key with n members: several pages. The index and
	// activity buckets: at least one SSCAN/HSCAN each.
	if calls["sscan"] < 3+keyspace.Buckets {
		t.Errorf("sscan ran %d times", calls["sscan"])
	}
	if calls["hscan"] < keyspace.Buckets {
		t.Errorf("hscan ran %d times", calls["hscan"])
	}
	if calls["hgetall"] != 0 {
		t.Errorf("hgetall ran %d times", calls["hgetall"])
	}
	// SMEMBERS is only used on connrooms sets (one per connection read);
	// none of these reads reads a connection's rooms.
	if calls["smembers"] != 0 {
		t.Errorf("smembers ran %d times", calls["smembers"])
	}
}

// commandCalls sums the calls of each command over every primary.
func commandCalls(t *testing.T, rdb *redis.ClusterClient) map[string]int {
	t.Helper()
	var mu sync.Mutex
	calls := map[string]int{}
	re := regexp.MustCompile(`cmdstat_(\w+):calls=(\d+)`)
	noErr(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		info, err := m.Info(ctx, "commandstats").Result()
		mu.Lock()
		defer mu.Unlock()
		for _, s := range re.FindAllStringSubmatch(info, -1) {
			v, _ := strconv.Atoi(s[2])
			calls[s[1]] += v
		}
		return err
	}))
	return calls
}

// A registration under way (its id in the node's set, its record not yet
// written) survives a concurrent re-assertion that does not hold it; once
// it completes, it is an ordinary connection that the next re-assertion
// removes as stale, to the last key.
func runClusterReassertSparesInFlight(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	r := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, r)
	entered, release := make(chan struct{}), make(chan struct{})
	r.failAfter = func(op string, k int) error {
		if op == "register" && k == 1 {
			close(entered)
			<-release
		}
		return nil
	}
	errc := make(chan error, 1)
	go func() {
		errc <- r.Register(ctx, Conn{ID: "new", User: "alice", Rooms: []string{"lobby"}, ConnectedAt: t0})
	}()
	<-entered
	equal(t, "node set while registering", members(t, rdb, ks.NodeConns("node-a")), []string{"new"})
	equal(t, "record while registering", rdb.Exists(ctx, ks.Conn("new")).Val(), int64(0))
	noErr(t, r.Reassert(ctx, nil))
	equal(t, "node set after the re-assertion", members(t, rdb, ks.NodeConns("node-a")), []string{"new"})
	close(release)
	noErr(t, <-errc)
	r.failAfter = nil
	equal(t, "counts", counts(t, r), Counts{Active: 1, Peak: 1, Users: 1, Rooms: 1, Nodes: 1})
	noErr(t, r.Reassert(ctx, nil)) // connected at t0: stale now
	equal(t, "keys left", clusterKeysExcept(t, rdb, ks.Peak()), sorted(nodeTrace(ks, "node-a")...))
}
