package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

// TestCluster runs the cluster-mode suite on one real Redis Cluster (three
// primaries), started once: every subtest begins with FLUSHALL on every
// primary. The suite is framed by the CROSSSLOT check: first it proves that
// a CROSSSLOT error shows in INFO errorstats (and resets the stats), last it
// asserts that nothing in the suite caused one.
func TestCluster(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{})
	rdb := c.Client(t)
	ctx := context.Background()
	t.Run("crossslot check works", func(t *testing.T) {
		err := rdb.Do(ctx, "MGET", "{probe-a}x", "{probe-b}y").Err()
		if err == nil || !redis.HasErrorPrefix(err, "CROSSSLOT") {
			t.Fatalf("MGET across slots: %v, want CROSSSLOT", err)
		}
		if n := crossSlotErrors(t, rdb); n == 0 {
			t.Fatal("a CROSSSLOT error is not counted in INFO errorstats: the final check could not fail")
		}
		noErr(t, rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return m.ConfigResetStat(ctx).Err()
		}))
		equal(t, "CROSSSLOT errors after CONFIG RESETSTAT", crossSlotErrors(t, rdb), 0)
	})
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, rdb *redis.ClusterClient)
	}{
		{"lifecycle", runClusterLifecycle},
		{"touch and limit", runClusterTouchAndLimit},
		{"reap", runClusterReap},
		{"reap spares a node that came back", runClusterReapSparesLive},
		{"reap waits out the grace", runClusterReapGrace},
		{"scripts load once after NOSCRIPT", runClusterScriptLoadOnce},
		{"concurrent reapers and events", runClusterConcurrentReapers},
		{"flush and reassert", runClusterFlushAndReassert},
		{"reassert drops stale", runClusterReassertDropsStale},
		{"reassert spares a registration under way", runClusterReassertSparesInFlight},
		{"deregister", runClusterDeregister},
		{"register reconciles", runClusterRegisterReconciles},
		{"user limit under concurrency", runClusterUserLimitConcurrent},
		{"authenticate drops a stale user_pending", runClusterStalePending},
		{"user limit ignores dead nodes", runClusterUserLimitDead},
		{"counts are exact", runClusterCounts},
		{"indexes read in pages", runClusterPages},
		{"restart with the same id drops the predecessor", runClusterRestartSameID},
		{"duplicate id is safe", runClusterDuplicateID},
		{"failure at every step is repaired", runClusterFaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flushCluster(t, rdb)
			tc.fn(t, rdb)
		})
	}
	t.Run("no CROSSSLOT", func(t *testing.T) {
		equal(t, "CROSSSLOT errors of the whole suite", crossSlotErrors(t, rdb), 0)
	})
}

// crossSlotErrors sums errorstat_CROSSSLOT over every primary.
func crossSlotErrors(t *testing.T, rdb *redis.ClusterClient) int {
	t.Helper()
	var mu sync.Mutex
	total := 0
	re := regexp.MustCompile(`errorstat_CROSSSLOT:count=(\d+)`)
	noErr(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		info, err := m.Info(ctx, "errorstats").Result()
		if err != nil {
			return err
		}
		if s := re.FindStringSubmatch(info); s != nil {
			n, _ := strconv.Atoi(s[1])
			mu.Lock()
			total += n
			mu.Unlock()
		}
		return nil
	}))
	return total
}

func flushCluster(t *testing.T, rdb *redis.ClusterClient) {
	t.Helper()
	noErr(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	}))
}

// clusterKeys returns every key on every primary, sorted.
func clusterKeys(t *testing.T, rdb *redis.ClusterClient) []string {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	noErr(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}))
	sort.Strings(keys)
	return slices.Compact(keys)
}

// clusterKeysExcept is clusterKeys without the peak (written by every
// sample, whatever the test does).
func clusterKeysExcept(t *testing.T, rdb *redis.ClusterClient, skip ...string) []string {
	t.Helper()
	var out []string
	for _, k := range clusterKeys(t, rdb) {
		if !slices.Contains(skip, k) {
			out = append(out, k)
		}
	}
	return out
}

