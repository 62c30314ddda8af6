package pubsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/pubsub"
)

// Two nodes share one Redis. Node b subscribes to a room by interest; node a publishes a
// client frame to the room once, and b's handler gets it with the payload untouched.
func Example() {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	start := func(id string, h pubsub.HandlerFunc) *pubsub.Broker {
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		b, err := pubsub.New(rdb, pubsub.Config{NodeID: id, Logger: quiet})
		if err != nil {
			panic(err)
		}
		go b.Run(ctx, h)
		for !b.Ready() {
			time.Sleep(time.Millisecond)
		}
		return b
	}

	got := make(chan pubsub.Envelope, 1)
	a := start("node-a", func(pubsub.Envelope) {})
	defer a.Close()
	b := start("node-b", func(e pubsub.Envelope) { got <- e })
	defer b.Close()

	if err := b.Subscribe(ctx, pubsub.KindRoom, "lobby"); err != nil {
		panic(err)
	}
	err = a.Publish(ctx, pubsub.Envelope{
		Kind:    pubsub.KindRoom,
		Target:  "lobby",
		Op:      pubsub.OpDeliver,
		Payload: []byte(`{"type":"message","room":"lobby","data":"hi"}`),
	})
	if err != nil {
		panic(err)
	}
	e := <-got
	fmt.Println(b.Channel(e.Kind, e.Target))
	fmt.Println(string(e.Payload))
	// Output:
	// ws:ch:room:lobby
	// {"type":"message","room":"lobby","data":"hi"}
}
