package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// beat heartbeats r and returns lost and the error unchecked.
func beat(r *Registry) (bool, error) {
	return r.Heartbeat(context.Background(), Node{Addr: "127.0.0.1:0", Version: "test"})
}

// TestRestartSameIDDropsPredecessor: a process killed with SIGKILL and
// started again with the same node id at once. Its predecessor's connections
// were registered a moment ago (inside the TTL), which the connected_at
// cutoff alone would spare; the new process keeps them only until its second
// beat proves the predecessor dead, then drops every one.
func TestRestartSameIDDropsPredecessor(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	old := MustRegistry(t, rdb, "node-a", nil)
	mustBeat(t, old)
	now := time.Now()
	mustRegister(t, old, Conn{ID: "dead1", User: "alice", Rooms: []string{"lobby"}, ConnectedAt: now})
	mustRegister(t, old, Conn{ID: "dead2", User: "bob", Rooms: []string{"lobby"}, ConnectedAt: now})
	// old is "killed": it never beats again. The new process starts.
	fresh := MustRegistry(t, rdb, "node-a", nil)
	if fresh.Incarnation() == old.Incarnation() {
		t.Fatal("two registries share an incarnation")
	}
	equal(t, "first beat of the new process: lost", mustBeat(t, fresh), false)
	mustRegister(t, fresh, Conn{ID: "live", User: "carol", Rooms: []string{"lobby"}, ConnectedAt: now})
	// The node re-asserts on its first beat: the predecessor may still be
	// alive (a duplicate), so its connections stay for now.
	noErr(t, fresh.Reassert(ctx, []Conn{{ID: "live", User: "carol", Rooms: []string{"lobby"}, ConnectedAt: now}}))
	equal(t, "after the first re-assertion", counts(t, fresh).Active, 3)

	equal(t, "second beat: predecessor proven dead, re-assert", mustBeat(t, fresh), true)
	noErr(t, fresh.Reassert(ctx, []Conn{{ID: "live", User: "carol", Rooms: []string{"lobby"}, ConnectedAt: now}}))
	c := counts(t, fresh)
	if c.Active != 1 || c.Users != 1 || c.Rooms != 1 {
		t.Fatalf("after the takeover: %+v, want 1 connection, 1 user, 1 room", c)
	}
	equal(t, "node set", members(t, rdb, fresh.Keys().NodeConns("node-a")), []string{"live"})
	equal(t, "room", members(t, rdb, fresh.Keys().Room("lobby")), []string{"live"})
	for _, id := range []string{"dead1", "dead2"} {
		if _, err := fresh.Conn(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Conn(%s) = %v, want ErrNotFound", id, err)
		}
	}
}

// TestRestartAfterExpiryDropsAtOnce: when the predecessor's heartbeat has
// already expired, the new process's first beat reports lost and its first
// re-assertion removes every predecessor entry, however young.
func TestRestartAfterExpiryDropsAtOnce(t *testing.T) {
	ctx := context.Background()
	m, rdb := MustMiniredis(t)
	old := MustRegistry(t, rdb, "node-a", nil)
	mustBeat(t, old)
	mustRegister(t, old, Conn{ID: "dead1", User: "alice", ConnectedAt: time.Now()})
	m.FastForward(DefaultHeartbeatTTL + time.Second)
	fresh := MustRegistry(t, rdb, "node-a", nil)
	equal(t, "first beat after expiry: lost", mustBeat(t, fresh), true)
	noErr(t, fresh.Reassert(ctx, nil))
	equal(t, "entries left", allKeysExcept(t, rdb, fresh.Keys().Node("node-a")), []string{"ws:nodes", "ws:peak"})
}

// TestDuplicateIDIsSafe: two live processes wrongly share an id. Each sees
// the other's incarnation in the heartbeat, reports the conflict, and never
// removes the other's connections, however many times it re-asserts.
func TestDuplicateIDIsSafe(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	a := MustRegistry(t, rdb, "node-a", nil)
	b := MustRegistry(t, rdb, "node-a", nil)
	mustBeat(t, a)
	mustRegister(t, a, Conn{ID: "a1", User: "alice", ConnectedAt: t0})
	mustBeat(t, b)
	mustRegister(t, b, Conn{ID: "b1", User: "bob", ConnectedAt: t0})
	var conflicts int
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
	equal(t, "both processes' connections", members(t, rdb, a.Keys().NodeConns("node-a")), []string{"a1", "b1"})
	// b stops. a's next beat still finds b's last value; the one after
	// finds its own, so b missed a beat: a takes over.
	if _, err := beat(a); !errors.Is(err, ErrNodeIDConflict) {
		t.Fatalf("a's beat after b's last: %v, want ErrNodeIDConflict", err)
	}
	lost, err := beat(a)
	noErr(t, err)
	equal(t, "a after b stopped: lost", lost, true)
	noErr(t, a.Reassert(ctx, []Conn{{ID: "a1", User: "alice", ConnectedAt: t0}}))
	equal(t, "after b stopped", members(t, rdb, a.Keys().NodeConns("node-a")), []string{"a1"})
}

// TestUserLimitIgnoresDeadNodes: connections of a node whose heartbeat is
// gone, which missed a beat, or whose process was replaced do not count
// against the per-user limit.
func TestUserLimitIgnoresDeadNodes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		crash func(m interface{ FastForward(time.Duration) }, r *Registry) error
	}{
		{"heartbeat expired", func(_ interface{ FastForward(time.Duration) }, r *Registry) error {
			return r.rdb.Del(ctx, r.Keys().Node("node-a")).Err()
		}},
		{"missed a beat", func(m interface{ FastForward(time.Duration) }, _ *Registry) error {
			m.FastForward(DefaultHeartbeatTTL/3*3/2 + 100*time.Millisecond)
			return nil
		}},
		{"restarted with the same id", func(_ interface{ FastForward(time.Duration) }, r *Registry) error {
			_, err := beat(MustRegistry(t, r.rdb, "node-a", nil))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rdb := MustMiniredis(t)
			crashed := MustRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 1})
			other := MustRegistry(t, rdb, "node-b", &Config{MaxConnsPerUser: 1})
			mustBeat(t, crashed)
			mustRegister(t, crashed, Conn{ID: "c1"})
			noErr(t, crashed.Authenticate(ctx, "c1", "alice", TypeUser, t0))
			mustRegister(t, other, Conn{ID: "c2"})
			mustBeat(t, other)
			isErr(t, other.Authenticate(ctx, "c2", "alice", TypeUser, t0), ErrUserLimit)

			noErr(t, tc.crash(m, crashed))
			mustBeat(t, other) // other stays alive across the fast-forward
			noErr(t, other.Authenticate(ctx, "c2", "alice", TypeUser, t0))
			// The live connection counts: a third one is refused.
			mustRegister(t, other, Conn{ID: "c3"})
			isErr(t, other.Authenticate(ctx, "c3", "alice", TypeUser, t0), ErrUserLimit)
		})
	}
}

// allKeysExcept lists every key but skip.
func allKeysExcept(tb testing.TB, rdb redis.UniversalClient, skip string) []string {
	tb.Helper()
	var out []string
	for _, k := range allKeys(tb, rdb) {
		if k != skip {
			out = append(out, k)
		}
	}
	return out
}