func mustClusterRegistry(t *testing.T, rdb *redis.ClusterClient, node string, cfg *Config) *Registry {
	t.Helper()
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	c.Cluster = true
	if c.ReapGrace == 0 {
		c.ReapGrace = -1 // reap at the first sighting; runClusterReapGrace covers the grace
	}
	return MustRegistry(t, rdb, node, &c)
}

// nodeTrace is what a live node with no connections leaves: its heartbeat
// and its node index entry.
func nodeTrace(ks keyspace.Cluster, node string) []string {
	return []string{ks.Node(node), ks.Nodes(keyspace.Bucket(node))}
}

func runClusterLifecycle(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	r := mustClusterRegistry(t, rdb, "node-a", &Config{Prefix: "life"})
	ks := keyspace.New("life")
	equal(t, "first beat lost", mustBeat(t, r), true)
	equal(t, "second beat lost", mustBeat(t, r), false)
	if ttl := rdb.PTTL(ctx, ks.Node("node-a")).Val(); ttl <= 0 || ttl > DefaultHeartbeatTTL {
		t.Fatalf("heartbeat TTL %v, want in (0, %v]", ttl, DefaultHeartbeatTTL)
	}
	mustRegister(t, r, Conn{ID: "c1", IP: "10.0.0.1"})
	mustRegister(t, r, Conn{ID: "c2", IP: "10.0.0.2"})
	noErr(t, r.Authenticate(ctx, "c1", "alice", TypeUser, t0.Add(1*time.Second)))
	noErr(t, r.Authenticate(ctx, "c2", "bob", TypeAIAssistant, t0.Add(2*time.Second)))
	for _, room := range []string{"lobby", "ops"} {
		noErr(t, r.Join(ctx, "c1", room, t0.Add(3*time.Second)))
	}
	noErr(t, r.Join(ctx, "c2", "lobby", t0.Add(4*time.Second)))
	equal(t, "counts", counts(t, r), Counts{Active: 2, Peak: 2, Users: 2, Rooms: 2, Nodes: 1})

	b := keyspace.Bucket
	want := sortedSet(ks.Conn("c1"), ks.Conn("c2"), ks.ConnRooms("c1"), ks.ConnRooms("c2"),
		ks.Conns(b("c1")), ks.Conns(b("c2")), ks.Peak(), ks.User("alice"), ks.User("bob"),
		ks.Users(b("alice")), ks.Users(b("bob")), ks.Room("lobby"), ks.Room("ops"),
		ks.RoomMeta("lobby"), ks.RoomMeta("ops"), ks.Rooms(b("lobby")), ks.Rooms(b("ops")),
		ks.Nodes(b("node-a")), ks.Node("node-a"), ks.NodeConns("node-a"))
	equal(t, "keys while connected (keyspace names only)", clusterKeys(t, rdb), want)

	room, err := r.Room(ctx, "lobby")
	noErr(t, err)
	equal(t, "lobby", room, Room{Name: "lobby", ConnIDs: []string{"c1", "c2"}, Users: []string{"alice", "bob"},
		Connections: 2, CreatedAt: t0.Add(3 * time.Second), LastActivity: t0.Add(4 * time.Second)})
	u, err := r.User(ctx, "alice")
	noErr(t, err)
	equal(t, "alice", u, User{Name: "alice", Conns: []Conn{{ID: "c1", NodeID: "node-a", User: "alice",
		Type: TypeUser, State: StateAuthenticated, IP: "10.0.0.1", ConnectedAt: t0,
		AuthenticatedAt: t0.Add(1 * time.Second), Rooms: []string{"lobby", "ops"}}}})
	node, err := r.ConnNode(ctx, "c2")
	noErr(t, err)
	equal(t, "conn node", node, "node-a")
	rooms, err := r.Rooms(ctx)
	noErr(t, err)
	equal(t, "rooms", rooms, []RoomSummary{{Name: "lobby", Connections: 2}, {Name: "ops", Connections: 1}})
	nodes, err := r.Nodes(ctx)
	noErr(t, err)
	equal(t, "nodes", []any{len(nodes), nodes[0].ID, nodes[0].Alive}, []any{1, "node-a", true})
	n, err := r.NodeConnCount(ctx)
	noErr(t, err)
	equal(t, "node conn count", n, int64(2))
	uc, err := r.UserConnCount(ctx, "bob")
	noErr(t, err)
	equal(t, "bob's conns", uc, 1)
	noErr(t, r.SetState(ctx, "c2", StateInactive))
	isErr(t, r.SetState(ctx, "ghost", StateInactive), ErrNotFound)
	isErr(t, r.Join(ctx, "ghost", "lobby", t0), ErrNotFound)
	isErr(t, r.Authenticate(ctx, "ghost", "alice", TypeUser, t0), ErrNotFound)

	noErr(t, r.Leave(ctx, "c1", "ops", t0.Add(5*time.Second)))
	_, err = r.Room(ctx, "ops")
	isErr(t, err, ErrNotFound)
	noErr(t, r.Leave(ctx, "c1", "ops", t0.Add(5*time.Second))) // idempotent
	room, err = r.Room(ctx, "lobby")
	noErr(t, err)
	equal(t, "lobby after leave", room.LastActivity, t0.Add(4*time.Second)) // untouched by leaving ops

	noErr(t, r.Unregister(ctx, "c1"))
	noErr(t, r.Unregister(ctx, "c2"))
	noErr(t, r.Unregister(ctx, "c2")) // idempotent
	equal(t, "keys after unregister", clusterKeys(t, rdb), sortedSet(ks.Peak(), ks.Nodes(b("node-a")), ks.Node("node-a")))
	equal(t, "counts after", counts(t, r), Counts{Peak: 2, Nodes: 1})
	_, err = r.Conn(ctx, "c1")
	isErr(t, err, ErrNotFound)
	_, err = r.ConnNode(ctx, "c1")
	isErr(t, err, ErrNotFound)
	_, err = r.User(ctx, "alice")
	isErr(t, err, ErrNotFound)
}

