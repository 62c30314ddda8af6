package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"
)

type fakeSlots struct {
	slots   []redis.ClusterShard
	err     error
	reloads int
}

func (f *fakeSlots) ClusterShards(ctx context.Context) *redis.ClusterShardsCmd {
	c := redis.NewClusterShardsCmd(ctx)
	if f.err != nil {
		c.SetErr(f.err)
	} else {
		c.SetVal(f.slots)
	}
	return c
}

func (f *fakeSlots) ReloadState(context.Context) { f.reloads++ }

// slotMap is one shard per primary id; "rX" is X's replica, promoted when
// it is named as the primary.
func slotMap(primaries ...string) []redis.ClusterShard {
	var out []redis.ClusterShard
	for i, p := range primaries {
		other := "r" + p
		if p[0] == 'r' {
			other = p[1:]
		}
		out = append(out, redis.ClusterShard{Slots: []redis.SlotRange{{Start: int64(i * 100), End: int64(i*100 + 99)}},
			Nodes: []redis.Node{
				{ID: other, Endpoint: "127.0.0.1", Port: 8000, Role: "replica", Health: "online"},
				{ID: p, Endpoint: "127.0.0.1", Port: 7000, Role: "master", Health: "online"},
			}})
	}
	return out
}

// The watcher takes its first read as the baseline, ignores failed reads
// and unchanged maps, and reloads and re-asserts once per change of any
// range's primary, whatever the order of the ranges in the reply.
func TestTopologyWatcher(t *testing.T) {
	f := &fakeSlots{slots: slotMap("1", "2", "3")}
	reasserts := 0
	w := &topologyWatcher{rdb: f, reassert: func() { reasserts++ }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	step := func(what string, wantReloads, wantReasserts int) {
		t.Helper()
		w.check(ctx)
		if f.reloads != wantReloads || reasserts != wantReasserts {
			t.Fatalf("%s: %d reloads, %d re-assertions; want %d, %d", what, f.reloads, reasserts, wantReloads, wantReasserts)
		}
	}
	step("baseline", 0, 0)
	step("unchanged", 0, 0)
	f.slots = []redis.ClusterShard{f.slots[2], f.slots[0], f.slots[1]}
	step("same map, other order", 0, 0)
	f.err = errors.New("dial tcp: connection refused")
	step("failed read", 0, 0)
	f.err, f.slots = nil, slotMap("1", "r2", "3") // the replica of 2 was promoted
	step("failover", 1, 1)
	step("settled", 1, 1)
}
