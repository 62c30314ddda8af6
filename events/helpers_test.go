package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/internal/freeport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test timings: short enough for claims to happen within a test, with
// generous deadlines (waitFor) for a busy machine.
const (
	testBlock    = 50 * time.Millisecond
	testInterval = 50 * time.Millisecond
	testIdle     = 300 * time.Millisecond // ClaimMinIdle where a claim is expected
	noClaim      = time.Hour              // ClaimMinIdle where none may happen
	deadline     = 20 * time.Second
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// forEachRedis runs f against miniredis and against a real redis-server.
func forEachRedis(t *testing.T, f func(t *testing.T, rdb *redis.Client)) {
	t.Run("miniredis", func(t *testing.T) { f(t, newMiniredis(t)) })
	t.Run("redis-server", func(t *testing.T) { f(t, newRealRedis(t)) })
}

func newMiniredis(t *testing.T) *redis.Client {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// newRealRedis starts a private redis-server on a free loopback port,
// stopped at cleanup. Without redis-server on PATH it skips the test, or
// fails it when WS_REQUIRE_REDIS=1.
func newRealRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("WS_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server is not on PATH and WS_REQUIRE_REDIS=1")
		}
		t.Skip("redis-server is not on PATH; skipping (WS_REQUIRE_REDIS=1 makes this a failure)")
	}
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rdb := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))})
	t.Cleanup(func() { _ = rdb.Close() })
	waitFor(t, "redis-server to answer PING", func() error { return rdb.Ping(context.Background()).Err() })
	return rdb
}

// waitFor polls cond until it returns nil, failing the test after deadline.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %s still waiting for %s: %v", deadline, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testEvent is the i-th message event of the tests; its MsgID is i.
func testEvent(i int) Event {
	return Event{Type: Message, TS: 1_700_000_000_000 + int64(i), NodeID: "n1", ConnID: "c1",
		User: "alice", ConnType: "user", Room: "lobby", MsgID: strconv.Itoa(i),
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
}

// addEvents appends the events from..to-1 to the stream and returns their ids.
func addEvents(t *testing.T, rdb *redis.Client, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		b, err := json.Marshal(testEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, addRaw(t, rdb, Field, string(b)))
	}
	return ids
}

// addRaw appends an entry with the given field-value pairs.
func addRaw(t *testing.T, rdb *redis.Client, values ...any) string {
	t.Helper()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: StreamKey(DefaultPrefix), Values: values}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newConsumer returns a Consumer of group "g" named name with the test
// timings; mod may change the config.
func newConsumer(t *testing.T, rdb *redis.Client, name string, idle time.Duration, mod ...func(*Config)) *Consumer {
	t.Helper()
	cfg := Config{Group: "g", Consumer: name, Block: testBlock, ClaimInterval: testInterval,
		ClaimMinIdle: idle, Logger: quiet}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs c with h until the returned stop is called (or the test ends);
// stop cancels Run's context and waits for Run to return nil.
func start(t *testing.T, c *Consumer, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(deadline):
				t.Fatalf("Run did not return within %s of its context's cancellation", deadline)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// collector records the entries its handler saw.
type collector struct {
	mu      sync.Mutex
	entries []Entry
}

func (c *collector) handle(_ context.Context, e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, e)
	return nil
}

func (c *collector) seen() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.entries)
}

func (c *collector) ids() []string {
	var ids []string
	for _, e := range c.seen() {
		ids = append(ids, e.ID)
	}
	return ids
}

// waitCount waits until the collector has seen n entries.
func (c *collector) waitCount(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d entries", n), func() error {
		if got := len(c.seen()); got < n {
			return fmt.Errorf("%d entries", got)
		}
		return nil
	})
}

// pending returns the group's pending entries per consumer.
func pending(t *testing.T, rdb *redis.Client) map[string]int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), StreamKey(DefaultPrefix), "g").Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Consumers == nil {
		return map[string]int64{}
	}
	return p.Consumers
}

// waitNonePending waits until the group has no pending entries.
func waitNonePending(t *testing.T, rdb *redis.Client) {
	t.Helper()
	waitFor(t, "no pending entries", func() error {
		if p := pending(t, rdb); len(p) > 0 {
			return fmt.Errorf("pending: %v", p)
		}
		return nil
	})
}

// readAsDead reads up to n new entries as consumer name without
// acknowledging them, as a worker that then died would; the group is
// created first (from "0").
func readAsDead(t *testing.T, rdb *redis.Client, name string, n int) []string {
	t.Helper()
	ctx := context.Background()
	err := rdb.XGroupCreateMkStream(ctx, StreamKey(DefaultPrefix), "g", "0").Err()
	if err != nil && err.Error() != "BUSYGROUP Consumer Group name already exists" {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: name,
		Streams: []string{StreamKey(DefaultPrefix), ">"}, Count: int64(n), Block: -1}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// counts returns c's Stats without the Redis errors: a stall of a busy
// machine may time a call out, which Run retries and counts.
func counts(c *Consumer) Stats {
	s := c.Stats()
	s.Errors = 0
	return s
}