func sortedSet(s ...string) []string {
	out := sorted(s...)
	return slices.Compact(out)
}

func runClusterTouchAndLimit(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	r := mustClusterRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 1})
	ks := keyspace.New(DefaultPrefix)
	mustBeat(t, r)
	mustRegister(t, r, Conn{ID: "c1", Rooms: []string{"lobby"}})
	mustRegister(t, r, Conn{ID: "c2"})
	noErr(t, r.Authenticate(ctx, "c1", "alice", TypeUser, t0))
	before := clusterKeys(t, rdb)
	c2, err := r.Conn(ctx, "c2")
	noErr(t, err)
	isErr(t, r.Authenticate(ctx, "c2", "alice", TypeUser, t0), ErrUserLimit)
	equal(t, "keys unchanged by a refusal", clusterKeys(t, rdb), before)
	after, err := r.Conn(ctx, "c2")
	noErr(t, err)
	equal(t, "c2 unchanged by a refusal", after, c2)
	equal(t, "no user_pending left", rdb.HExists(ctx, ks.Conn("c2"), "user_pending").Val(), false)

	// Many activities over many buckets; only activity buckets appear.
	var acts []Activity
	want := map[string]time.Time{}
	for i := range 2*touchBatch + 7 {
		id := "t" + strconv.Itoa(i)
		mustRegister(t, r, Conn{ID: id})
		at := t0.Add(time.Duration(i) * time.Millisecond)
		acts = append(acts, Activity{ConnID: id, LastActivity: at, MessagesIn: int64(i)})
		want[id] = at
	}
	acts = append(acts, Activity{ConnID: "c1", LastActivity: t0.Add(time.Second), MessagesIn: 2})
	want["c1"] = t0.Add(time.Second) // c2: never active, no last_activity, not listed
	noErr(t, r.Touch(ctx, acts))
	for _, k := range clusterKeys(t, rdb) {
		if regexp.MustCompile(`^\{ws:c\d+\}:activity$`).MatchString(k) {
			continue
		}
		if !slices.Contains(before, k) && !regexp.MustCompile(`^\{ws:[cn]\d+\}:(conn:t\d+|conns|connrooms:t\d+|nodeconns:node-a)$`).MatchString(k) {
			t.Fatalf("unexpected key %s after Touch", k)
		}
	}
	got, err := r.Activity(ctx)
	noErr(t, err)
	equal(t, "cluster activity", got, want)
	c, err := r.Conn(ctx, "c1")
	noErr(t, err)
	equal(t, "touched", []any{c.LastActivity, c.MessagesIn}, []any{t0.Add(time.Second), int64(2)})
	noErr(t, r.Unregister(ctx, "c1"))
	equal(t, "activity gone with its conn", rdb.HExists(ctx, ks.Activity(keyspace.Bucket("c1")), "c1").Val(), false)
	var ne *NameError
	if err := r.Touch(ctx, []Activity{{ConnID: "a:b"}}); !errors.As(err, &ne) {
		t.Fatalf("Touch(bad id) = %v, want *NameError", err)
	}
}

