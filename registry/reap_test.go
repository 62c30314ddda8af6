package registry

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// seedTwoNodes registers node-a's and node-b's connections in shared rooms:
//
//	a1 alice {lobby, a-only}   a2 bob {lobby}   a3 guest {}
//	b1 alice {lobby}           b2 carol {}
func seedTwoNodes(t *testing.T, a, b *Registry) {
	t.Helper()
	ctx := context.Background()
	mustBeat(t, a)
	mustBeat(t, b)
	mustRegister(t, a, Conn{ID: "a1", User: "alice", Rooms: []string{"lobby", "a-only"}})
	mustRegister(t, a, Conn{ID: "a2", User: "bob", Rooms: []string{"lobby"}})
	mustRegister(t, a, Conn{ID: "a3"})
	mustRegister(t, b, Conn{ID: "b1", User: "alice", Rooms: []string{"lobby"}})
	mustRegister(t, b, Conn{ID: "b2"})
	noErr(t, b.Authenticate(ctx, "b2", "carol", TypeSystem, t0))
}

// assertOnlyB checks that nothing of node-a is left and node-b is intact.
func assertOnlyB(t *testing.T, rdb redis.UniversalClient, b *Registry) {
	t.Helper()
	k := b.Keys()
	equal(t, "conns", members(t, rdb, k.Conns()), []string{"b1", "b2"})
	equal(t, "lobby", members(t, rdb, k.Room("lobby")), []string{"b1"})
	equal(t, "alice", members(t, rdb, k.User("alice")), []string{"b1"})
	equal(t, "users", members(t, rdb, k.Users()), []string{"alice", "carol"})
	equal(t, "rooms", members(t, rdb, k.Rooms()), []string{"lobby"})
	equal(t, "nodes", members(t, rdb, k.Nodes()), []string{"node-b"})
	equal(t, "counts", counts(t, b), Counts{Active: 2, Peak: 5, Users: 2, Rooms: 1, Nodes: 1})
	for _, key := range allKeys(t, rdb) {
		for _, bad := range []string{"a1", "a2", "a3", "a-only", "bob", "node-a"} {
			if key == k.Conn(bad) || key == k.ConnRooms(bad) || key == k.Room(bad) ||
				key == k.RoomMeta(bad) || key == k.User(bad) || key == k.NodeConns(bad) || key == k.Node(bad) {
				t.Errorf("leftover key %s", key)
			}
		}
	}
	room, err := b.Room(context.Background(), "lobby")
	noErr(t, err)
	equal(t, "lobby users", room.Users, []string{"alice"})
}

func TestReapDeadNode(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	b := MustRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)

	n, err := b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "reaped while alive", n, 0)

	m.FastForward(7 * time.Second) // both heartbeats expire; only b beats again
	mustBeat(t, b)
	nodes, err := b.Nodes(ctx)
	noErr(t, err)
	equal(t, "alive flags", []bool{nodes[0].Alive, nodes[1].Alive}, []bool{false, true})

	n, err = b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "reaped", n, 3)
	assertOnlyB(t, rdb, b)

	n, err = b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "second reap", n, 0)
	assertOnlyB(t, rdb, b)
}

func TestConcurrentReapers(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	const total = 700 // several evict batches
	for i := range total {
		mustRegister(t, a, Conn{ID: fmt.Sprintf("a%04d", i), User: fmt.Sprintf("u%d", i%7),
			Rooms: []string{fmt.Sprintf("r%d", i%5), "lobby"}})
	}
	m.FastForward(7 * time.Second)

	reapers := []*Registry{
		MustRegistry(t, rdb, "node-b", nil), MustRegistry(t, rdb, "node-c", nil),
		MustRegistry(t, rdb, "node-b", nil), MustRegistry(t, rdb, "node-c", nil),
	}
	var wg sync.WaitGroup
	results := make([]int, len(reapers))
	errs := make([]error, len(reapers))
	for i, r := range reapers {
		wg.Go(func() { results[i], errs[i] = r.ReapDead(ctx) })
	}
	wg.Wait()
	sum := 0
	for i := range reapers {
		noErr(t, errs[i])
		sum += results[i]
	}
	equal(t, "removed in total", sum, total)
	equal(t, "keys left", allKeys(t, rdb), sorted(a.Keys().Peak()))
}

func TestReapSparesNodeThatCameBack(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	b := MustRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	m.FastForward(7 * time.Second)
	mustBeat(t, b)
	if lost := mustBeat(t, a); !lost {
		t.Fatal("Heartbeat after expiry: lost = false, want true")
	}
	before := allKeys(t, rdb)
	n, err := b.ReapDead(ctx)
	noErr(t, err)
	equal(t, "reaped", n, 0)
	equal(t, "keys", allKeys(t, rdb), before)

	// The in-Lua re-check: even if a reaper decided node-a was dead just
	// before it came back, the script must not touch it.
	gone, err := b.evictAll(ctx, "node-a", "reap")
	noErr(t, err)
	equal(t, "evict of live node", len(gone), 0)
	equal(t, "keys after evict", allKeys(t, rdb), before)
	equal(t, "counts", counts(t, b).Active, int64(5))
}

func TestReapNeverReapsSelf(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	mustRegister(t, a, Conn{ID: "a1"})
	m.FastForward(7 * time.Second)
	n, err := a.ReapDead(ctx)
	noErr(t, err)
	equal(t, "self reaped", n, 0)
	equal(t, "conns", members(t, rdb, a.Keys().Conns()), []string{"a1"})
}

// With ReapGrace (sentinel mode), a missing heartbeat is reaped only after
// the grace of sightings; a node that beats again within it (a failover
// that outlasted the heartbeat TTL) is spared, and the clock starts anew.
func TestReapGraceSingle(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	b := MustRegistry(t, rdb, "node-b", &Config{ReapGrace: 5 * time.Second})
	seedTwoNodes(t, a, b)
	clock := t0
	b.now = func() time.Time { return clock }
	reap := func(what string, want int) {
		t.Helper()
		n, err := b.ReapDead(ctx)
		noErr(t, err)
		equal(t, what, n, want)
	}
	m.FastForward(7 * time.Second) // both heartbeats expire, as on a promoted replica
	mustBeat(t, b)
	reap("first sighting", 0)
	clock = clock.Add(4 * time.Second)
	reap("within the grace", 0)
	mustBeat(t, a) // node-a is back
	clock = clock.Add(2 * time.Second)
	reap("alive again", 0)
	m.FastForward(7 * time.Second)
	mustBeat(t, b)
	clock = clock.Add(time.Second)
	reap("missing again: a new first sighting", 0)
	clock = clock.Add(5 * time.Second)
	reap("past the grace", 3)
	assertOnlyB(t, rdb, b)
}
