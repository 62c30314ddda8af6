package pubsub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

// publishUntilReceived publishes numbered messages to room from n until to receives one of
// them, or fails tb after timeout. Publish errors are expected meanwhile (a failover).
func publishUntilReceived(tb testing.TB, from, to *clusterTestNode, room, prefix string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	got := func() bool {
		for _, e := range to.rec.all() {
			if strings.HasPrefix(string(e.Payload), prefix) {
				return true
			}
		}
		return false
	}
	for i := 0; !got(); i++ {
		if time.Now().After(deadline) {
			tb.Fatalf("no %q message reached %s within %s (stats %+v)", prefix, to.cfg.NodeID, timeout, to.Stats())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = from.Publish(ctx, deliver(KindRoom, room, fmt.Sprintf("%s%d", prefix, i)))
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterFailover kills the primary that serves a subscribed room's slot: once its replica
// is promoted, the broker's receiver for the room follows it, the loss is counted and
// Handler.Reconnected runs, and messages flow again.
func TestClusterFailover(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{Replicas: 1})
	a := startClusterNode(t, c, "node-a", nil)
	b := startClusterNode(t, c, "node-b", nil)
	ctx := context.Background()
	room := "lobby"
	if err := b.Subscribe(ctx, KindRoom, room); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, KindUser, "alice"); err != nil {
		t.Fatal(err)
	}
	publishUntilReceived(t, a, b, room, "before-", 10*time.Second)

	primary := c.PrimaryFor(t, keyspace.New("ws").RoomChannel(room))
	killed := time.Now()
	primary.Kill()
	publishUntilReceived(t, a, b, room, "after-", 60*time.Second)
	t.Logf("messages flow again %s after the kill", time.Since(killed).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "b ready with the loss counted", func() bool {
		return b.Ready() && b.Stats().Reconnects >= 1 && b.rec.reconnects.Load() >= 1
	})
	waitFor(t, 30*time.Second, "a ready", a.Ready)
	if err := c.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Every channel works after the failover, whichever shard it is on.
	for _, e := range []Envelope{deliver(KindUser, "alice", "to alice"), deliver(KindAll, "", "to all"), deliver(KindNode, "node-b", "to b")} {
		mustPublish(t, a.testNode(), e)
	}
	waitFor(t, 10*time.Second, "user, all and node messages", func() bool {
		return b.rec.count("to alice") == 1 && b.rec.count("to all") == 1 && b.rec.count("to b") == 1
	})

	// Then the primary of the broadcast channel, whichever shard it is now: the all channel's
	// own receiver follows too.
	allPrimary := c.PrimaryFor(t, keyspace.New("ws").AllChannel())
	if !hasReplica(t, allPrimary) { // the replica promoted by the first kill: none to fail over to
		t.Log("the broadcast channel's shard has no replica left; skipping its failover")
		return
	}
	reconnects := b.Stats().Reconnects
	allPrimary.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; b.rec.count(fmt.Sprintf("all after %d", i-1)) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no broadcast reached b within 60 s of the second kill (stats %+v)", b.Stats())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.Publish(ctx, deliver(KindAll, "", fmt.Sprintf("all after %d", i)))
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "b ready after the second failover", func() bool {
		return b.Ready() && b.Stats().Reconnects > reconnects
	})
	for addr, n := range c.CommandCalls(t, "publish") {
		if n != 0 {
			t.Errorf("%s ran PUBLISH %d times", addr, n)
		}
	}
}

// TestClusterSlotMove migrates the slot of a subscribed room to another primary: Redis
// unsubscribes the receiver's channels, the broker resubscribes them on the new owner and
// counts the loss, and a publisher with the old slot map follows the MOVED redirect.
func TestClusterSlotMove(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{})
	a := startClusterNode(t, c, "node-a", nil)
	b := startClusterNode(t, c, "node-b", nil)
	ctx := context.Background()
	ks := keyspace.New("ws")
	room := "lobby"
	twin := sameBucket("room-", room) // a second channel on the same receiver
	for _, r := range []string{room, twin} {
		if err := b.Subscribe(ctx, KindRoom, r); err != nil {
			t.Fatal(err)
		}
	}
	admin := c.Client(t)
	ch := ks.RoomChannel(room)
	slot, err := admin.ClusterKeySlot(ctx, ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.SAdd(ctx, ks.Room(room), "conn-1").Err(); err != nil { // a key to MIGRATE
		t.Fatal(err)
	}
	publishUntilReceived(t, a, b, room, "before-", 10*time.Second)

	source := c.PrimaryFor(t, ch)
	var target *rediscluster.Node
	for _, p := range c.Primaries(t) {
		if p != source {
			target = p
			break
		}
	}
	c.MigrateSlot(t, int(slot), target)
	admin.ReloadState(ctx)
	waitFor(t, 10*time.Second, "admin client sees the new owner", func() bool {
		m, err := admin.MasterForKey(ctx, ch)
		return err == nil && m.Options().Addr == target.Addr()
	})
	if n, err := admin.SIsMember(ctx, ks.Room(room), "conn-1").Result(); err != nil || !n {
		t.Fatalf("the room's key did not move with its slot: %v %v", n, err)
	}

	// a's slot map is stale: its SPUBLISH goes to the old owner, which redirects.
	publishUntilReceived(t, a, b, room, "after-", 30*time.Second)
	mustPublish(t, a.testNode(), deliver(KindRoom, twin, "twin after"))
	waitFor(t, 10*time.Second, "twin message", func() bool { return b.rec.count("twin after") == 1 })
	waitFor(t, 10*time.Second, "the loss counted", func() bool {
		return b.Ready() && b.Stats().Reconnects >= 1 && b.rec.reconnects.Load() >= 1
	})
	if s := a.Stats(); s.PublishErrors != 0 {
		t.Fatalf("a: %+v; the MOVED redirect was not followed", s)
	}
	done := make(chan Result, 1)
	a.PublishAsync(deliver(KindRoom, room, "async after"), func(r Result) { done <- r })
	if r := <-done; r.Err != nil || r.Receivers != 1 {
		t.Fatalf("PublishAsync after the move: %+v", r)
	}
	waitFor(t, 10*time.Second, "async message", func() bool { return b.rec.count("async after") == 1 })
}

// hasReplica reports whether a primary has a connected replica (INFO replication).
func hasReplica(tb testing.TB, n *rediscluster.Node) bool {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "replication").Result()
	if err != nil {
		tb.Fatalf("INFO replication of %s: %v", n.Addr(), err)
	}
	return !strings.Contains(info, "connected_slaves:0")
}
