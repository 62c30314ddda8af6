package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/internal/freeport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// body builds an envelope-like body whose payload is a message frame.
func body(i int) []byte {
	return []byte(fmt.Sprintf("\x01\x01\x00\x00\x00\x00{\"type\":\"message\",\"room\":\"r\",\"data\":%d}", i))
}

// payload returns the JSON payload of a body built by body (after the
// 6-byte header).
func payload(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b[6:], &m); err != nil {
		t.Fatalf("payload %q: %v", b, err)
	}
	return m
}

func TestMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	runStore(t, rdb, func(d time.Duration) { m.FastForward(d) })
}

// TestRealRedis checks the scripts against real Redis semantics (stream IDs,
// approximate trimming, PEXPIRE), which miniredis only imitates.
func TestRealRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rdb := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))})
	t.Cleanup(func() { _ = rdb.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Expiry is simulated by deleting the keys: real time is not ours.
	runStore(t, rdb, nil)
}

func runStore(t *testing.T, rdb *redis.Client, fastForward func(time.Duration)) {
	ctx := context.Background()
	s, err := New(rdb, Config{Size: 3, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sub := rdb.Subscribe(ctx, "ws:ch:room:r")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	// On a fresh Redis the pipelined EVALSHA fails with NOSCRIPT and does
	// not run: nothing is stored, nothing published.
	p := rdb.Pipeline()
	res, err := s.Queue(ctx, p, "r", "ws:ch:room:r", body(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx); !IsNoScript(err) {
		t.Fatalf("pipeline before Load: %v, want NOSCRIPT", err)
	}
	if _, err := res(); !IsNoScript(err) {
		t.Fatalf("result before Load: %v, want NOSCRIPT", err)
	}
	if n := rdb.Exists(ctx, streamKey("ws", "r"), metaKey("ws", "r")).Val(); n != 0 {
		t.Fatalf("%d history keys after a NOSCRIPT", n)
	}
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}

	// Append through a pipeline, as the publisher does.
	var pubs []Published
	for round := range 2 {
		p := rdb.Pipeline()
		var results []func() (Published, error)
		for i := range 2 {
			res, err := s.Queue(ctx, p, "r", "ws:ch:room:r", body(round*2+i+1))
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for _, res := range results {
			pub, err := res()
			if err != nil {
				t.Fatal(err)
			}
			pubs = append(pubs, pub)
		}
	}
	epoch := pubs[0].Epoch
	for i, p := range pubs {
		if p.Offset != uint64(i+1) || p.Epoch != epoch || p.Receivers != 1 || len(epoch) != 16 {
			t.Fatalf("publish %d: %+v, want offset %d, epoch %q, 1 receiver", i, p, i+1, epoch)
		}
	}
	// Subscribers got the completed payloads, in order.
	for i := range pubs {
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pl := payload(t, []byte(msg.Payload))
		if pl["offset"] != float64(i+1) || pl["epoch"] != epoch || pl["data"] != float64(i+1) {
			t.Fatalf("published payload %d: %v", i, pl)
		}
	}

	// Recovery inside the window, at the head, and outside it.
	entries, cur, ok, err := s.Recover(ctx, "r", Position{Offset: 2, Epoch: epoch})
	if err != nil || !ok || cur != (Position{4, epoch}) || len(entries) != 2 || entries[0].Offset != 3 || entries[1].Offset != 4 {
		t.Fatalf("Recover(2) = %v %+v %v %v, want offsets 3 and 4", entries, cur, ok, err)
	}
	if pl := payload(t, entries[1].Body); pl["offset"] != 4.0 || pl["data"] != 4.0 {
		t.Fatalf("stored body %v", pl)
	}
	if entries, _, ok, _ := s.Recover(ctx, "r", Position{Offset: 4, Epoch: epoch}); !ok || len(entries) != 0 {
		t.Fatalf("Recover(head) = %v %v, want recovered with nothing to replay", entries, ok)
	}
	for _, since := range []Position{{0, epoch}, {2, "other"}, {9, epoch}, {2, ""}} {
		if entries, cur, ok, err := s.Recover(ctx, "r", since); err != nil || ok || entries != nil || cur != (Position{4, epoch}) {
			t.Fatalf("Recover(%+v) = %v %+v %v %v, want not recovered with the current position", since, entries, cur, ok, err)
		}
	}
	// Reads are clipped to Size and come oldest first.
	last, cur, err := s.Last(ctx, "r", 100)
	if err != nil || len(last) != 3 || last[0].Offset != 2 || last[2].Offset != 4 || cur.Offset != 4 {
		t.Fatalf("Last(100) = %v %+v %v, want offsets 2..4", last, cur, err)
	}
	after, _, err := s.After(ctx, "r", 1, 2)
	if err != nil || len(after) != 2 || after[0].Offset != 2 || after[1].Offset != 3 {
		t.Fatalf("After(1, 2) = %v %v", after, err)
	}

	// A room without history.
	if p, err := s.Current(ctx, "none"); err != nil || p != (Position{}) {
		t.Fatalf("Current(none) = %+v %v", p, err)
	}
	if _, _, ok, err := s.Recover(ctx, "none", Position{Offset: 1, Epoch: epoch}); ok || err != nil {
		t.Fatalf("Recover(none) = %v %v", ok, err)
	}

	// The history expires after TTL of silence; the next message starts a
	// new epoch at offset 1 and old positions are not recoverable.
	if fastForward != nil {
		fastForward(time.Minute + time.Second)
	} else {
		if err := rdb.Del(ctx, streamKey("ws", "r"), metaKey("ws", "r")).Err(); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := s.Publish(ctx, "r", "ws:ch:room:r", body(5))
	if err != nil || pub.Offset != 1 || pub.Epoch == epoch {
		t.Fatalf("after expiry: %+v %v, want offset 1 in a new epoch", pub, err)
	}
	if _, cur, ok, _ := s.Recover(ctx, "r", Position{Offset: 4, Epoch: epoch}); ok || cur != pub.Position {
		t.Fatalf("old epoch recovered=%v cur %+v", ok, cur)
	}
	// A lost meta with a surviving stream (eviction) also starts afresh.
	if err := rdb.Del(ctx, metaKey("ws", "r")).Err(); err != nil {
		t.Fatal(err)
	}
	if p2, err := s.Publish(ctx, "r", "ws:ch:room:r", body(6)); err != nil || p2.Offset != 1 || p2.Epoch == pub.Epoch {
		t.Fatalf("after a lost meta: %+v %v", p2, err)
	}
	if ttl := rdb.PTTL(ctx, streamKey("ws", "r")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("stream TTL %s, want (0, 1m]", ttl)
	}
}

func TestConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, bad := range []Config{{Size: -1}, {Size: MaxSize + 1}, {Size: 5, TTL: time.Millisecond}, {Size: 5, Rooms: []string{"["}}, {Size: 5, Rooms: []string{""}}} {
		if _, err := New(rdb, bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
	s, err := New(rdb, Config{Size: 5, Rooms: []string{"ai.*", "support"}})
	if err != nil {
		t.Fatal(err)
	}
	for room, want := range map[string]bool{"ai.1": true, "ai.": true, "support": true, "supports": false, "x.ai.1": false} {
		if got := s.Enabled(room); got != want {
			t.Errorf("Enabled(%q) = %v, want %v", room, got, want)
		}
	}
	off, _ := New(rdb, Config{})
	if off.Enabled("any") {
		t.Error("size 0 enables history")
	}
	all, _ := New(rdb, Config{Size: 1})
	if !all.Enabled("any") || all.TTL() != DefaultTTL {
		t.Errorf("size 1 without patterns: enabled %v ttl %s", all.Enabled("any"), all.TTL())
	}
	if _, err := all.Publish(context.Background(), "r", "c", []byte("\x01\x01{}")); !errors.Is(err, ErrBadPayload) {
		t.Errorf("empty object payload: %v", err)
	}
}
