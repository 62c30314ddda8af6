package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

type clusterTestNode struct {
	*Broker
	rec *recorder
	rdb *redis.ClusterClient
}

// startClusterNode starts a cluster-mode broker for node id on c and waits until it is Ready.
// Cleanup closes it and checks that Run returned nil.
func startClusterNode(tb testing.TB, c *rediscluster.Cluster, id string, mod func(*Config)) *clusterTestNode {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DialTimeout: time.Second})
	tb.Cleanup(func() { _ = rdb.Close() })
	return startClusterNodeOn(tb, rdb, id, mod)
}

// startClusterNodeOn is startClusterNode with the caller's client.
func startClusterNodeOn(tb testing.TB, rdb *redis.ClusterClient, id string, mod func(*Config)) *clusterTestNode {
	tb.Helper()
	rec := &recorder{}
	cfg := Config{
		NodeID:       id,
		Cluster:      true,
		PingInterval: 200 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if os.Getenv("PUBSUB_TEST_LOG") != "" { // to follow a cluster test's reconnects
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(rdb, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background(), rec) }()
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if err := <-runErr; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	waitFor(tb, 30*time.Second, id+" ready", b.Ready)
	return &clusterTestNode{Broker: b, rec: rec, rdb: rdb}
}

// tags returns the hash tags this broker holds a receiver for.
func (b *Broker) tags() []string {
	b.cl.mu.Lock()
	defer b.cl.mu.Unlock()
	var out []string
	for t := range b.cl.tags {
		out = append(out, t)
	}
	return out
}

// ssubConns counts the connections with shard subscriptions on every running node (CLIENT LIST).
func ssubConns(tb testing.TB, c *rediscluster.Cluster) int {
	tb.Helper()
	n := 0
	for _, node := range c.Nodes {
		if !node.Running() {
			continue
		}
		rdb := redis.NewClient(&redis.Options{Addr: node.Addr(), MaxRetries: -1})
		list, err := rdb.ClientList(context.Background()).Result()
		_ = rdb.Close()
		if err != nil {
			tb.Fatalf("CLIENT LIST on %s: %v", node.Addr(), err)
		}
		for line := range strings.Lines(list) {
			for f := range strings.FieldsSeq(line) {
				if v, ok := strings.CutPrefix(f, "ssub="); ok {
					if k, _ := strconv.Atoi(v); k > 0 {
						n++
					}
				}
			}
		}
	}
	return n
}

// distinctBuckets returns n names with prefix whose keyspace buckets all differ.
func distinctBuckets(prefix string, n int) []string {
	var out []string
	seen := map[int]bool{}
	for i := 0; len(out) < n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		if b := keyspace.Bucket(name); !seen[b] {
			seen[b] = true
			out = append(out, name)
		}
	}
	return out
}

// sameBucket returns a name with prefix in the bucket of other, and different from it.
func sameBucket(prefix, other string) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		if name != other && keyspace.Bucket(name) == keyspace.Bucket(other) {
			return name
		}
	}
}

// TestCluster runs the cluster-mode brokers on one Redis Cluster shared by its subtests
// (FLUSHALL between them). The last subtest checks that nothing was ever sent with PUBLISH.
func TestCluster(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{})
	admin := c.Client(t)
	flush := func(t *testing.T) {
		t.Helper()
		if err := admin.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
			return m.FlushAll(ctx).Err()
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("Routing", func(t *testing.T) { flush(t); testClusterRouting(t, c) })
	t.Run("History", func(t *testing.T) { flush(t); testClusterHistory(t, c) })
	t.Run("NoRedirects", func(t *testing.T) { flush(t); testClusterNoRedirects(t, c) })
	t.Run("LossWindow", func(t *testing.T) { flush(t); testClusterLossWindow(t, c) })
	t.Run("BeforeRun", func(t *testing.T) { flush(t); testClusterBeforeRun(t, c) })
	t.Run("Storm", func(t *testing.T) { flush(t); testClusterStorm(t, c) })
	t.Run("NoPlainPublish", func(t *testing.T) {
		var spublish int64
		for addr, n := range c.CommandCalls(t, "publish") {
			if n != 0 {
				t.Errorf("%s ran PUBLISH %d times", addr, n)
			}
		}
		for _, n := range c.CommandCalls(t, "spublish") {
			spublish += n
		}
		if spublish == 0 {
			t.Error("no SPUBLISH ran")
		}
	})
}

