package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/wsnode/wsnode/protocol"
)

func TestInactiveConnectionsAreClosed(t *testing.T) {
	nodes, _ := MustCluster(t, 2, func(c *Config) { c.Node.InactiveTimeout = 400 * time.Millisecond })
	idle := MustUser(t, nodes[0], "idle")
	idle.join("r")
	busy := MustUser(t, nodes[1], "busy")
	busy.join("r")
	// busy keeps talking; idle says nothing after joining.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_ = busy.ws.WriteJSON(map[string]any{"type": "ping"})
			}
		}
	}()
	idle.expectClose(protocol.CloseInactive)
	waitFor(t, 5*time.Second, "idle gone cluster-wide", func() bool {
		return adminJSON(t, nodes[1], "GET", "/connections/"+idle.connID, nil, nil) == http.StatusNotFound
	})
	if code := adminJSON(t, nodes[0], "GET", "/connections/"+busy.connID, nil, nil); code != http.StatusOK {
		t.Fatalf("active connection was cleaned up too: %d", code)
	}
	waitFor(t, 5*time.Second, "inactive close counted", func() bool {
		return clusterStats(t, nodes[0]).Counters["inactive_closed_total"] == 1
	})
}

func TestCleanupInactiveAPI(t *testing.T) {
	nodes, _ := MustCluster(t, 1, nil) // default timeout: 5 minutes, so nothing is closed on its own
	a := MustUser(t, nodes[0], "a")
	if n := nodes[0].srv.node.CleanupInactive(time.Hour); n != 0 {
		t.Fatalf("CleanupInactive(1h) closed %d", n)
	}
	time.Sleep(50 * time.Millisecond)
	if n := nodes[0].srv.node.CleanupInactive(10 * time.Millisecond); n != 1 {
		t.Fatalf("CleanupInactive(10ms) closed %d, want 1", n)
	}
	a.expectClose(protocol.CloseInactive)
}

func TestApplicationPing(t *testing.T) {
	nodes, _ := MustCluster(t, 1, nil)
	c := mustSilentMemberWS(t, nodes[0], "p", "r")
	if n := nodes[0].srv.node.Ping(); n != 1 {
		t.Fatalf("Ping reached %d connections, want 1", n)
	}
	var f frame
	if err := c.ReadJSON(&f); err != nil || f.str("type") != "ping" || f["ts"] == nil {
		t.Fatalf("ping frame = %v, %v", f, err)
	}
}
