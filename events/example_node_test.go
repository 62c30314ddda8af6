package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/client"
	"github.com/wsnode/wsnode/events"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/server"
)

// The assistant end to end: a node with --events message writes what a
// client says to the stream, the worker reads it from there and answers in
// the same room through the node's Go API, and the client sees the answer.
// From another process the worker would answer with the admin API's POST
// /publish instead.
func Example_assistantWithNode() {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	verifier, err := auth.NewVerifier(0, "example-secret")
	if err != nil {
		panic(err)
	}
	srv, err := server.New(rdb, server.Config{
		Node:   node.Config{NodeID: "node-1", Verifier: verifier, Events: []string{events.Message}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv.ClientHandler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(context.Background()) }()
	defer func() {
		_ = srv.Shutdown(ctx)
		<-runDone
	}()
	for srv.Ready() != nil {
		time.Sleep(10 * time.Millisecond)
	}

	// The worker: every assistant process runs this with its own name.
	a := &assistant{answered: map[string]bool{}, publish: func(ctx context.Context, room string, data json.RawMessage) error {
		return srv.PublishRoom(ctx, room, data, "")
	}}
	worker, err := events.New(rdb, events.Config{Group: "assistant", Consumer: "assistant-1",
		Block: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	workerCtx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(workerCtx, a.handle) }()

	// A user asks in a room.
	bob, err := client.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", client.Config{
		TokenProvider: func(context.Context) (string, error) { return verifier.Mint("bob", auth.TypeUser, time.Hour) },
	})
	if err != nil {
		panic(err)
	}
	defer bob.Close()
	answers := make(chan client.Frame, 4)
	help := bob.Room("help", client.RoomOptions{OnMessage: func(f client.Frame) {
		if f.From != nil && f.From.System {
			answers <- f
		}
	}})
	if _, err := help.Join(ctx); err != nil {
		panic(err)
	}
	if _, err := help.Publish(ctx, map[string]string{"text": "is anyone there?"}); err != nil {
		panic(err)
	}
	select {
	case f := <-answers:
		var answer struct{ Text string }
		_ = json.Unmarshal(f.Data, &answer)
		fmt.Println(f.Room, answer.Text)
	case <-ctx.Done():
		fmt.Println("no answer")
	}
	stopWorker()
	fmt.Println("worker:", <-workerDone)
	// Output:
	// help @bob: good question
	// worker: <nil>
}
