package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/server"
)

// An existing net/http application with its own sessions embeds a node. It
// authenticates the upgrade request itself and attaches the user with
// WithIdentity, so clients need no token; its backend code reaches them
// through the cluster-wide API.
func Example_embed() {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()

	// No Verifier: this application issues no tokens.
	srv, err := server.New(rdb, server.Config{
		Node:   node.Config{NodeID: "app-1"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()

	// The application's own authentication: a session cookie.
	sessions := map[string]string{"c2Vzc2lvbi0x": "alice"}
	realtime := func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie("session")
		if err != nil || sessions[cookie.Value] == "" {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		r, err = server.WithIdentity(r, server.Identity{User: sessions[cookie.Value]})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		srv.SocketHandler().ServeHTTP(w, r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realtime", realtime)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the app's own page") })
	app := httptest.NewServer(mux)
	defer app.Close()

	for deadline := time.Now().Add(5 * time.Second); srv.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			panic("node never became ready")
		}
	}
	url := "ws" + strings.TrimPrefix(app.URL, "http") + "/realtime"

	// Without a session the application refuses the upgrade.
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	fmt.Println("no session:", resp.StatusCode, err != nil)

	ws, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Cookie": {"session=c2Vzc2lvbi0x"}})
	if err != nil {
		panic(err)
	}
	_ = resp.Body.Close()
	defer ws.Close()
	next := func() map[string]any { // the next frame that is not an application ping
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
	fmt.Println(next()["type"])
	f := next()
	fmt.Println(f["type"], f["user"])
	if err := ws.WriteJSON(map[string]any{"type": "join", "room": "support-42"}); err != nil {
		panic(err)
	}
	fmt.Println(next()["type"])

	// Backend code talks to the room, the user and the cluster state
	// through the Server, from this node or any other.
	if err := srv.PublishRoom(ctx, "support-42", json.RawMessage(`{"text":"an agent is on the way"}`), ""); err != nil {
		panic(err)
	}
	f = next()
	data, _ := json.Marshal(f["data"])
	fmt.Println(f["type"], f["room"], string(data), f["from"])
	user, err := srv.User(ctx, "alice")
	if err != nil {
		panic(err)
	}
	room, err := srv.Room(ctx, "support-42")
	if err != nil {
		panic(err)
	}
	fmt.Println("alice's connections:", len(user.Conns), "members of support-42:", room.Users)

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() { // answer the node's close frame while it drains
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := srv.Shutdown(sctx); err != nil {
		panic(err)
	}
	if err := <-runDone; err != nil {
		panic(err)
	}
	// Output:
	// no session: 401 true
	// welcome
	// authenticated alice
	// joined
	// message support-42 {"text":"an agent is on the way"} map[system:true]
	// alice's connections: 1 members of support-42: [alice]
}
