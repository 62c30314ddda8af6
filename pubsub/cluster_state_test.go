package pubsub

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/rediscluster"
)

// TestClusterEpoch checks the broker-wide epoch over several receivers: odd while any of them
// is in a loss window, so a publish whose round trip spans any receiver's loss sees a change.
func TestClusterEpoch(t *testing.T) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer rdb.Close()
	b, err := New(rdb, Config{NodeID: "n1", Cluster: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	all, node := b.cl.bases[0], b.cl.bases[1]
	if b.Ready() || b.stableSince(b.epoch.Load()) {
		t.Fatal("ready before the base channels were confirmed")
	}
	all.markStable()
	if b.stableSince(b.epoch.Load()) {
		t.Fatal("stable while the node channel's receiver is not up")
	}
	node.markStable()
	start := b.epoch.Load()
	if !b.stableSince(start) || !b.Ready() {
		t.Fatal("not stable with both base receivers up")
	}
	tag := b.clusterReceiver(tagOf(b.cl, KindRoom, "r"))
	tag.markLost()
	node.markLost()
	tag.markStable()
	if b.stableSince(start) || b.Ready() {
		t.Fatal("stable while the node channel's receiver is lost")
	}
	node.markStable()
	if b.stableSince(start) || !b.Ready() {
		t.Fatalf("epoch %d: a loss between looks stable, or not ready after it", b.epoch.Load())
	}
	// A receiver that closes in a loss window ends it, and a late loss of it is ignored.
	start = b.epoch.Load()
	tag.markLost()
	tag.close()
	tag.markLost()
	if !b.Ready() || b.stableSince(start) || b.epoch.Load()%2 != 0 {
		t.Fatalf("epoch %d after a closed receiver's loss", b.epoch.Load())
	}
}

// testClusterBeforeRun: Subscribe before Run opens the tag's connection and is confirmed once
// Run starts the receivers; Close without Run fails a pending Subscribe and leaks nothing.
func testClusterBeforeRun(t *testing.T, c *rediscluster.Cluster) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg := Config{NodeID: "early", Cluster: true, Logger: slog.New(slog.DiscardHandler)}
	b, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	subErr := make(chan error, 1)
	go func() { subErr <- b.Subscribe(context.Background(), KindRoom, "early-room") }()
	waitFor(t, 5*time.Second, "the tag receiver", func() bool { return len(b.tags()) == 1 })
	rec := &recorder{}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background(), rec) }()
	if err := <-subErr; err != nil {
		t.Fatalf("Subscribe before Run: %v", err)
	}
	waitFor(t, 10*time.Second, "ready", b.Ready)
	mustPublish(t, &testNode{Broker: b}, deliver(KindRoom, "early-room", "hello"))
	waitFor(t, 5*time.Second, "message", func() bool { return rec.count("hello") == 1 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(context.Background(), KindRoom, "late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}

	never, err := New(rdb, Config{NodeID: "never", Cluster: true, SubscribeTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { subErr <- never.Subscribe(context.Background(), KindUser, "u") }()
	waitFor(t, 5*time.Second, "the tag receiver", func() bool { return len(never.tags()) == 1 })
	_ = never.Close()
	if err := <-subErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe pending at Close = %v, want ErrClosed", err)
	}
}

// testClusterStorm runs concurrent Subscribe/Unsubscribe storms on rooms of two buckets (one
// receiver each, one of them with two rooms): the receivers end exactly where references are
// left, and messages reach the kept rooms.
func testClusterStorm(t *testing.T, c *rediscluster.Cluster) {
	a := startClusterNode(t, c, "node-a", nil)
	b := startClusterNode(t, c, "node-b", nil)
	rooms := distinctBuckets("storm-", 2)
	rooms = append(rooms, sameBucket("storm-", rooms[0]))
	for round, keep := range []int{3, 0} {
		done := make(chan struct{})
		for i, r := range rooms {
			go func() {
				defer func() { done <- struct{}{} }()
				k := keep
				if i == 1 {
					k = 0 // the second bucket ends empty every round
				}
				prev := 0
				if round == 1 && i != 1 {
					prev = 3
				}
				storm(t, b.Broker, r, 8, 20, prev, k)
			}()
		}
		for range rooms {
			<-done
		}
		if t.Failed() {
			t.FailNow()
		}
		wantTags := 0
		if keep > 0 {
			wantTags = 1
		}
		if got := len(b.tags()); got != wantTags {
			t.Fatalf("round %d: %d tag receivers, want %d", round, got, wantTags)
		}
		if keep == 0 {
			continue
		}
		for _, r := range []string{rooms[0], rooms[2]} {
			if refs, ok := b.refsOf(b.Channel(KindRoom, r)); refs != keep || !ok {
				t.Fatalf("round %d: %s refs %d confirmed %v", round, r, refs, ok)
			}
			msg := "storm message " + r
			mustPublish(t, a.testNode(), deliver(KindRoom, r, msg))
			waitFor(t, 5*time.Second, msg, func() bool { return b.rec.count(msg) == 1 })
		}
	}
	if s := b.Stats(); s.Subscriptions != 2 || s.Reconnects != 0 {
		t.Fatalf("after the storms: %+v", s)
	}
	waitFor(t, 10*time.Second, "only the base connections left", func() bool { return ssubConns(t, c) == 4 })
}

func TestIsClusterRedirect(t *testing.T) {
	for msg, want := range map[string]bool{
		"MOVED 1234 127.0.0.1:7001": true, "ASK 1234 127.0.0.1:7001": true,
		"TRYAGAIN Multiple keys request during rehashing of slot": true,
		"CLUSTERDOWN The cluster is down":                         true,
		"ERR unknown command":                                     false, "MOVEDX": false,
	} {
		if got := isClusterRedirect(errors.New(msg)); got != want {
			t.Errorf("isClusterRedirect(%q) = %v, want %v", msg, got, want)
		}
	}
}
