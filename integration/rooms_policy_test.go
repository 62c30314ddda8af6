package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// roomsToken mints a token with a "rooms" claim (any JSON value, so that
// malformed claims can be sent too); rooms nil leaves the claim out.
func roomsToken(t *testing.T, user, connType string, rooms any) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	if connType != "" {
		claims["conn_type"] = connType
	}
	if rooms != nil {
		claims["rooms"] = rooms
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testJWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authWith authenticates c with tok.
func (c *wsClient) authWith(tok string) {
	c.t.Helper()
	c.request(map[string]any{"type": "auth", "token": tok}, "authenticated")
}

// joinRefused asks to join room and expects an error frame with code.
func (c *wsClient) joinRefused(room, code string) {
	c.t.Helper()
	f := c.request(map[string]any{"type": "join", "room": room}, "error")
	if f.Code != code {
		c.t.Fatalf("%s: join %s answered %s, want error %s", c.name, room, f.raw, code)
	}
}

// noRoom checks, on every node, that room has no member in Redis.
func noRoom(t *testing.T, nodes []*wsNode, room string) {
	t.Helper()
	for _, n := range nodes {
		if err := wantStatus(n, "/rooms/"+room, 404); err != nil {
			t.Fatalf("a refused join left a trace: %v", err)
		}
	}
}

// The rooms claim across nodes: names and globs allow, everything else is
// forbidden and the connection stays; a token without the claim may join
// nothing, a system connection anything; a malformed claim is a bad token.
func TestRoomsClaimPolicy(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, nodeOpts{args: []string{"--rooms-policy", "claim", "--guests", "read"}})
	n0, n1 := c.nodes[0], c.nodes[1]
	alice := dial(t, n0.wsURL(), "alice@n0", "", "")
	alice.authWith(roomsToken(t, "alice", "", []string{"team-42", "dm.alice.*"}))
	alice2 := dial(t, n1.wsURL(), "alice@n1", "", "")
	alice2.authWith(roomsToken(t, "alice", "ai_assistant", []string{"dm.alice.*"}))
	bob := dial(t, n1.wsURL(), "bob@n1", "", "")
	bob.authWith(roomsToken(t, "bob", "", nil))
	sys := dial(t, n0.wsURL(), "sys@n0", "", "")
	sys.authWith(roomsToken(t, "backend", "system", nil))
	guest := dial(t, n1.wsURL(), "guest@n1", "", "")

	alice.join("team-42")
	alice.join("dm.alice.bob")
	alice2.join("dm.alice.carol") // ai_assistant: limited like anyone else
	alice2.joinRefused("team-42", "forbidden")
	alice.joinRefused("team-43", "forbidden")
	alice.joinRefused("dm.bob.alice", "forbidden")
	bob.joinRefused("team-42", "forbidden") // no claim: nothing
	guest.joinRefused("team-42", "forbidden")
	sys.join("team-43") // system: any room
	sys.join("anything")
	noRoom(t, c.nodes, "dm.bob.alice")

	// The refused connections are still open and usable.
	alice.join("dm.alice.dave")
	bob.request(map[string]any{"type": "ping"}, "pong")
	alice.send(map[string]any{"type": "message", "room": "team-42", "data": "hi"})
	alice.expect("message", 10*time.Second, hasData("hi"))

	// A malformed claim rejects the token: auth_failed, then 4500.
	for i, bad := range []any{"team-42", []any{"ok", 7}, []string{"team-[42"}, map[string]any{"a": 1}} {
		cl := dial(t, n0.wsURL(), fmt.Sprintf("bad%d@n0", i), "", "")
		cl.send(map[string]any{"type": "auth", "token": roomsToken(t, "mallory", "", bad)})
		if f := cl.expect("error", 10*time.Second, nil); f.Code != "auth_failed" {
			t.Fatalf("malformed rooms claim %v: %s, want auth_failed", bad, f.raw)
		}
		if code, err := cl.waitClosed(10 * time.Second); err != nil || code != 4500 {
			t.Fatalf("malformed rooms claim %v: close %d, %v; want 4500", bad, code, err)
		}
	}
	// The open policy (the default) lets bob in; under claim he stayed out.
	n2 := startNode(t, "n2", c.redis, nodeOpts{})
	bob2 := dial(t, n2.wsURL(), "bob@n2", "", "")
	bob2.authWith(roomsToken(t, "bob", "", nil))
	bob2.join("team-42")
}