// clusterAssertOnlyB is assertOnlyB for the cluster layout: node-b is
// intact and every key left belongs to it (or is the peak).
func clusterAssertOnlyB(t *testing.T, rdb *redis.ClusterClient, b *Registry, peak int64) {
	t.Helper()
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	bk := keyspace.Bucket
	equal(t, "counts", counts(t, b), Counts{Active: 2, Peak: peak, Users: 2, Rooms: 1, Nodes: 1})
	room, err := b.Room(ctx, "lobby")
	noErr(t, err)
	equal(t, "lobby", []any{room.ConnIDs, room.Users}, []any{[]string{"b1"}, []string{"alice"}})
	want := sortedSet(ks.Peak(), ks.Node("node-b"), ks.Nodes(bk("node-b")), ks.NodeConns("node-b"),
		ks.Conn("b1"), ks.Conn("b2"), ks.ConnRooms("b1"), ks.Conns(bk("b1")), ks.Conns(bk("b2")),
		ks.User("alice"), ks.User("carol"), ks.Users(bk("alice")), ks.Users(bk("carol")),
		ks.Room("lobby"), ks.RoomMeta("lobby"), ks.Rooms(bk("lobby")))
	equal(t, "keys: node-b's only", clusterKeys(t, rdb), want)
	equal(t, "alice", rdb.SMembers(ctx, ks.User("alice")).Val(), []string{"b1"})
	equal(t, "nodeconns", sorted(rdb.SMembers(ctx, ks.NodeConns("node-b")).Val()...), []string{"b1", "b2"})
}

// A missing heartbeat is reaped only after ReapGrace of sightings; a node
// that beats again within it (its shard failed over) is spared and the
// clock starts anew.
func runClusterReapGrace(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	b := mustClusterRegistry(t, rdb, "node-b", &Config{ReapGrace: 5 * time.Second})
	seedTwoNodes(t, a, b)
	clock := t0
	b.now = func() time.Time { return clock }
	hb := keyspace.New(DefaultPrefix).Node("node-a")
	reap := func(what string, want int) {
		t.Helper()
		n, err := b.ReapDead(ctx)
		noErr(t, err)
		equal(t, what, n, want)
	}
	noErr(t, rdb.Del(ctx, hb).Err())
	reap("first sighting", 0)
	clock = clock.Add(4 * time.Second)
	reap("within the grace", 0)
	mustBeat(t, a) // back: the failover is over
	clock = clock.Add(2 * time.Second)
	reap("alive again", 0)
	noErr(t, rdb.Del(ctx, hb).Err())
	clock = clock.Add(time.Second)
	reap("missing again: a new first sighting", 0)
	clock = clock.Add(5 * time.Second)
	reap("past the grace", 3)
	clusterAssertOnlyB(t, rdb, b, 5)
}

// After every primary lost its script cache (a failover to a replica, a
// restart), concurrent callers that meet NOSCRIPT share one load of the
// scripts instead of each loading all of them on every primary.
func runClusterScriptLoadOnce(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	r := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, r)
	noErr(t, rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.ScriptFlush(ctx).Err() }))
	before := scriptLoads(t, rdb)
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- r.Register(ctx, Conn{ID: fmt.Sprintf("c%d", i), ConnectedAt: t0}) }()
	}
	for range n {
		noErr(t, <-errs)
	}
	loads := scriptLoads(t, rdb) - before
	primaries := int64(0)
	noErr(t, rdb.ForEachMaster(ctx, func(context.Context, *redis.Client) error { atomic.AddInt64(&primaries, 1); return nil }))
	one := int64(len(clusterScripts)) * primaries // one load of every script on every primary
	if loads < one || loads > 2*one {
		t.Errorf("%d SCRIPT LOADs for %d concurrent registrations, want one or two rounds of %d", loads, n, one)
	}
	count, err := r.NodeConnCount(ctx)
	noErr(t, err)
	equal(t, "registered", count, int64(n))
}

