package main

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// A node limited to one CPU still gets a pool large enough for a burst of
// connects; a pool_size in the URL wins.
func TestRedisPoolSize(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// One CPU, where go-redis alone would give 10 connections.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	defer mr.Close() // before goleak's check
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"redis://" + mr.Addr() + "/0", minRedisPool},
		{"redis://" + mr.Addr() + "/0?pool_size=7", 7},
	} {
		m := &Main{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		m.opts.redisURL = tc.url
		rdb, closeFn, err := m.redisClient(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		got := rdb.(*redis.Client).Options().PoolSize
		closeFn()
		if got != tc.want {
			t.Errorf("%s: pool size %d, want %d", tc.url, got, tc.want)
		}
	}
}
