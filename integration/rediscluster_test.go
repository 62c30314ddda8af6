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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

// TestRedisCluster: a Redis Cluster of 3 primaries with a replica each;
// three nodes in cluster mode carry clients in rooms, a user with
// connections on every node, a history room and a publisher sending about
// 500 messages/s. Before the failure: messages and direct messages flow,
// /stats and the bucketed indexes in Redis are exact, no primary ran a
// plain PUBLISH or answered CROSSSLOT. Then the primary that owns the flow
// room's slot is SIGKILLed: within failoverBound of its replica's
// promotion, messages flow across nodes again and the state is exact
// again (re-asserted: replication is asynchronous), and every node counted
// the loss. A SIGKILLed wsnode is reaped, and when every client is gone no
// connection, user or room entry is left on any primary.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	rc := rediscluster.Start(t, rediscluster.Options{Replicas: 1})
	// redisAddr only fills startNode's single-mode URL, which the later
	// --redis-url replaces.
	o := nodeOpts{fast: true, redisAddr: rc.Nodes[0].Addr(), args: []string{"--redis-mode", "cluster", "--redis-url", rc.URL(), "--msg-rate", "0",
		"--history-size", "100", "--history-rooms", "hist"}}
	var nodes []*wsNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("k%d", i), nil, o))
	}
	ks := keyspace.New("ws")
	rdb := rc.Client(t)

	fc := startFlowClients(t, nodes)
	live, rooms, member, receivers := fc.live, fc.rooms, fc.member, fc.receivers
	pub := dial(t, nodes[0].wsURL(), "pub@k0", "pub", "user")
	member(pub, "flow")

	// A direct message crosses nodes through the user's shard channel.
	dm := dial(t, nodes[1].wsURL(), "dm@k1", "dm", "user")
	member(dm)
	dm.send(map[string]any{"type": "direct", "to_user": "u2", "data": "psst"})
	for _, r := range receivers {
		if r.c.user == "u2" {
			r.c.expect("direct", wait, hasData("psst"))
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pubCtx, stopPub := context.WithCancel(ctx)
	p := startPublisher(pubCtx, pub)
	var wg sync.WaitGroup
	for _, r := range receivers {
		wg.Go(func() { r.run(ctx) })
	}
	defer wg.Wait()
	defer stop()
	waitFor(t, wait, "the flow to reach every receiver", func() error { return flowing(receivers, 0) })

	exact := func(bound time.Duration, what string) {
		t.Helper()
		users := map[string]bool{}
		for _, cl := range live {
			users[cl.user] = true
		}
		err := poll(bound, func() error {
			var errs []error
			for _, n := range nodes {
				var s statsDoc
				if err := n.getJSON("/stats", &s); err != nil || s.ActiveConnections != int64(len(live)) ||
					s.UniqueUsers != int64(len(users)) || s.Rooms != int64(len(rooms)) || s.Nodes != int64(len(nodes)) {
					errs = append(errs, fmt.Errorf("%s /stats = %+v (%v), want %d connections, %d users, %d rooms, %d nodes",
						n.id, s, err, len(live), len(users), len(rooms), len(nodes)))
				}
			}
			errs = append(errs, sameBuckets(rdb, ks.Conns, slices.Collect(maps.Keys(live))),
				sameBuckets(rdb, ks.Users, slices.Collect(maps.Keys(users))),
				sameBuckets(rdb, ks.Rooms, slices.Collect(maps.Keys(rooms))))
			for room, ids := range rooms {
				errs = append(errs, sameClusterSet(rdb, ks.Room(room), ids))
			}
			return errors.Join(errs...)
		})
		if err != nil {
			t.Fatalf("%s: the state is not exact: %v", what, err)
		}
	}
	exact(wait, "before the failover")
	noPublishNoCrossSlot(t, rdb)

	// The primary that owns the flow room (its set, its channel).
	victim := rc.PrimaryFor(t, ks.Room("flow"))
	late := dial(t, nodes[1].wsURL(), "late@k1", "late", "user")
	member(late, "late-room")
	p.atKill = p.seq()
	victim.Kill()
	killed := time.Now()
	waitFor(t, 30*time.Second, "a replica to take over the flow room's slot", func() error {
		rdb.ReloadState(context.Background())
		m, err := rdb.MasterForKey(context.Background(), ks.Room("flow"))
		if err != nil {
			return err
		}
		if m.Options().Addr == victim.Addr() {
			return errors.New("still the killed primary")
		}
		return m.Ping(context.Background()).Err()
	})
	promoted := time.Now()
	t.Logf("promotion seen %s after the kill", promoted.Sub(killed).Round(10*time.Millisecond))
	seqAtPromotion := p.seq()
	if err := poll(failoverBound, func() error { return flowing(receivers, seqAtPromotion) }); err != nil {
		t.Fatalf("messages do not flow across nodes %s after the promotion: %v", failoverBound, err)
	}
	t.Logf("messages flow on every node %s after the promotion", time.Since(promoted).Round(10*time.Millisecond))
	exact(failoverBound-time.Since(promoted), "after the failover")
	t.Logf("state exact %s after the promotion", time.Since(promoted).Round(10*time.Millisecond))
	exactSeq := p.seq()
	for _, n := range nodes {
		if v, err := n.metric("wsnode_pubsub_reconnects_total"); err != nil || v < 1 {
			t.Errorf("%s wsnode_pubsub_reconnects_total = %v (%v), want >= 1: the loss window was not counted", n.id, v, err)
		}
	}

	// History in cluster mode: append and publish in one script, acked
	// with an offset, delivered across nodes.
	h0 := dial(t, nodes[2].wsURL(), "h@k2", "h", "user")
	h1 := dial(t, nodes[0].wsURL(), "h@k0", "h", "user")
	member(h0, "hist")
	member(h1, "hist")
	f := h0.request(map[string]any{"type": "message", "room": "hist", "data": "on the cluster"}, "ack")
	if f.Offset == 0 {
		t.Errorf("history message acked without an offset: %s", f.raw)
	}
	h1.expect("message", wait, hasData("on the cluster"))

	time.Sleep(time.Second) // traffic after the recovery
	stopPub()
	sent, acked, failed := p.result()
	time.Sleep(500 * time.Millisecond) // what is still on its way
	stop()
	wg.Wait()
	t.Logf("publisher: %d sent, %d acked, %d failed (unavailable during the failover)", sent, len(acked), len(failed))
	for _, r := range receivers {
		var missed, missedAfter int
		for seq := range acked {
			if !r.got[seq] {
				missed++
				if seq > exactSeq {
					missedAfter++
				}
			}
		}
		t.Logf("%s: %d received, %d of the acked messages missed", r.c.name, len(r.got), missed)
		if missedAfter > 0 {
			t.Errorf("%s missed %d acked messages sent after the state was exact again", r.c.name, missedAfter)
		}
	}
	noPublishNoCrossSlot(t, rdb)

	// A crashed wsnode is reaped by the others: its clients leave every index.
	nodes[2].p.kill()
	for id, cl := range live {
		if strings.HasSuffix(cl.name, "@k2") {
			delete(live, id)
			for room, ids := range rooms {
				rooms[room] = slices.DeleteFunc(ids, func(s string) bool { return s == id })
				if len(rooms[room]) == 0 {
					delete(rooms, room)
				}
			}
		}
	}
	nodes = nodes[:2]
	exact(3*wait, "after a wsnode was SIGKILLed")

	// Everyone leaves: nothing of a connection, user or room is left.
	for _, cl := range live {
		cl.Close()
	}
	waitFor(t, 3*wait, "no connection, user or room keys on any primary", func() error {
		left, err := clusterKeys(rdb, func(k string) bool {
			for _, kind := range []string{":conn:", ":connrooms:", ":user:", ":room:", ":roommeta:"} {
				if strings.Contains(k, kind) {
					return true
				}
			}
			return strings.HasSuffix(k, ":conns") || strings.HasSuffix(k, ":users") || strings.HasSuffix(k, ":rooms") ||
				strings.HasSuffix(k, ":activity")
		})
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})
}

// sameBuckets compares the union of the 64 buckets of an index with want.
func sameBuckets(rdb *redis.ClusterClient, bucket func(int) string, want []string) error {
	var got []string
	for b := range keyspace.Buckets {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := rdb.SMembers(ctx, bucket(b)).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("SMEMBERS %s: %w", bucket(b), err)
		}
		got = append(got, m...)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s.. = %v, want %v", bucket(0), got, want)
	}
	return nil
}

