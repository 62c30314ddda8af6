package pubsub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if _, err := New(rdb, Config{}); err == nil {
		t.Fatal("New without NodeID: want error")
	}
	if _, err := New(nil, Config{NodeID: "n"}); err == nil {
		t.Fatal("New without Redis client: want error")
	}
	b, err := New(rdb, Config{NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Channel(KindNode, "n1"); got != "ws:ch:node:n1" {
		t.Fatalf("Channel = %q", got)
	}
	if got := b.Channel(KindRoom, ""); got != "" {
		t.Fatalf("Channel(room, \"\") = %q, want empty", got)
	}
	if b.Ready() {
		t.Fatal("Ready before Run")
	}
	if err := b.Run(context.Background(), nil); err == nil {
		t.Fatal("Run without Handler: want error")
	}
	// Close before Run: Run returns at once.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background(), nop); err != nil {
		t.Fatalf("Run after Close = %v", err)
	}
	if err := b.Subscribe(context.Background(), KindRoom, "r"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

func TestChannelNames(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	b, err := New(rdb, Config{NodeID: "n1", Prefix: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tt := range []struct {
		kind   Kind
		target string
		want   string
	}{
		{KindAll, "", "c2:ch:all"},
		{KindNode, "n-1", "c2:ch:node:n-1"},
		{KindRoom, "lobby", "c2:ch:room:lobby"},
		{KindUser, "a@b.c", "c2:ch:user:a@b.c"},
	} {
		ch := b.Channel(tt.kind, tt.target)
		if ch != tt.want {
			t.Errorf("Channel(%s, %q) = %q, want %q", tt.kind, tt.target, ch, tt.want)
		}
		k, target, ok := b.parseChannel(ch)
		if !ok || k != tt.kind || target != tt.target {
			t.Errorf("parseChannel(%q) = %s, %q, %v", ch, k, target, ok)
		}
	}
	for _, ch := range []string{"ws:ch:all", "c2:ch:room:", "c2:ch:nope:x", "c2:ch:node"} {
		if _, _, ok := b.parseChannel(ch); ok {
			t.Errorf("parseChannel(%q) accepted", ch)
		}
	}
}

func TestRoomRouting(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	ctx := context.Background()

	if err := b.Subscribe(ctx, KindRoom, "lobby"); err != nil {
		t.Fatal(err)
	}
	want := Envelope{Kind: KindRoom, Target: "lobby", Op: OpDeliver, Exclude: "c-1", Payload: []byte(`{"type":"message","data":1}`)}
	mustPublish(t, a, want)
	waitFor(t, 5*time.Second, "room message on b", func() bool { return len(b.rec.all()) > 0 })
	if got := b.rec.all(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("b received %+v, want exactly %+v", got, want)
	}
	if got := a.rec.all(); len(got) != 0 {
		t.Fatalf("a is not in the room but received %+v", got)
	}

	// After the UNSUBSCRIBE has reached Redis, a room message published before a sentinel on
	// b's node channel would have arrived before the sentinel: when the sentinel is in, the
	// room message is known to be lost.
	if err := b.Unsubscribe(ctx, KindRoom, "lobby"); err != nil {
		t.Fatal(err)
	}
	roomCh := b.Channel(KindRoom, "lobby")
	waitFor(t, 5*time.Second, "unsubscribe processed", func() bool { return numSub(t, a.rdb, roomCh) == 0 })
	mustPublish(t, a, deliver(KindRoom, "lobby", "after-unsubscribe"))
	mustPublish(t, a, deliver(KindNode, "node-b", "sentinel"))
	waitFor(t, 5*time.Second, "sentinel on b", func() bool { return b.rec.count("sentinel") == 1 })
	if n := b.rec.count("after-unsubscribe"); n != 0 {
		t.Fatalf("b received %d room messages after Unsubscribe", n)
	}
	if s := b.Stats(); s.Received != 2 || s.DecodeErrors != 0 || s.Reconnects != 0 || s.Subscriptions != 2 {
		t.Fatalf("b stats = %+v", s)
	}
	if s := a.Stats(); s.Published != 3 || s.PublishErrors != 0 {
		t.Fatalf("a stats = %+v", s)
	}
	if err := b.Unsubscribe(ctx, KindRoom, "lobby"); !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("second Unsubscribe = %v, want ErrNotSubscribed", err)
	}
}

func TestBaseChannelsAlwaysSubscribed(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)

	for _, n := range []*testNode{a, b} {
		for _, ch := range []string{"ws:ch:all", "ws:ch:node:" + n.cfg.NodeID} {
			if refs, ok := n.refsOf(ch); refs != 1 || !ok {
				t.Fatalf("%s: %s refs=%d confirmed=%v", n.cfg.NodeID, ch, refs, ok)
			}
		}
	}
	if got := numSub(t, a.rdb, "ws:ch:all"); got != 2 {
		t.Fatalf("NUMSUB ws:ch:all = %d, want 2", got)
	}
	if err := b.Subscribe(context.Background(), KindAll, ""); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("Subscribe(KindAll) = %v, want ErrInvalidTarget", err)
	}
	if err := b.Unsubscribe(context.Background(), KindNode, "node-b"); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("Unsubscribe(KindNode) = %v, want ErrInvalidTarget", err)
	}

	mustPublish(t, a, deliver(KindAll, "", "to-all"))
	dis := Envelope{Kind: KindNode, Target: "node-b", Op: OpDisconnect, ConnID: "c-9", Code: 4000, Reason: "inactive"}
	mustPublish(t, a, dis)
	waitFor(t, 5*time.Second, "both got the all message", func() bool {
		return a.rec.count("to-all") == 1 && b.rec.count("to-all") == 1
	})
	waitFor(t, 5*time.Second, "disconnect on b", func() bool { return len(b.rec.all()) == 2 })
	if got := b.rec.all()[1]; fmt.Sprint(got) != fmt.Sprint(dis) {
		t.Fatalf("b got %+v, want %+v", got, dis)
	}
	if got := a.rec.all(); len(got) != 1 {
		t.Fatalf("a got %+v, want only the all message", got)
	}
}

