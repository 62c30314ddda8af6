package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

// Publishing in cluster mode: subtests of TestCluster (cluster_test.go).

// testClusterHistory: history rooms over many buckets, appended and SPUBLISHed by the script
// through the publish pipeline, with offsets and epochs as in single mode, and recoverable.
func testClusterHistory(t *testing.T, c *rediscluster.Cluster) {
	ctx := context.Background()
	store := func(rdb redis.UniversalClient) *history.Store {
		s, err := history.New(rdb, history.Config{Size: 10, TTL: time.Minute, Cluster: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var hs *history.Store
	a := startClusterNode(t, c, "node-a", nil)
	b := startClusterNode(t, c, "node-b", func(cfg *Config) {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
		t.Cleanup(func() { _ = rdb.Close() })
		hs = store(rdb)
		cfg.History = hs
	})
	rooms := distinctBuckets("hist-", 12)
	for _, r := range rooms {
		if err := a.Subscribe(ctx, KindRoom, r); err != nil {
			t.Fatal(err)
		}
	}
	epochs := map[string]string{}
	for round := 1; round <= 2; round++ {
		results := make(chan Result, len(rooms))
		for _, r := range rooms {
			b.PublishAsync(deliver(KindRoom, r, fmt.Sprintf(`{"n":%d}`, round)), func(res Result) { results <- res })
		}
		for range rooms {
			res := <-results
			if res.Err != nil || res.Offset != uint64(round) || res.Receivers != 1 {
				t.Fatalf("round %d: %+v", round, res)
			}
		}
	}
	waitFor(t, 10*time.Second, "history messages", func() bool { return len(a.rec.all()) == 2*len(rooms) })
	for _, e := range a.rec.all() {
		if !strings.Contains(string(e.Payload), `"offset":`) {
			t.Fatalf("message without offset: %s", e.Payload)
		}
	}
	for _, r := range rooms {
		cur, err := hs.Current(ctx, r)
		if err != nil || cur.Offset != 2 {
			t.Fatalf("%s: Current %+v %v", r, cur, err)
		}
		epochs[r] = cur.Epoch
		entries, _, ok, err := hs.Recover(ctx, r, history.Position{Offset: 0, Epoch: cur.Epoch})
		if err != nil || !ok || len(entries) != 2 {
			t.Fatalf("%s: Recover %v %v %v", r, entries, ok, err)
		}
	}
	if s := b.Stats(); s.Published != int64(2*len(rooms)) || s.PublishErrors != 0 {
		t.Fatalf("b: %+v", s)
	}
}

// testClusterNoRedirects publishes from a client that does not follow MOVED (MaxRedirects -1)
// and has just been created: every SPUBLISH, plain or pipelined, and every history script
// must go straight to the primary of its channel's slot.
func testClusterNoRedirects(t *testing.T, c *rediscluster.Cluster) {
	ctx := context.Background()
	sub := startClusterNode(t, c, "node-sub", nil)
	rooms := distinctBuckets("direct-", 24)
	for _, r := range rooms {
		if err := sub.Subscribe(ctx, KindRoom, r); err != nil {
			t.Fatal(err)
		}
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), MaxRedirects: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	hs, err := history.New(rdb, history.Config{Size: 5, Rooms: []string{"direct-1*"}, Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	pub := startClusterNodeOn(t, rdb, "node-pub", func(cfg *Config) { cfg.History = hs })
	results := make(chan Result, len(rooms))
	for _, r := range rooms {
		if err := pub.Publish(ctx, deliver(KindRoom, r, `{"sync":"`+r+`"}`)); err != nil {
			t.Fatalf("Publish %s: %v", r, err)
		}
		pub.PublishAsync(deliver(KindRoom, r, `{"async":"`+r+`"}`), func(res Result) { results <- res })
	}
	for range rooms {
		if res := <-results; res.Err != nil || res.Receivers != 1 {
			t.Fatalf("PublishAsync: %+v", res)
		}
	}
	waitFor(t, 10*time.Second, "every message", func() bool { return len(sub.rec.all()) == 2*len(rooms) })
	if s := pub.Stats(); s.PublishErrors != 0 {
		t.Fatalf("pub: %+v", s)
	}
}

// testClusterLossWindow: a loss on any receiver, not only the channel's own, is a loss window
// for a publish whose round trip spans it.
func testClusterLossWindow(t *testing.T, c *rediscluster.Cluster) {
	ctx := context.Background()
	b := startClusterNode(t, c, "node-b", nil)
	for _, e := range []Envelope{{Kind: KindRoom, Target: "r"}, {Kind: KindUser, Target: "u"}} {
		if err := b.Subscribe(ctx, e.Kind, e.Target); err != nil {
			t.Fatal(err)
		}
	}
	other := b.cl.existing(tagOf(b.cl, KindUser, "u"))
	got := make(chan Result, 1)
	done := func(r Result) { got <- r }
	b.PublishAsync(deliver(KindRoom, "r", "x"), done)
	if r := <-got; r.Err != nil || r.Receivers != 1 {
		t.Fatalf("stable: %+v", r)
	}
	other.markLost() // as the user receiver's loop does when it notices a loss
	if b.Ready() {
		t.Fatal("Ready during a receiver's loss window")
	}
	b.PublishAsync(deliver(KindRoom, "r", "y"), done)
	if r := <-got; !errors.Is(r.Err, ErrLossWindow) || r.Receivers != 1 {
		t.Fatalf("during another receiver's loss window: %+v, want ErrLossWindow with 1 receiver", r)
	}
	other.markStable()
	b.PublishAsync(deliver(KindRoom, "r", "z"), done)
	if r := <-got; r.Err != nil || !b.Ready() {
		t.Fatalf("after the loss window: %+v, ready %v", r, b.Ready())
	}
}
