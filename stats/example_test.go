package stats_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/stats"
)

func Example() {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	// Two nodes share one Redis; each counts locally.
	cfg := stats.Config{Prefix: "demo", Logger: slog.New(slog.DiscardHandler)}
	a, _ := stats.New(rdb, cfg)
	b, _ := stats.New(rdb, cfg)

	for range 3 {
		a.Message(protocol.TypeMessage)
	}
	b.Message(protocol.TypeMessage)
	b.Message("made-up-type") // counted as "unknown": the label set is fixed
	a.Error(counter.ErrRateLimited)
	b.Error("weird") // counted as "other"
	a.Add(counter.CtrDelivered, 10)
	a.Add("not-a-counter", 99) // ignored

	// Nothing reaches Redis until a flush (Run does this every FlushInterval).
	before, _ := a.Cluster(ctx)
	fmt.Println("before flush:", before.MessagesTotal)

	for _, s := range []*stats.Stats{a, b} {
		if err := s.Flush(ctx); err != nil {
			panic(err)
		}
	}
	c, err := a.Cluster(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("messages:", c.MessagesByType[protocol.TypeMessage], "unknown:", c.MessagesByType[counter.MsgUnknown], "total:", c.MessagesTotal)
	fmt.Println("errors:", c.ErrorsByKind[counter.ErrRateLimited], c.ErrorsByKind[counter.ErrOther], "total:", c.ErrorsTotal)
	fmt.Println("counters:", c.Counters)
	fmt.Println("node a alone:", a.Local().MessagesTotal)

	// A second flush sends only what changed since the first.
	a.Message(protocol.TypeMessage)
	_ = a.Flush(ctx)
	_ = a.Flush(ctx)
	c, _ = b.Cluster(ctx)
	fmt.Println("after more traffic:", c.MessagesByType[protocol.TypeMessage])
	// Output:
	// before flush: 0
	// messages: 4 unknown: 1 total: 5
	// errors: 1 1 total: 2
	// counters: map[delivered_total:10]
	// node a alone: 3
	// after more traffic: 5
}