func TestDecodeErrorsCounted(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	b := startNode(t, m.Addr(), "node-b", nil)
	m.Publish("ws:ch:node:node-b", "\x07garbage")
	mustPublish(t, b, deliver(KindNode, "node-b", "ok"))
	waitFor(t, 5*time.Second, "good message", func() bool { return b.rec.count("ok") == 1 })
	if s := b.Stats(); s.DecodeErrors != 1 || s.Received != 1 {
		t.Fatalf("stats = %+v, want 1 decode error and 1 received", s)
	}
}

func TestRefcount(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	ctx := context.Background()

	for range 2 {
		if err := b.Subscribe(ctx, KindUser, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Unsubscribe(ctx, KindUser, "alice"); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, a, deliver(KindUser, "alice", "still-there"))
	waitFor(t, 5*time.Second, "user message with one ref left", func() bool { return b.rec.count("still-there") == 1 })
	if refs, _ := b.refsOf(b.Channel(KindUser, "alice")); refs != 1 {
		t.Fatalf("refs = %d, want 1", refs)
	}
	if s := b.Stats(); s.Subscriptions != 3 {
		t.Fatalf("Subscriptions = %d, want 3", s.Subscriptions)
	}
}

// TestSubscribeStorm runs Subscribe/Unsubscribe on one channel from 20 goroutines and checks
// that the broker ends subscribed exactly when the final reference count is positive.
func TestSubscribeStorm(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	ch := b.Channel(KindRoom, "storm")

	prev := 0
	for round, keep := range []int{7, 0} {
		storm(t, b.Broker, "storm", 20, 30, prev, keep)
		prev = keep
		refs, confirmed := b.refsOf(ch)
		if refs != keep {
			t.Fatalf("round %d: refs = %d, want %d", round, refs, keep)
		}
		sentinel := fmt.Sprintf("sentinel-%d", round)
		msg := fmt.Sprintf("storm-%d", round)
		if keep > 0 {
			if !confirmed {
				t.Fatalf("round %d: refs %d but not confirmed", round, refs)
			}
			if got := numSub(t, a.rdb, ch); got != 1 {
				t.Fatalf("round %d: NUMSUB = %d, want 1", round, got)
			}
			mustPublish(t, a, deliver(KindRoom, "storm", msg))
			waitFor(t, 5*time.Second, "storm message", func() bool { return b.rec.count(msg) == 1 })
			continue
		}
		waitFor(t, 5*time.Second, "unsubscribed in redis", func() bool { return numSub(t, a.rdb, ch) == 0 })
		mustPublish(t, a, deliver(KindRoom, "storm", msg))
		mustPublish(t, a, deliver(KindNode, "node-b", sentinel))
		waitFor(t, 5*time.Second, "sentinel", func() bool { return b.rec.count(sentinel) == 1 })
		if n := b.rec.count(msg); n != 0 {
			t.Fatalf("round %d: received %d messages with no reference", round, n)
		}
		r := b.single
		r.mu.Lock()
		_, present := r.subs[ch]
		unconfirmed := r.unconfirmed
		r.mu.Unlock()
		if present || unconfirmed != 0 {
			// An entry may linger only until its last SUBSCRIBE confirmation arrives.
			waitFor(t, 5*time.Second, "entry dropped", func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				_, present := r.subs[ch]
				return !present && r.unconfirmed == 0
			})
		}
	}
	if s := b.Stats(); s.Subscriptions != 2 {
		t.Fatalf("Subscriptions = %d, want 2", s.Subscriptions)
	}
}

