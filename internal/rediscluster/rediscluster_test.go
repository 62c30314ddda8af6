package rediscluster

import (
	"context"
	"testing"
	"time"
)

// TestStart starts a 3-primary cluster with a replica each, and checks that
// keys of different slots are served, and that killing a primary promotes
// its replica.
func TestStart(t *testing.T) {
	c := Start(t, Options{Replicas: 1})
	if len(c.Nodes) != 6 {
		t.Fatalf("nodes: %d", len(c.Nodes))
	}
	rdb := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range []string{"a", "b", "c", "{x}1", "{y}2"} {
		if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	p := c.PrimaryFor(t, "a")
	p.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := rdb.Set(ctx, "a", "w", 0).Err()
		if err == nil {
			if q := c.PrimaryFor(t, "a"); q == p {
				t.Fatal("the killed primary still serves the slot")
			}
			break
		}
		rdb.ReloadState(ctx) // go-redis alone refreshes its slot map only every 10 s
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 20 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCommandCalls(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_publish:calls=3,usec=1\r\ncmdstat_spublish:calls=12,usec=5\r\n"
	if got := commandCalls(info, "publish"); got != 3 {
		t.Errorf("publish: %d", got)
	}
	if got := commandCalls(info, "spublish"); got != 12 {
		t.Errorf("spublish: %d", got)
	}
	if got := commandCalls(info, "get"); got != 0 {
		t.Errorf("get: %d", got)
	}
}
