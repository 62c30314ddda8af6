package rediscluster

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MigrateSlot moves slot from its current primary to the primary target, as
// redis-cli --cluster reshard does: CLUSTER SETSLOT IMPORTING on target and
// MIGRATING on the source, MIGRATE of the slot's keys, then CLUSTER SETSLOT
// NODE on the target, the source and every other primary. It returns the
// source node. It fails tb on any error, or if target already owns slot.
func (c *Cluster) MigrateSlot(tb testing.TB, slot int, target *Node) *Node {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var source *Node
	primaries := c.Primaries(tb)
	ids := map[*Node]string{}
	for _, n := range primaries {
		ids[n] = n.id(tb, ctx)
	}
	if ids[target] == "" {
		tb.Fatalf("rediscluster: %s is not a running primary", target.Addr())
	}
	owner := c.slotOwner(tb, ctx, slot)
	for n := range ids {
		if n.Addr() == owner {
			source = n
		}
	}
	if source == nil || source == target {
		tb.Fatalf("rediscluster: slot %d is served by %s, cannot move it to %s", slot, owner, target.Addr())
	}
	do := func(n *Node, args ...any) {
		tb.Helper()
		rdb := nodeClient(n)
		defer rdb.Close()
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			tb.Fatalf("rediscluster: %v on %s: %v", args, n.Addr(), err)
		}
	}
	do(target, "cluster", "setslot", slot, "importing", ids[source])
	do(source, "cluster", "setslot", slot, "migrating", ids[target])
	src := nodeClient(source)
	defer src.Close()
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		if err != nil {
			tb.Fatalf("rediscluster: GETKEYSINSLOT on %s: %v", source.Addr(), err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"migrate", "127.0.0.1", target.Port, "", 0, 5000, "keys"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			tb.Fatalf("rediscluster: MIGRATE from %s: %v", source.Addr(), err)
		}
	}
	do(target, "cluster", "setslot", slot, "node", ids[target])
	do(source, "cluster", "setslot", slot, "node", ids[target])
	for _, n := range primaries {
		if n != source && n != target {
			do(n, "cluster", "setslot", slot, "node", ids[target])
		}
	}
	return source
}

// Primaries returns the running nodes whose role is master now.
func (c *Cluster) Primaries(tb testing.TB) []*Node {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*Node
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		rdb := nodeClient(n)
		role, err := rdb.Do(ctx, "role").Slice()
		_ = rdb.Close()
		if err != nil {
			tb.Fatalf("rediscluster: ROLE of %s: %v", n.Addr(), err)
		}
		if role[0] == "master" {
			out = append(out, n)
		}
	}
	return out
}

// id returns the node's cluster node id.
func (n *Node) id(tb testing.TB, ctx context.Context) string {
	tb.Helper()
	rdb := nodeClient(n)
	defer rdb.Close()
	id, err := rdb.ClusterMyID(ctx).Result()
	if err != nil {
		tb.Fatalf("rediscluster: CLUSTER MYID of %s: %v", n.Addr(), err)
	}
	return id
}

// slotOwner returns the address of the primary that serves slot, as the
// first running node sees it.
func (c *Cluster) slotOwner(tb testing.TB, ctx context.Context, slot int) string {
	tb.Helper()
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		rdb := nodeClient(n)
		ranges, err := primaryRanges(ctx, rdb)
		_ = rdb.Close()
		if err != nil {
			tb.Fatalf("rediscluster: CLUSTER SHARDS of %s: %v", n.Addr(), err)
		}
		for _, r := range ranges {
			if r.start <= int64(slot) && int64(slot) <= r.end {
				return r.addr
			}
		}
		break
	}
	tb.Fatalf("rediscluster: nobody serves slot %d", slot)
	return ""
}

func nodeClient(n *Node) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
}