// hookBackend is the application's join hook: it allows "ok-*", denies
// "no-*", fails "boom-*" with 500, answers "huge-*" with an endless body
// and "slow-*" after the node's timeout; it counts calls per (user, room).
type hookBackend struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newHookBackend(t *testing.T) *hookBackend {
	h := &hookBackend{calls: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User     string `json:"user"`
			ConnType string `json:"conn_type"`
			ConnID   string `json:"conn_id"`
			Room     string `json:"room"`
			NodeID   string `json:"node_id"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.ConnID == "" || req.NodeID == "" || req.ConnType == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.calls[req.User+"/"+req.Room]++
		h.mu.Unlock()
		switch {
		case strings.HasPrefix(req.Room, "ok-"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(req.Room, "no-"):
			http.Error(w, "not yours", http.StatusForbidden)
		case strings.HasPrefix(req.Room, "boom-"):
			http.Error(w, "oops", http.StatusInternalServerError)
		case strings.HasPrefix(req.Room, "huge-"):
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		case strings.HasPrefix(req.Room, "slow-"):
			time.Sleep(4 * time.Second) // past the node's 1.5 s timeout
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookBackend) count(user, room string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[user+"/"+room]
}

// The join hook across nodes: allow, deny, 5xx, an over-long answer, a
// timeout and a backend that is down; allowed decisions are cached per
// node until they expire; a token without the claim is up to the hook.
func TestJoinHookPolicy(t *testing.T) {
	t.Parallel()
	// Long enough that the rejoin right after the first join is a cache hit
	// even on a busy machine; the test waits it out once.
	const cacheTTL = 3 * time.Second
	hook := newHookBackend(t)
	opts := nodeOpts{args: []string{"--rooms-policy", "hook", "--join-hook", hook.URL + "/join",
		"--join-hook-timeout", "1500ms", "--join-hook-cache", cacheTTL.String()}}
	c := startCluster(t, 2, opts)
	n0, n1 := c.nodes[0], c.nodes[1]
	alice := dial(t, n0.wsURL(), "alice@n0", "alice", "user")
	bob := dial(t, n1.wsURL(), "bob@n1", "bob", "user")
	sys := dial(t, n1.wsURL(), "sys@n1", "backend", "system")

	cachedAt := time.Now() // the node caches alice's ok-1 after this (and before join returns)
	alice.join("ok-1")
	bob.join("ok-1")
	// Cached: leave and rejoin within the cache time asks nothing; after expiry it asks again.
	before := hook.count("alice", "ok-1")
	alice.leave("ok-1")
	alice.join("ok-1")
	if n := hook.count("alice", "ok-1"); n != before && time.Since(cachedAt) < cacheTTL {
		t.Fatalf("rejoin within the cache time asked the hook (%d -> %d calls)", before, n)
	}
	alice.leave("ok-1")
	time.Sleep(time.Until(cachedAt.Add(cacheTTL + 100*time.Millisecond))) // past the entry's lifetime
	before = hook.count("alice", "ok-1")
	alice.join("ok-1")
	if n := hook.count("alice", "ok-1"); n != before+1 {
		t.Fatalf("rejoin after expiry: %d calls, want %d", n, before+1)
	}
	alice.joinRefused("no-1", "forbidden")
	alice.joinRefused("boom-1", "unavailable")
	alice.joinRefused("huge-1", "unavailable")
	alice.joinRefused("slow-1", "unavailable")
	sys.join("no-1") // system connections are not asked about
	if n := hook.count("backend", "no-1"); n != 0 {
		t.Fatalf("the hook was asked %d times about a system connection", n)
	}
	noRoom(t, c.nodes, "boom-1")
	noRoom(t, c.nodes, "slow-1")

	// Refusals are never cached: every attempt asks.
	alice.joinRefused("no-1", "forbidden")
	if n := hook.count("alice", "no-1"); n != 2 {
		t.Fatalf("%d calls for two refused joins, want 2", n)
	}

	// The backend goes down: joins fail closed, members stay members.
	hook.Close()
	alice.joinRefused("ok-2", "unavailable")
	noRoom(t, c.nodes, "ok-2")
	alice.send(map[string]any{"type": "message", "room": "ok-1", "data": "still here"})
	bob.expect("message", 10*time.Second, hasData("still here"))
	if v, err := n0.metric(`wsnode_join_hook_duration_seconds_count{outcome="error"}`); err != nil || v < 4 {
		t.Fatalf("hook errors in /metrics: %v, %v; want >= 4", v, err)
	}
}
