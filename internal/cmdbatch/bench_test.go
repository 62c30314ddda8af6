package cmdbatch

import (
	"context"
	"fmt"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// BenchmarkIncr compares INCRs from parallel goroutines sent through a
// Batcher with the same sent as plain commands (each its own round trip on
// a pooled connection), against an in-process miniredis. Run with
// -cpu 1,2 and -benchmem. With as many callers as Ps the Batcher is slower
// (one round trip in flight, where plain commands overlap theirs on
// separate connections); with 16 per P its callers share round trips.
func BenchmarkIncr(b *testing.B) {
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), Protocol: 2, DisableIdentity: true})
	b.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", par), func(b *testing.B) { benchIncr(b, ctx, rdb, par) })
	}
}

func benchIncr(b *testing.B, ctx context.Context, rdb *redis.Client, par int) {
	b.Run("plain", func(b *testing.B) {
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := rdb.Incr(ctx, "k").Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("batched", func(b *testing.B) {
		bt := New(rdb, Config{})
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := bt.Do(ctx, redis.NewIntCmd(ctx, "incr", "k")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