// storm makes workers goroutines each run ops random Subscribe/Unsubscribe calls on room,
// never dropping more references than it holds, and then settle so that keep references are
// left in total. Workers below prev start with one reference from an earlier storm.
func storm(t *testing.T, b *Broker, room string, workers, ops, prev, keep int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			held := 0
			if w < prev {
				held = 1
			}
			for range ops {
				if held > 0 && rng.IntN(2) == 0 {
					if err := b.Unsubscribe(ctx, KindRoom, room); err != nil {
						t.Errorf("Unsubscribe: %v", err)
						return
					}
					held--
					continue
				}
				if err := b.Subscribe(ctx, KindRoom, room); err != nil {
					t.Errorf("Subscribe: %v", err)
					return
				}
				held++
			}
			want := 0
			if w < keep {
				want = 1
			}
			for ; held > want; held-- {
				if err := b.Unsubscribe(ctx, KindRoom, room); err != nil {
					t.Errorf("Unsubscribe: %v", err)
					return
				}
			}
			for ; held < want; held++ {
				if err := b.Subscribe(ctx, KindRoom, room); err != nil {
					t.Errorf("Subscribe: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func TestPublishErrorsCounted(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	mustPublish(t, a, deliver(KindAll, "", "one"))
	m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Publish(ctx, deliver(KindRoom, "r", "lost")); err == nil {
		t.Fatal("Publish with Redis down: want error")
	}
	if err := a.PublishEncoded(ctx, KindUser, "u", Encode(deliver(KindUser, "u", "lost"))); err == nil {
		t.Fatal("PublishEncoded with Redis down: want error")
	}
	if s := a.Stats(); s.Published != 1 || s.PublishErrors != 2 {
		t.Fatalf("stats = %+v, want Published 1, PublishErrors 2", s)
	}
	waitFor(t, 5*time.Second, "not ready while Redis is down", func() bool { return !a.Ready() })
	if err := a.Subscribe(ctx, KindRoom, "r"); err == nil {
		t.Fatal("Subscribe with Redis down: want error")
	}
	if refs, _ := a.refsOf(a.Channel(KindRoom, "r")); refs != 0 {
		t.Fatalf("failed Subscribe kept %d references", refs)
	}
	if err := a.PublishEncoded(ctx, KindRoom, "", nil); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("PublishEncoded without room = %v", err)
	}
}

// TestMiniredisRestart restarts the Redis under two nodes (same address, data kept) and checks
// the loss window is counted and routing resumes.
func TestMiniredisRestart(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	a := startNode(t, m.Addr(), "node-a", nil)
	b := startNode(t, m.Addr(), "node-b", nil)
	testRestart(t, a, b, func() {
		m.Close()
		waitFor(t, 5*time.Second, "b notices the loss", func() bool { return !b.Ready() })
		if err := m.Restart(); err != nil {
			t.Fatalf("Restart: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "Handler.Reconnected", func() bool { return b.rec.reconnects.Load() >= 1 })
}

// testRestart subscribes b to a room, runs restart, and then checks that b reconnected,
// resubscribed the room and receives from a again.
func testRestart(t *testing.T, a, b *testNode, restart func()) {
	t.Helper()
	ctx := context.Background()
	if err := b.Subscribe(ctx, KindRoom, "lobby"); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, a, deliver(KindRoom, "lobby", "before"))
	waitFor(t, 5*time.Second, "message before restart", func() bool { return b.rec.count("before") == 1 })

	restart()

	waitFor(t, 10*time.Second, "reconnect counted and ready", func() bool {
		return b.Stats().Reconnects >= 1 && b.Ready()
	})
	// Publish until one arrives: a's pool may need a retry, and the room subscription may be
	// confirmed a moment after Ready.
	waitFor(t, 10*time.Second, "room message after restart", func() bool {
		_ = a.Publish(ctx, deliver(KindRoom, "lobby", "after"))
		time.Sleep(20 * time.Millisecond)
		return b.rec.count("after") > 0
	})
	if refs, confirmed := b.refsOf(b.Channel(KindRoom, "lobby")); refs != 1 || !confirmed {
		t.Fatalf("room after restart: refs=%d confirmed=%v", refs, confirmed)
	}
	// A new Subscribe works on the new connection.
	if err := b.Subscribe(ctx, KindUser, "bob"); err != nil {
		t.Fatalf("Subscribe after restart: %v", err)
	}
	mustPublish(t, a, deliver(KindUser, "bob", "bob-after"))
	waitFor(t, 5*time.Second, "user message after restart", func() bool { return b.rec.count("bob-after") == 1 })
}

// TestIdleNoReconnect checks that idle read deadlines and pings do not replace the connection.
func TestIdleNoReconnect(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	b := startNode(t, m.Addr(), "node-b", func(c *Config) { c.PingInterval = 50 * time.Millisecond })
	time.Sleep(500 * time.Millisecond) // deliberately idle for ~10 ping intervals
	if s := b.Stats(); s.Reconnects != 0 || !b.Ready() {
		t.Fatalf("after idling: ready=%v stats=%+v", b.Ready(), s)
	}
	mustPublish(t, b, deliver(KindAll, "", "x"))
	waitFor(t, 5*time.Second, "message after idling", func() bool { return b.rec.count("x") == 1 })
}

func TestRunStopsOnContext(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	rdb := newClient(t, &redis.Options{Addr: m.Addr()})
	b, err := New(rdb, Config{NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, nop) }()
	waitFor(t, 5*time.Second, "ready", b.Ready)
	if err := b.Run(ctx, nop); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	// A Subscribe waiting for a confirmation that never comes is released by the stop.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if b.Ready() {
		t.Fatal("Ready after stop")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// TestSubscribeTimeout: without a running receive loop nobody reads the confirmation, so
// Subscribe must give up after SubscribeTimeout and give its reference back.
func TestSubscribeTimeout(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	rdb := newClient(t, &redis.Options{Addr: m.Addr()})
	b, err := New(rdb, Config{NodeID: "n1", SubscribeTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	err = b.Subscribe(context.Background(), KindRoom, "r")
	if !errors.Is(err, ErrSubscribeTimeout) {
		t.Fatalf("Subscribe = %v, want ErrSubscribeTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Subscribe took %s", d)
	}
	if refs, _ := b.refsOf(b.Channel(KindRoom, "r")); refs != 0 {
		t.Fatalf("refs after timeout = %d", refs)
	}
	waitFor(t, 5*time.Second, "unsubscribed in redis", func() bool { return len(m.PubSubChannels("ws:ch:room:*")) == 0 })
}

// TestExpiredContextKeepsConnection: a caller's expired deadline must not reach the pub/sub
// connection's writes, where go-redis would treat it as a broken connection and redial.
func TestExpiredContextKeepsConnection(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	b := startNode(t, m.Addr(), "node-b", nil)
	if err := b.Subscribe(context.Background(), KindRoom, "keep"); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for range 20 {
		if err := b.Subscribe(expired, KindRoom, "never"); err == nil {
			t.Fatal("Subscribe with expired ctx succeeded")
		}
	}
	if err := b.Unsubscribe(expired, KindRoom, "keep"); err != nil {
		t.Fatalf("Unsubscribe with expired ctx: %v", err)
	}
	waitFor(t, 5*time.Second, "unsubscribe processed", func() bool { return len(m.PubSubChannels("ws:ch:room:*")) == 0 })
	mustPublish(t, b, deliver(KindNode, "node-b", "alive"))
	waitFor(t, 5*time.Second, "node message", func() bool { return b.rec.count("alive") == 1 })
	if s := b.Stats(); s.Reconnects != 0 || !b.Ready() {
		t.Fatalf("ready=%v stats=%+v, want no reconnect", b.Ready(), s)
	}
}