// sameClusterSet compares one set with want.
func sameClusterSet(rdb *redis.ClusterClient, key string, want []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := rdb.SMembers(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("SMEMBERS %s: %w", key, err)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s = %v, want %v", key, got, want)
	}
	return nil
}

// noPublishNoCrossSlot checks every primary's command and error stats: no
// plain PUBLISH was ever run (room, user, node and broadcast messages all
// go through SPUBLISH) and no command was refused with CROSSSLOT.
func noPublishNoCrossSlot(t *testing.T, rdb *redis.ClusterClient) {
	t.Helper()
	var spublish int64
	var mu sync.Mutex
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		stats, err := c.Info(ctx, "commandstats", "errorstats").Result()
		if err != nil {
			return err
		}
		f := infoMap(stats)
		if v := f["cmdstat_publish"]; v != "" {
			return fmt.Errorf("%s ran plain PUBLISH: %s", c.Options().Addr, v)
		}
		if v := f["errorstat_CROSSSLOT"]; v != "" {
			return fmt.Errorf("%s answered CROSSSLOT: %s", c.Options().Addr, v)
		}
		if v := f["cmdstat_spublish"]; v != "" {
			calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
			n, _ := strconv.ParseInt(calls, 10, 64)
			mu.Lock()
			spublish += n
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if spublish == 0 {
		t.Fatal("no primary ran SPUBLISH: the messages did not go through sharded pub/sub")
	}
}

func infoMap(s string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			f[k] = v
		}
	}
	return f
}

// clusterKeys scans every primary for keys that match.
func clusterKeys(rdb *redis.ClusterClient, match func(string) bool) ([]string, error) {
	var mu sync.Mutex
	var out []string
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "*", 1000).Iterator()
		for it.Next(ctx) {
			if match(it.Val()) {
				mu.Lock()
				out = append(out, it.Val())
				mu.Unlock()
			}
		}
		return it.Err()
	})
	slices.Sort(out)
	return out, err
}
