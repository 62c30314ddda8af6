package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
)

// Eight connections of one user authenticate at once against a limit of
// three: exactly three get in.
func runClusterUserLimitConcurrent(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	r := mustClusterRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 3})
	mustBeat(t, r)
	const n = 8
	for i := range n {
		mustRegister(t, r, Conn{ID: fmt.Sprintf("c%d", i)})
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = r.Authenticate(ctx, fmt.Sprintf("c%d", i), "alice", TypeUser, t0) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrUserLimit):
			c, err := r.Conn(ctx, fmt.Sprintf("c%d", i))
			noErr(t, err)
			equal(t, "refused conn's user", c.User, "")
			equal(t, "refused conn's user_pending", rdb.HExists(ctx, ks.Conn(c.ID), "user_pending").Val(), false)
		default:
			t.Fatalf("Authenticate(c%d): %v", i, err)
		}
	}
	equal(t, "authenticated", ok, 3)
	uc, err := r.UserConnCount(ctx, "alice")
	noErr(t, err)
	equal(t, "alice's connections", uc, 3)
}

// Connections of a node whose heartbeat is gone, which missed a beat, or
// whose process was replaced do not count against the limit.
func runClusterUserLimitDead(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	cases := []struct {
		name  string
		crash func(r *Registry) error
	}{
		{"heartbeat expired", func(*Registry) error { return rdb.Del(ctx, ks.Node("node-a")).Err() }},
		// TTL 6 s, interval 2 s: 1 s left means 5 s since the beat, more
		// than 1.5 intervals.
		{"missed a beat", func(*Registry) error { return rdb.PExpire(ctx, ks.Node("node-a"), time.Second).Err() }},
		{"restarted with the same id", func(r *Registry) error {
			_, err := beat(mustClusterRegistry(t, rdb, "node-a", nil))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flushCluster(t, rdb)
			cfg := &Config{MaxConnsPerUser: 1}
			crashed := mustClusterRegistry(t, rdb, "node-a", cfg)
			other := mustClusterRegistry(t, rdb, "node-b", cfg)
			mustBeat(t, crashed)
			mustBeat(t, other)
			mustRegister(t, crashed, Conn{ID: "c1"})
			noErr(t, crashed.Authenticate(ctx, "c1", "alice", TypeUser, t0))
			mustRegister(t, other, Conn{ID: "c2"})
			isErr(t, other.Authenticate(ctx, "c2", "alice", TypeUser, t0), ErrUserLimit)

			noErr(t, tc.crash(crashed))
			noErr(t, other.Authenticate(ctx, "c2", "alice", TypeUser, t0))
			mustRegister(t, other, Conn{ID: "c3"})
			isErr(t, other.Authenticate(ctx, "c3", "alice", TypeUser, t0), ErrUserLimit) // c2 is live
		})
	}
}

// Three nodes' connections spread over many buckets (and so every primary):
// the counts are exact, and the peak is sampled by Counts and by Heartbeat.
func runClusterCounts(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	regs := []*Registry{
		mustClusterRegistry(t, rdb, "node-0", nil),
		mustClusterRegistry(t, rdb, "node-1", nil),
		mustClusterRegistry(t, rdb, "node-2", nil),
	}
	for _, r := range regs {
		mustBeat(t, r)
	}
	type conn struct{ user, room string }
	live := map[string]conn{}
	add := func(i int) {
		c := Conn{ID: fmt.Sprintf("k%03d", i), Rooms: []string{fmt.Sprintf("room%d", i%23)}}
		if i%4 != 0 {
			c.User = fmt.Sprintf("user%d", i%17)
		}
		mustRegister(t, regs[i%3], c)
		live[c.ID] = conn{c.User, c.Rooms[0]}
	}
	want := func(peak int64) Counts {
		users, rooms := map[string]bool{}, map[string]bool{}
		for _, c := range live {
			if c.user != "" {
				users[c.user] = true
			}
			rooms[c.room] = true
		}
		return Counts{Active: int64(len(live)), Peak: peak, Users: int64(len(users)), Rooms: int64(len(rooms)), Nodes: 3}
	}
	for i := range 150 {
		add(i)
	}
	used := map[int]bool{}
	for id := range live {
		used[keyspace.Bucket(id)] = true
	}
	if len(used) < keyspace.Buckets/2 {
		t.Fatalf("150 connections use only %d buckets", len(used))
	}
	equal(t, "counts", counts(t, regs[0]), want(150))
	for i := range 50 {
		id := fmt.Sprintf("k%03d", 3*i)
		noErr(t, regs[0].Unregister(ctx, id)) // any node may unregister; the record knows its node
		delete(live, id)
	}
	equal(t, "after 50 left", counts(t, regs[1]), want(150))
	for i := 150; i < 220; i++ {
		add(i)
	}
	mustBeat(t, regs[2]) // samples 170 into the peak
	peak, err := rdb.Get(ctx, ks.Peak()).Int64()
	noErr(t, err)
	equal(t, "peak sampled by the heartbeat", peak, int64(170))
	equal(t, "counts at the end", counts(t, regs[2]), want(170))
	var total int64
	for _, r := range regs {
		n, err := r.NodeConnCount(ctx)
		noErr(t, err)
		total += n
	}
	equal(t, "node sets", total, int64(170))
}

