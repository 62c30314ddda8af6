package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Group: "g"}.WithDefaults()
	host, _ := os.Hostname()
	equal(t, "defaults", []any{c.Prefix, c.Stream, c.Consumer, c.Count, c.Block, c.ClaimMinIdle, c.ClaimInterval, c.StartID, c.HandlerGrace},
		[]any{"ws", "ws:events", host + "-" + strconv.Itoa(os.Getpid()), 100, 2 * time.Second, 30 * time.Second, 5 * time.Second, "0", 10 * time.Second})
	equal(t, "prefix", Config{Group: "g", Prefix: "app"}.WithDefaults().Stream, "app:events")
	equal(t, "stream wins", Config{Group: "g", Prefix: "app", Stream: "audit"}.WithDefaults().Stream, "audit")
}

func TestConfigErrors(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialed
	defer rdb.Close()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Group is required"},
		{Config{Group: "g", Prefix: "a:b"}, "prefix name"},
		{Config{Group: "g", Count: -1}, "Count"},
		{Config{Group: "g", Block: -time.Second}, "Block"},
		{Config{Group: "g", ClaimMinIdle: time.Microsecond}, "ClaimMinIdle"},
		{Config{Group: "g", ClaimInterval: -1}, "ClaimInterval"},
		{Config{Group: "g", StartID: "latest"}, "StartID"},
		{Config{Group: "g", StartID: "1-x"}, "StartID"},
	} {
		_, err := New(rdb, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "events: new: ") {
			t.Errorf("New(%+v) = %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
	for _, id := range []string{"$", "0", "1700000000000-0", "1700000000000"} {
		if _, err := New(rdb, Config{Group: "g", StartID: id}); err != nil {
			t.Errorf("StartID %q: %v", id, err)
		}
	}
	if _, err := New(nil, Config{Group: "g"}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestRunOnce(t *testing.T) {
	rdb := newMiniredis(t)
	c := newConsumer(t, rdb, "w1", noClaim)
	if err := c.Run(context.Background(), nil); !errors.Is(err, ErrNilHandler) {
		t.Fatalf("Run(nil) = %v", err)
	}
	var col collector
	stop := start(t, c, col.handle)
	addEvents(t, rdb, 0, 1)
	col.waitCount(t, 1) // the first Run is running
	if err := c.Run(context.Background(), col.handle); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	stop()
	if err := c.Run(context.Background(), col.handle); !errors.Is(err, ErrRunning) {
		t.Fatalf("Run after Run = %v, want ErrRunning", err)
	}
}

// While Redis is down, Run retries with backoff (it does not spin and does
// not return); when Redis is back, it creates the group again and goes on.
func TestRedisOutage(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	var col collector
	c := newConsumer(t, rdb, "w1", noClaim)
	start(t, c, col.handle)
	addEvents(t, rdb, 0, 1)
	col.waitCount(t, 1)

	addr := m.Addr()
	m.Close()
	waitFor(t, "errors counted", func() error {
		if c.Stats().Errors < 3 {
			return fmt.Errorf("stats %+v", c.Stats())
		}
		return nil
	})
	time.Sleep(time.Second)
	// Backoff 50 ms, 100 ms, ... caps the calls in a second at a handful;
	// a spinning loop would make thousands.
	if n := c.Stats().Errors; n > 30 {
		t.Fatalf("%d Redis errors within about a second: the loop spins", n)
	}

	m2 := miniredis.NewMiniRedis() // empty, as after a restart without persistence
	if err := m2.StartAddr(addr); err != nil {
		t.Skipf("cannot restart on %s: %v", addr, err)
	}
	t.Cleanup(m2.Close)
	waitFor(t, "the entry written after the restart", func() error {
		if len(col.seen()) < 2 {
			addEvents(t, rdb, 1, 2)
			return fmt.Errorf("%d handled", len(col.seen()))
		}
		return nil
	})
}

func TestEntryJSON(t *testing.T) {
	b, err := json.Marshal(Entry{ID: "1-0", Event: Event{Type: Leave, ConnID: "c1", ConnType: "user", Room: "r"}, Redelivered: true})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "json", string(b), `{"id":"1-0","type":"leave","ts":0,"node_id":"","conn_id":"c1","conn_type":"user","room":"r","redelivered":true}`)
}