// scriptLoads sums SCRIPT LOAD calls over every primary (INFO commandstats).
func scriptLoads(t *testing.T, rdb *redis.ClusterClient) int64 {
	t.Helper()
	var total atomic.Int64
	noErr(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_script|load:calls="); ok {
				calls, _, _ := strings.Cut(v, ",")
				n, err := strconv.ParseInt(calls, 10, 64)
				if err != nil {
					return err
				}
				total.Add(n)
			}
		}
		return nil
	}))
	return total.Load()
}

func runClusterReap(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	b := mustClusterRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	equal(t, "peak sampled", counts(t, b).Peak, int64(5))
	n, err := b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "reaped while alive", n, 0)
	noErr(t, rdb.Del(ctx, keyspace.New(DefaultPrefix).Node("node-a")).Err())
	nodes, err := b.Nodes(ctx)
	noErr(t, err)
	equal(t, "alive flags", []bool{nodes[0].Alive, nodes[1].Alive}, []bool{false, true})
	n, err = b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "reaped", n, 3)
	clusterAssertOnlyB(t, rdb, b, 5)
	n, err = b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "second reap", n, 0)
	clusterAssertOnlyB(t, rdb, b, 5)
}

func runClusterReapSparesLive(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	b := mustClusterRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	noErr(t, rdb.Del(ctx, keyspace.New(DefaultPrefix).Node("node-a")).Err())
	equal(t, "a's beat after its key went: lost", mustBeat(t, a), true)
	before := clusterKeys(t, rdb)
	n, err := b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "reaped", n, 0)
	// Even a reaper that decided node-a was dead just before it came back
	// must not touch it.
	gone, err := b.cEvictAll(ctx, "node-a", "reap")
	noErr(t, err)
	equal(t, "evict of a live node", len(gone), 0)
	equal(t, "keys", clusterKeys(t, rdb), before)
	equal(t, "active", counts(t, b).Active, int64(5))
	// Self is never reaped.
	noErr(t, rdb.Del(ctx, keyspace.New(DefaultPrefix).Node("node-b")).Err())
	n, err = b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "self reaped", n, 0)
}

// An authentication interrupted after its user step leaves the connection
// in that user's set, named only by user_pending. The next authentication,
// for another user, takes it out of that set before it overwrites
// user_pending, so nothing is left that no record names.
func runClusterStalePending(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	r := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, r)
	mustRegister(t, r, Conn{ID: "c1"})
	failAt(r, "authenticate", 2)
	isErr(t, r.Authenticate(ctx, "c1", "mallory", TypeUser, t0), errInjected)
	r.failAfter = nil
	equal(t, "stale user_pending", rdb.HGet(ctx, ks.Conn("c1"), "user_pending").Val(), "mallory")
	equal(t, "mallory's set", members(t, rdb, ks.User("mallory")), []string{"c1"})

	noErr(t, r.Authenticate(ctx, "c1", "alice", TypeUser, t0))
	equal(t, "mallory's set after", members(t, rdb, ks.User("mallory")), []string(nil))
	equal(t, "mallory in the user index", rdb.SIsMember(ctx, ks.Users(keyspace.Bucket("mallory")), "mallory").Val(), false)
	equal(t, "alice's set", members(t, rdb, ks.User("alice")), []string{"c1"})
	equal(t, "user_pending left", rdb.HExists(ctx, ks.Conn("c1"), "user_pending").Val(), false)
	c, err := r.Conn(ctx, "c1")
	noErr(t, err)
	equal(t, "c1's user", c.User, "alice")
	equal(t, "counts", counts(t, r), Counts{Active: 1, Peak: 1, Users: 1, Nodes: 1})
}