// failAt makes r's cluster operation op fail after step k.
func failAt(r *Registry, op string, k int) {
	r.failAfter = func(o string, step int) error {
		if o == op && step == k {
			return fmt.Errorf("%w after %s step %d", errInjected, op, k)
		}
		return nil
	}
}

// A failure after any step of register, unregister, authenticate, join and
// leave leaves only states that the node's re-assertion (of no connection)
// or the reap of the node (its heartbeat deleted) clears to zero keys; so
// does a failure inside a removal by re-assertion, reap or drain, and the
// disconnect event of a reaped connection is appended exactly once however
// the reaping was interrupted. steps pins the number of steps of each
// operation (as listed in cluster_conn.go).
func runClusterFaults(t *testing.T, rdb *redis.ClusterClient) {
	ctx := context.Background()
	ks := keyspace.New(DefaultPrefix)
	full := Conn{ID: "c1", User: "alice", Rooms: []string{"lobby", "x"}}
	events := &Config{EventsStream: ks.Events()}
	reaper := func(r *Registry) *Registry {
		x := mustClusterRegistry(t, rdb, "node-b", events)
		x.failAfter = r.failAfter
		return x
	}
	setupFull := func(t *testing.T, r *Registry) {
		mustRegister(t, r, full)
		mustRegister(t, r, Conn{ID: "c2", Rooms: []string{"lobby"}})
	}
	both, reapOnly := []string{"reassert", "reap"}, []string{"reap"}
	cases := []struct {
		op, name string
		steps    int
		repairs  []string
		setup    func(t *testing.T, r *Registry)
		do       func(r *Registry) error
	}{
		{"register", "new", 4, both, func(*testing.T, *Registry) {},
			func(r *Registry) error {
				return r.Register(ctx, Conn{ID: "c1", User: "alice", Rooms: []string{"lobby", "x"}, ConnectedAt: t0})
			}},
		{"register", "changed", 4, both, setupFull,
			func(r *Registry) error {
				return r.Register(ctx, Conn{ID: "c1", User: "bob", Rooms: []string{"x", "y"}, ConnectedAt: t0})
			}},
		{"unregister", "", 2, both, setupFull, func(r *Registry) error { return r.Unregister(ctx, "c1") }},
		{"authenticate", "", 3, both, func(t *testing.T, r *Registry) {
			mustRegister(t, r, Conn{ID: "c1", User: "old", Rooms: []string{"lobby"}})
		}, func(r *Registry) error { return r.Authenticate(ctx, "c1", "alice", TypeUser, t0) }},
		{"join", "", 1, both, func(t *testing.T, r *Registry) { mustRegister(t, r, Conn{ID: "c1", Rooms: []string{"lobby"}}) },
			func(r *Registry) error { return r.Join(ctx, "c1", "x", t0) }},
		{"leave", "", 1, both, setupFull, func(r *Registry) error { return r.Leave(ctx, "c1", "x", t0) }},
		{"dropstale", "", 2, both, setupFull, func(r *Registry) error { return r.Reassert(ctx, nil) }},
		{"drain", "", 2, both, setupFull, func(r *Registry) error { return r.Deregister(ctx) }},
		{"reap", "", 2, reapOnly, setupFull, func(r *Registry) error {
			noErr(t, rdb.Del(ctx, ks.Node("node-a")).Err())
			_, err := reaper(r).Reap(ctx)
			return err
		}},
	}
	for _, tc := range cases {
		for _, repair := range tc.repairs {
			failures := 0
			for k := 1; ; k++ {
				flushCluster(t, rdb)
				r := mustClusterRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 5})
				mustBeat(t, r)
				tc.setup(t, r)
				failAt(r, tc.op, k)
				err := tc.do(r)
				r.failAfter = nil
				if err == nil {
					break // k is past the operation's last step
				}
				failures++
				what := fmt.Sprintf("%s %s failing after step %d, repaired by %s", tc.op, tc.name, k, repair)
				if !errors.Is(err, errInjected) {
					t.Fatalf("%s: %v", what, err)
				}
				var left []string
				switch repair {
				case "reassert":
					noErr(t, r.Reassert(ctx, nil))
					left = nodeTrace(ks, "node-a")
				case "reap":
					noErr(t, rdb.Del(ctx, ks.Node("node-a")).Err())
					_, err := reaper(r).Reap(ctx)
					noErr(t, err)
				}
				equal(t, what+": keys left", clusterKeysExcept(t, rdb, ks.Peak(), ks.Events()), sorted(left...))
				if tc.op == "reap" {
					n, err := rdb.XLen(ctx, ks.Events()).Result()
					noErr(t, err)
					equal(t, what+": disconnect events of c1 (alice)", n, int64(1))
				}
			}
			equal(t, tc.op+" "+tc.name+": steps with a failure", failures, tc.steps)
		}
	}
}

// errInjected is the error of an injected failure.
var errInjected = errors.New("injected failure")
