package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/server"
)

func Example() {
	// Redis (here in memory) is the only shared state between nodes.
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

	ctx := context.Background()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	for deadline := time.Now().Add(5 * time.Second); srv.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			panic("node never became ready")
		}
	}

	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
	if err != nil {
		panic(err)
	}
	_ = resp.Body.Close()
	defer ws.Close()

	// next returns the next frame that is not an application ping.
	next := func() map[string]any {
		for {
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			var f map[string]any
			if err := ws.ReadJSON(&f); err != nil {
				panic(err)
			}
			if f["type"] != "ping" {
				return f
			}
		}
	}
	send := func(v any) {
		if err := ws.WriteJSON(v); err != nil {
			panic(err)
		}
	}

	fmt.Println(next()["type"])

	token, err := verifier.Mint("alice", auth.TypeUser, time.Hour)
	if err != nil {
		panic(err)
	}
	send(map[string]any{"type": "auth", "token": token})
	f := next()
	fmt.Println(f["type"], f["user"])

	send(map[string]any{"type": "join", "room": "lobby"})
	f = next()
	fmt.Println(f["type"], f["room"])

	// The sender is a member too, so it receives its own message.
	send(map[string]any{"type": "message", "room": "lobby", "data": map[string]any{"text": "hello"}})
	f = next()
	data, _ := json.Marshal(f["data"])
	fmt.Println(f["type"], f["room"], string(data))

	// Shutdown closes every socket with 1001 and removes this node from
	// Redis. Keep reading meanwhile, so the client answers the close frame.
	closed := make(chan error, 1)
	go func() {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		panic(err)
	}
	if err := <-runDone; err != nil {
		panic(err)
	}
	fmt.Println("closed:", websocket.IsCloseError(<-closed, websocket.CloseGoingAway))
	// Output:
	// welcome
	// authenticated alice
	// joined lobby
	// message lobby {"text":"hello"}
	// closed: true
}
