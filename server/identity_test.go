package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/node"
)

func TestWithIdentityRejectsBadInput(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/ws", nil)
	for _, id := range []Identity{{User: ""}, {User: "a:b"}, {User: strings.Repeat("u", 129)},
		{User: "alice", Type: "guest"}, {User: "alice", Type: "root"}} {
		if _, err := WithIdentity(r, id); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("WithIdentity(%+v) = %v, want ErrInvalidInput", id, err)
		}
	}
	if _, err := WithIdentity(r, Identity{User: "bot-1", Type: TypeAIAssistant}); err != nil {
		t.Errorf("valid identity refused: %v", err)
	}
}

// A node without a Verifier admits identities the application attached and
// refuses every token: as a bearer header (401) and in an auth frame (4500).
func TestIdentityWithoutVerifier(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	srv, err := New(rdb, Config{Node: node.Config{NodeID: "id-1", HeartbeatInterval: 100 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-runDone
	})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user := r.URL.Query().Get("as"); user != "" {
			var err error
			if r, err = WithIdentity(r, Identity{User: user, Type: TypeSystem}); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		srv.SocketHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(app.Close)
	deadline := time.Now().Add(10 * time.Second)
	for srv.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("node never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := "ws" + strings.TrimPrefix(app.URL, "http")

	ws, resp, err := websocket.DefaultDialer.Dial(url+"/anywhere?as=carol", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	frames := readUntil(t, ws, "authenticated")
	if f := frames[len(frames)-1]; f["user"] != "carol" || f["conn_type"] != "system" {
		t.Fatalf("authenticated frame %v, want carol as system", f)
	}
	u, err := srv.User(context.Background(), "carol")
	if err != nil || len(u.Conns) != 1 || u.Conns[0].Type != "system" {
		t.Fatalf("User(carol) = %+v, %v; want one system connection", u, err)
	}
	_ = ws.Close()

	_, resp, err = websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer x.y.z"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bearer token without a Verifier: %v, %v; want 401", resp, err)
	}
	ws, resp, err = websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	defer ws.Close()
	readUntil(t, ws, "welcome")
	if err := ws.WriteJSON(map[string]string{"type": "auth", "token": "x.y.z"}); err != nil {
		t.Fatal(err)
	}
	frames = readUntil(t, ws, "error")
	if f := frames[len(frames)-1]; f["code"] != "auth_failed" {
		t.Fatalf("auth frame without a Verifier answered %v, want auth_failed", f)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, 4500) {
				t.Fatalf("socket ended with %v, want close 4500", err)
			}
			break
		}
	}
}

// readUntil reads frames until one of type typ and returns them all.
func readUntil(t *testing.T, ws *websocket.Conn, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f map[string]any
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for %q after %v: %v", typ, out, err)
		}
		out = append(out, f)
		if f["type"] == typ {
			return out
		}
	}
}
