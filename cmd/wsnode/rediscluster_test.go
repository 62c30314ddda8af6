package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

// Cluster mode: seeds of a real Redis Cluster are accepted and give a
// cluster client with the pool default; a plain redis-server among the
// seeds is refused with a message naming it; single mode refuses a
// cluster node and names cluster mode.
func TestRedisModeCluster(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{})
	m := &Main{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.opts.redisMode, m.opts.redisURL = modeCluster, c.URL()
	rdb, closeFn, err := m.redisClient(context.Background())
	if err != nil {
		t.Fatalf("cluster mode against a cluster: %v", err)
	}
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("client %T, want *redis.ClusterClient", rdb)
	}
	if got := cc.Options().PoolSize; got != defaultPoolSize() {
		t.Errorf("pool size %d, want %d", got, defaultPoolSize())
	}
	if err := cc.Set(context.Background(), "{x}k", "v", 0).Err(); err != nil {
		t.Errorf("write through the client: %v", err)
	}
	closeFn()

	plain := rediscluster.StartStandalone(t)
	m.opts.redisURL = "redis://" + c.Nodes[0].Addr() + "?addr=" + plain
	if _, _, err := m.redisClient(context.Background()); err == nil || !strings.Contains(err.Error(), plain+" is not a Redis Cluster node") {
		t.Errorf("a plain Redis among the seeds: %v, want a refusal naming it", err)
	}
	m.opts.redisMode, m.opts.redisURL = modeSingle, "redis://"+c.Nodes[1].Addr()
	if _, _, err := m.redisClient(context.Background()); err == nil || !strings.Contains(err.Error(), "use --redis-mode cluster") {
		t.Errorf("single mode against a cluster node: %v, want a refusal naming cluster mode", err)
	}
}
