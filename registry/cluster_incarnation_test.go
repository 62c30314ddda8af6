package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
)

// A process restarted with the same node id keeps its predecessor's young
// connections until its second beat proves the predecessor dead, then
// drops every one (TestRestartSameIDDropsPredecessor in cluster mode).
func runClusterRestartSameID(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	old := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, old)
	now := time.Now()
	mustRegister(t, old, Conn{ID: "dead1", User: "alice", Rooms: []string{"lobby"}, ConnectedAt: now})
	mustRegister(t, old, Conn{ID: "dead2", User: "bob", Rooms: []string{"lobby"}, ConnectedAt: now})
	fresh := mustClusterRegistry(t, rdb, "node-a", nil)
	equal(t, "first beat of the new process: lost", mustBeat(t, fresh), false)
	live := Conn{ID: "live", User: "carol", Rooms: []string{"lobby"}, ConnectedAt: now}
	mustRegister(t, fresh, live)
	noErr(t, fresh.Reassert(ctx, []Conn{live}))
	equal(t, "after the first re-assertion", counts(t, fresh).Active, int64(3))
	equal(t, "second beat: predecessor proven dead", mustBeat(t, fresh), true)
	noErr(t, fresh.Reassert(ctx, []Conn{live}))
	c := counts(t, fresh)
	equal(t, "after the takeover", []int64{c.Active, c.Users, c.Rooms}, []int64{1, 1, 1})
	equal(t, "node set", members(t, rdb, ks.NodeConns("node-a")), []string{"live"})
	equal(t, "room", members(t, rdb, ks.Room("lobby")), []string{"live"})
	for _, id := range []string{"dead1", "dead2"} {
		if _, err := fresh.Conn(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Conn(%s) = %v, want ErrNotFound", id, err)
		}
	}
	equal(t, "keys", clusterKeysExcept(t, rdb, ks.Peak()), sortedSet(append(nodeTrace(ks, "node-a"),
		ks.NodeConns("node-a"), ks.Conn("live"), ks.ConnRooms("live"), ks.Conns(keyspace.Bucket("live")),
		ks.User("carol"), ks.Users(keyspace.Bucket("carol")), ks.Room("lobby"), ks.RoomMeta("lobby"),
		ks.Rooms(keyspace.Bucket("lobby")))...))
}

// Two live processes sharing an id report the conflict and never remove
// each other's connections (TestDuplicateIDIsSafe in cluster mode).
func runClusterDuplicateID(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	a := mustClusterRegistry(t, rdb, "node-a", nil)
	b := mustClusterRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	mustRegister(t, a, Conn{ID: "a1", User: "alice", ConnectedAt: t0})
	mustBeat(t, b)
	mustRegister(t, b, Conn{ID: "b1", User: "bob", ConnectedAt: t0})
	conflicts := 0
	for range 4 {
		for _, r := range []*Registry{a, b} {
			if _, err := beat(r); errors.Is(err, ErrNodeIDConflict) {
				conflicts++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		noErr(t, a.Reassert(ctx, []Conn{{ID: "a1", User: "alice", ConnectedAt: t0}}))
		noErr(t, b.Reassert(ctx, []Conn{{ID: "b1", User: "bob", ConnectedAt: t0}}))
	}
	if conflicts < 7 {
		t.Fatalf("%d conflicts reported over 8 interleaved beats, want at least 7", conflicts)
	}
	equal(t, "both processes' connections", members(t, rdb, ks.NodeConns("node-a")), []string{"a1", "b1"})
	if _, err := beat(a); !errors.Is(err, ErrNodeIDConflict) {
		t.Fatalf("a's beat after b's last: %v, want ErrNodeIDConflict", err)
	}
	lost, err := beat(a)
	noErr(t, err)
	equal(t, "a after b stopped: lost", lost, true)
	noErr(t, a.Reassert(ctx, []Conn{{ID: "a1", User: "alice", ConnectedAt: t0}}))
	equal(t, "after b stopped", members(t, rdb, ks.NodeConns("node-a")), []string{"a1"})
	equal(t, "users", counts(t, a).Users, int64(1))
}
