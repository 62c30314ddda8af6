package registry

import (
	"context"
	"testing"
	"time"
)

func TestHeartbeatAndNodes(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", &Config{HeartbeatTTL: 3 * time.Second})
	r.now = func() time.Time { return t0 }
	lost, err := r.Heartbeat(ctx, Node{ID: "ignored", Addr: "10.0.0.1:8080", Version: "v1",
		StartedAt: t0.Add(-time.Minute), Connections: 12, MessagesPerSec: 3.5})
	noErr(t, err)
	equal(t, "first beat lost", lost, true)
	equal(t, "second beat lost", mustBeat(t, r), false)
	equal(t, "ttl", m.TTL(r.Keys().Node("node-a")), 3*time.Second)

	_, err = r.Heartbeat(ctx, Node{Addr: "10.0.0.1:8080", Version: "v1", StartedAt: t0.Add(-time.Minute),
		Connections: 12, MessagesPerSec: 3.5})
	noErr(t, err)
	nodes, err := r.Nodes(ctx)
	noErr(t, err)
	equal(t, "nodes", nodes, []Node{{ID: "node-a", Addr: "10.0.0.1:8080", Version: "v1",
		StartedAt: t0.Add(-time.Minute), LastSeen: t0, Connections: 12, MessagesPerSec: 3.5, Alive: true,
		Incarnation: r.Incarnation(), Interval: time.Second}}) // TTL/3 when not given

	m.FastForward(4 * time.Second)
	nodes, err = r.Nodes(ctx)
	noErr(t, err)
	equal(t, "dead node", nodes, []Node{{ID: "node-a"}})
	equal(t, "beat after expiry lost", mustBeat(t, r), true)
}

// snapshot is what a flush and re-assertion must restore.
type snapshot struct {
	Rooms  map[string]Room
	Users  map[string]User
	Counts Counts
}

func takeSnapshot(t *testing.T, r *Registry, rooms, users []string) snapshot {
	t.Helper()
	ctx := context.Background()
	s := snapshot{Rooms: map[string]Room{}, Users: map[string]User{}, Counts: counts(t, r)}
	for _, name := range rooms {
		room, err := r.Room(ctx, name)
		noErr(t, err)
		room.CreatedAt, room.LastActivity = time.Time{}, time.Time{} // room meta is not node state
		s.Rooms[name] = room
	}
	for _, name := range users {
		u, err := r.User(ctx, name)
		noErr(t, err)
		s.Users[name] = u
	}
	return s
}

func TestFlushAndReassert(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	b := MustRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	noErr(t, a.Authenticate(ctx, "a2", "bob", TypeAIAssistant, t0.Add(time.Second)))
	noErr(t, a.Touch(ctx, []Activity{{ConnID: "a1", LastActivity: t0.Add(time.Minute), MessagesIn: 5, MessagesOut: 9}}))
	noErr(t, a.SetState(ctx, "a3", StateInactive))
	rooms, users := []string{"lobby", "a-only"}, []string{"alice", "bob", "carol"}
	before := takeSnapshot(t, a, rooms, users)
	// What each node holds locally (the node package keeps this in memory).
	local := map[*Registry][]Conn{}
	for _, r := range []*Registry{a, b} {
		for _, id := range members(t, rdb, r.Keys().NodeConns(r.NodeID())) {
			c, err := r.Conn(ctx, id)
			noErr(t, err)
			local[r] = append(local[r], c)
		}
	}

	m.FlushAll()
	for _, r := range []*Registry{a, b} {
		if lost := mustBeat(t, r); !lost {
			t.Fatalf("%s: Heartbeat after flush: lost = false", r.NodeID())
		}
		noErr(t, r.Reassert(ctx, local[r]))
	}
	equal(t, "after re-assertion", takeSnapshot(t, a, rooms, users), before)

	noErr(t, a.Reassert(ctx, local[a])) // idempotent
	equal(t, "after second re-assertion", takeSnapshot(t, a, rooms, users), before)
}

func TestReassertDropsStale(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	k := a.Keys()
	mustBeat(t, a)
	old := time.Now().Add(-time.Hour)
	keep := Conn{ID: "keep", User: "alice", Rooms: []string{"lobby"}, ConnectedAt: old}
	mustRegister(t, a, keep)
	mustRegister(t, a, Conn{ID: "stale", User: "alice", Rooms: []string{"lobby", "gone"}, ConnectedAt: old})
	mustRegister(t, a, Conn{ID: "fresh", ConnectedAt: time.Now()}) // registered after the snapshot
	noErr(t, rdb.SAdd(ctx, k.NodeConns("node-a"), "orphan").Err()) // id without a hash

	noErr(t, a.Reassert(ctx, []Conn{keep}))
	equal(t, "nodeconns", members(t, rdb, k.NodeConns("node-a")), []string{"fresh", "keep"})
	equal(t, "conns", members(t, rdb, k.Conns()), []string{"fresh", "keep"})
	equal(t, "rooms", members(t, rdb, k.Rooms()), []string{"lobby"})
	equal(t, "alice", members(t, rdb, k.User("alice")), []string{"keep"})
	if n, _ := rdb.Exists(ctx, k.Conn("stale"), k.ConnRooms("stale"), k.RoomMeta("gone")).Result(); n != 0 {
		t.Fatalf("%d stale keys left", n)
	}
}

func TestDeregister(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	b := MustRegistry(t, rdb, "node-b", nil)
	seedTwoNodes(t, a, b)
	noErr(t, a.Deregister(ctx))
	assertOnlyB(t, rdb, b)
	equal(t, "node-a heartbeat", rdb.Exists(ctx, a.Keys().Node("node-a")).Val(), int64(0))
	noErr(t, a.Deregister(ctx)) // idempotent
	assertOnlyB(t, rdb, b)
}

// TestReassertRejoinsNodes: a node missing from P:nodes (its heartbeat's
// SADD failed) is added back by Reassert, even with no connections.
func TestReassertRejoinsNodes(t *testing.T) {
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	ctx := context.Background()
	mustBeat(t, r)
	noErr(t, rdb.SRem(ctx, r.Keys().Nodes(), "node-a").Err())
	noErr(t, r.Reassert(ctx, nil))
	if ok, err := rdb.SIsMember(ctx, r.Keys().Nodes(), "node-a").Result(); err != nil || !ok {
		t.Fatalf("node-a in P:nodes after Reassert: %v, %v", ok, err)
	}
}
