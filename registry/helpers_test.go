package registry

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is a fixed, millisecond-aligned time for tests.
var t0 = time.UnixMilli(1_700_000_000_000)

// MustMiniredis starts a miniredis and a client on it, both closed at cleanup.
func MustMiniredis(tb testing.TB) (*miniredis.Miniredis, *redis.Client) {
	tb.Helper()
	m := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return m, rdb
}

// MustRegistry builds a Registry for node on rdb; cfg may be nil.
func MustRegistry(tb testing.TB, rdb redis.UniversalClient, node string, cfg *Config) *Registry {
	tb.Helper()
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	c.NodeID = node
	r, err := New(rdb, c)
	if err != nil {
		tb.Fatalf("New(%q): %v", node, err)
	}
	return r
}

// mustBeat heartbeats r and fails the test on error.
func mustBeat(tb testing.TB, r *Registry) (lost bool) {
	tb.Helper()
	lost, err := r.Heartbeat(context.Background(), Node{Addr: "127.0.0.1:0", Version: "test"})
	if err != nil {
		tb.Fatalf("Heartbeat(%s): %v", r.NodeID(), err)
	}
	return lost
}

func mustRegister(tb testing.TB, r *Registry, c Conn) {
	tb.Helper()
	if c.ConnectedAt.IsZero() {
		c.ConnectedAt = t0
	}
	if err := r.Register(context.Background(), c); err != nil {
		tb.Fatalf("Register(%s): %v", c.ID, err)
	}
}

func noErr(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("unexpected error: %v", err)
	}
}

func isErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("error = %v, want %v", err, want)
	}
}

func equal[T any](tb testing.TB, what string, got, want T) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// allKeys returns every key in rdb, sorted.
func allKeys(tb testing.TB, rdb redis.UniversalClient) []string {
	tb.Helper()
	var keys []string
	iter := rdb.Scan(context.Background(), 0, "*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	noErr(tb, iter.Err())
	sort.Strings(keys)
	return slices.Compact(keys)
}

// members returns SMEMBERS key, sorted; nil for an empty or missing set.
func members(tb testing.TB, rdb redis.UniversalClient, key string) []string {
	tb.Helper()
	v, err := rdb.SMembers(context.Background(), key).Result()
	noErr(tb, err)
	if len(v) == 0 {
		return nil
	}
	sort.Strings(v)
	return v
}

func counts(tb testing.TB, r *Registry) Counts {
	tb.Helper()
	c, err := r.Counts(context.Background())
	noErr(tb, err)
	return c
}

func sorted(s ...string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}
