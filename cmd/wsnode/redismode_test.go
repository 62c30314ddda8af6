package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// --redis-mode: unknown and cluster modes, and a sentinel mode without a
// URL, stop the node at flag parsing, with a message that says why.
func TestRedisModeFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--redis-mode", "cluster"}, want: "--redis-mode cluster needs a --redis-url naming seed nodes"},
		{env: map[string]string{"WS_REDIS_MODE": "cluster"}, want: "--redis-mode cluster needs a --redis-url"},
		{args: []string{"--redis-mode", "replicated"}, want: `--redis-mode must be single, sentinel or cluster, not "replicated"`},
		{args: []string{"--redis-mode", "sentinel"}, want: "--redis-mode sentinel needs a --redis-url"},
	} {
		m := &Main{Stdout: io.Discard, Stderr: io.Discard}
		err := m.ParseFlags(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: error %v, want %q", tt.args, tt.env, err, tt.want)
		}
	}
	for _, ok := range [][]string{nil, {"--redis-mode", "single"}, {"--redis-mode", "sentinel", "--redis-url", "redis://h:26379?master_name=m"},
		{"--redis-mode", "cluster", "--redis-url", "redis://127.0.0.1:7000?addr=127.0.0.1:7001"}} {
		m := &Main{Stdout: io.Discard, Stderr: io.Discard}
		if err := m.ParseFlags(ok, func(string) (string, bool) { return "", false }); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}

// A URL is parsed by go-redis' parser of its mode; a malformed one, or one
// of the other mode, is refused with the expected form.
func TestRedisModeURLs(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, tt := range []struct{ mode, url, want string }{
		{modeSingle, "redis://h:26379/0?master_name=m&addr=h2:26379", "needs --redis-mode sentinel"},
		{modeSingle, "http://h:6379", "invalid URL scheme"},
		{modeSentinel, "redis://h:26379/0", "has no master_name"},
		{modeSentinel, "redis://h:26379/0?master_name=m&addr=nohost", "unable to parse addr param"},
		{modeSentinel, "redis://h:26379/0?master_name=m&bogus=1", "unexpected option: bogus"},
		{modeCluster, "redis://h:7000?addr=nohost", "unable to parse addr param"},
		{modeCluster, "redis://h:7000?master_name=m", "unexpected option: master_name"},
		{modeCluster, "tcp://h:7000", "invalid URL scheme"},
	} {
		m := &Main{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		m.opts.redisMode, m.opts.redisURL = tt.mode, tt.url
		rdb, closeFn, err := m.redisClient(context.Background())
		if err == nil {
			closeFn()
			t.Errorf("%s %s: accepted (%T)", tt.mode, tt.url, rdb)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: error %q, want %q", tt.mode, tt.url, err, tt.want)
		}
	}
}

// Sentinel mode: a plain Redis in the sentinel list is refused; sentinels
// that cannot be reached are not (the node starts unready), and the pool
// size default applies as in single mode.
func TestRedisModeSentinel(t *testing.T) {
	// After a failed dial go-redis' pool retries in a goroutine that sleeps
	// 1 s and only then sees that the client was closed.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	m := &Main{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.opts.redisMode, m.opts.redisURL = modeSentinel, "redis://"+mr.Addr()+"/0?master_name=m"
	if _, _, err := m.redisClient(context.Background()); err == nil || !strings.Contains(err.Error(), "is not a Redis Sentinel") {
		t.Fatalf("sentinel mode against a plain Redis: %v, want a refusal", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there now
	for _, tc := range []struct {
		query string
		want  int
	}{{"", minRedisPool}, {"&pool_size=7", 7}} {
		m.opts.redisURL = "redis://" + closed + "/0?master_name=m" + tc.query
		rdb, closeFn, err := m.redisClient(context.Background())
		if err != nil {
			t.Fatalf("unreachable sentinel: %v, want a client that waits", err)
		}
		got := rdb.(*redis.Client).Options().PoolSize
		closeFn()
		if got != tc.want {
			t.Errorf("%s: pool size %d, want %d", m.opts.redisURL, got, tc.want)
		}
	}
}
