package wstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is what an in-process node offers; *server.Server satisfies it.
type Server interface {
	ClientHandler() http.Handler
	AdminHandler() http.Handler
	Run(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Node is one node served by httptest servers.
type Node struct {
	ID     string
	Client *httptest.Server // GET /ws and the demo page
	Admin  *httptest.Server
}

// WSURL returns the node's WebSocket URL.
func (n *Node) WSURL() string { return "ws" + strings.TrimPrefix(n.Client.URL, "http") + "/ws" }

// Serve runs srv until the test ends: it serves its client and admin
// handlers, runs it, waits until ready (may be nil) holds and registers a
// cleanup that shuts it down (10 s), checks Run's result and closes the
// servers. Cleanup after registers a later cleanup, for example closing
// the node's Redis client.
func Serve(tb testing.TB, id string, srv Server, ready func() bool) *Node {
	tb.Helper()
	n := &Node{ID: id, Client: httptest.NewServer(srv.ClientHandler()), Admin: httptest.NewServer(srv.AdminHandler())}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown %s: %v", id, err)
		}
		if err := <-done; err != nil {
			tb.Errorf("run %s: %v", id, err)
		}
		n.Client.Close()
		n.Admin.Close()
	})
	if ready != nil {
		WaitFor(tb, 5*time.Second, "node "+id+" ready", ready)
	}
	return n
}

// Cluster starts a miniredis and n nodes on it, named id(0)...id(n-1);
// start builds and serves one node (typically with Serve) against the
// Redis at addr.
func Cluster(tb testing.TB, n int, start func(tb testing.TB, id, addr string) *Node) ([]*Node, *miniredis.Miniredis) {
	tb.Helper()
	m := miniredis.RunT(tb)
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = start(tb, NodeID(i), m.Addr())
	}
	return nodes, m
}

// NodeID is the id Cluster gives node i: node-a, node-b, ...
func NodeID(i int) string { return "node-" + string(rune('a'+i)) }

// WaitFor polls cond every 10 ms until it holds, or fails the test after d.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