// testClusterRouting: two nodes, rooms and users over many buckets (so over every shard), the
// all and node channels. Every message arrives once at exactly the brokers subscribed to it,
// and a receiver per tag is opened lazily and closed with its last channel.
func testClusterRouting(t *testing.T, c *rediscluster.Cluster) {
	a := startClusterNode(t, c, "node-a", nil)
	b := startClusterNode(t, c, "node-b", nil)
	if got := ssubConns(t, c); got != 4 {
		t.Fatalf("%d connections with shard subscriptions, want 4 (all and node channel of each broker)", got)
	}
	ctx := context.Background()
	rooms := distinctBuckets("room-", 24)
	twin := sameBucket("room-", rooms[0]) // shares rooms[0]'s receiver
	users := distinctBuckets("user-", 8)

	subscribed := map[*clusterTestNode][]Envelope{}
	sub := func(n *clusterTestNode, kind Kind, target string) {
		t.Helper()
		if err := n.Subscribe(ctx, kind, target); err != nil {
			t.Fatalf("Subscribe %s %s: %v", kind, target, err)
		}
		subscribed[n] = append(subscribed[n], Envelope{Kind: kind, Target: target})
	}
	for i, r := range append(rooms, twin) {
		sub(b, KindRoom, r)
		if i%2 == 0 {
			sub(a, KindRoom, r)
		}
	}
	for i, u := range users {
		sub(b, KindUser, u)
		if i < 4 {
			sub(a, KindUser, u)
		}
	}
	if got, want := len(b.tags()), len(rooms)+len(users); got != want {
		t.Fatalf("b holds %d tag receivers, want %d (one per bucket)", got, want)
	}
	if got, want := len(a.tags()), len(rooms)/2+4; got != want {
		t.Fatalf("a holds %d tag receivers, want %d", got, want)
	}
	waitFor(t, 10*time.Second, "one connection per receiver", func() bool {
		return ssubConns(t, c) == 4+len(a.tags())+len(b.tags())
	})

	// Publish every kind from both nodes: rooms and users synchronously from a, asynchronously
	// (one pipeline over every shard) from b.
	want := map[*clusterTestNode]map[string]bool{a: {}, b: {}}
	isSub := func(n *clusterTestNode, kind Kind, target string) bool {
		for _, e := range subscribed[n] {
			if e.Kind == kind && e.Target == target {
				return true
			}
		}
		return false
	}
	type target struct {
		kind Kind
		name string
	}
	var targets []target
	for _, r := range append(rooms, twin) {
		targets = append(targets, target{KindRoom, r})
	}
	for _, u := range users {
		targets = append(targets, target{KindUser, u})
	}
	results := make(chan Result, 2*len(targets))
	for _, tg := range targets {
		for _, from := range []*clusterTestNode{a, b} {
			p := fmt.Sprintf("%s from %s", tg.name, from.cfg.NodeID)
			for _, n := range []*clusterTestNode{a, b} {
				if isSub(n, tg.kind, tg.name) {
					want[n][p] = true
				}
			}
			if from == a {
				mustPublish(t, a.testNode(), deliver(tg.kind, tg.name, p))
			} else {
				b.PublishAsync(deliver(tg.kind, tg.name, p), func(r Result) { results <- r })
			}
		}
	}
	for range targets {
		if r := <-results; r.Err != nil || r.Receivers < 1 || r.Receivers > 2 {
			t.Fatalf("PublishAsync: %+v", r)
		}
	}
	mustPublish(t, a.testNode(), deliver(KindAll, "", "all from a"))
	mustPublish(t, a.testNode(), deliver(KindNode, "node-b", "a to b"))
	mustPublish(t, b.testNode(), deliver(KindNode, "node-a", "b to a"))
	want[a]["all from a"], want[b]["all from a"] = true, true
	want[b]["a to b"], want[a]["b to a"] = true, true

	for _, n := range []*clusterTestNode{a, b} {
		waitFor(t, 10*time.Second, n.cfg.NodeID+" messages", func() bool {
			for p := range want[n] {
				if n.rec.count(p) != 1 {
					return false
				}
			}
			return true
		})
	}
	// Nothing else arrives: a sentinel on each node channel, published last, comes after
	// anything that was in flight on the same shard; wait a little for the other shards too.
	assertOnly := func(n *clusterTestNode, want map[string]bool) {
		t.Helper()
		sentinel := "sentinel " + strconv.Itoa(len(n.rec.all()))
		mustPublish(t, a.testNode(), deliver(KindNode, n.cfg.NodeID, sentinel))
		waitFor(t, 10*time.Second, "sentinel", func() bool { return n.rec.count(sentinel) == 1 })
		time.Sleep(200 * time.Millisecond)
		for _, e := range n.rec.all() {
			p := string(e.Payload)
			if !want[p] && !strings.HasPrefix(p, "sentinel") {
				t.Fatalf("%s received %q, which it is not subscribed to", n.cfg.NodeID, p)
			}
			if n.rec.count(p) != 1 {
				t.Fatalf("%s received %q %d times", n.cfg.NodeID, p, n.rec.count(p))
			}
		}
	}
	assertOnly(a, want[a])
	assertOnly(b, want[b])

	// Unsubscribing: the twin's receiver stays while rooms[0] is subscribed, and closes with
	// the last channel of its tag.
	tag0 := tagOf(b.cl, KindRoom, rooms[0])
	if err := b.Unsubscribe(ctx, KindRoom, twin); err != nil {
		t.Fatal(err)
	}
	if b.cl.existing(tag0) == nil {
		t.Fatal("the receiver closed while a channel of its tag is still subscribed")
	}
	for _, r := range rooms {
		if err := b.Unsubscribe(ctx, KindRoom, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Unsubscribe(ctx, KindRoom, rooms[0]); err == nil {
		t.Fatal("Unsubscribe without a reference succeeded")
	}
	if got := len(b.tags()); got != len(users) {
		t.Fatalf("b holds %d tag receivers after unsubscribing its rooms, want %d", got, len(users))
	}
	waitFor(t, 10*time.Second, "room connections closed", func() bool {
		return ssubConns(t, c) == 4+len(a.tags())+len(b.tags())
	})
	after := "after unsubscribe"
	mustPublish(t, a.testNode(), deliver(KindRoom, rooms[1], after))
	assertOnly(b, want[b])
	if s := b.Stats(); s.Reconnects != 0 || s.Subscriptions != int64(2+len(users)) || !b.Ready() {
		t.Fatalf("b: %+v, ready %v", s, b.Ready())
	}
	if s := a.Stats(); s.Reconnects != 0 || s.PublishErrors != 0 {
		t.Fatalf("a: %+v", s)
	}
}

// testNode adapts a cluster test node for helpers written for single mode.
func (n *clusterTestNode) testNode() *testNode { return &testNode{Broker: n.Broker, rec: n.rec} }
