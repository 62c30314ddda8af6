package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/client"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/server"
)

func Example() {
	// An in-process node with an in-memory Redis, to talk to.
	m, err := miniredis.Run()
	if err != nil {
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
		Node:   node.Config{NodeID: "node-1", Verifier: verifier},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv.ClientHandler())
	defer ts.Close()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(context.Background()) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-runDone
	}()
	for srv.Ready() != nil {
		time.Sleep(10 * time.Millisecond)
	}
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"

	// The client: a token provider is asked for a token on every connect.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.Config{
		TokenProvider: func(context.Context) (string, error) {
			return verifier.Mint("assistant", auth.TypeAIAssistant, time.Hour)
		},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println("connected as", c.Session().User, c.Session().ConnType)

	got := make(chan client.Frame, 1)
	lobby := c.Room("lobby", client.RoomOptions{OnMessage: func(f client.Frame) { got <- f }})
	joined, err := lobby.Join(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(joined.Type, joined.Room)

	ack, err := lobby.Publish(ctx, map[string]string{"text": "hello"})
	if err != nil {
		panic(err)
	}
	f := <-got // the sender is a member, so it gets its own message
	fmt.Println(ack.Type, f.Type, f.Room, string(f.Data), f.MsgID == ack.MsgID)
	// Output:
	// connected as assistant ai_assistant
	// joined lobby
	// ack message lobby {"text":"hello"} true
}
