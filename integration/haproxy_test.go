package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsnode/wsnode/internal/haproxycfg"
)

// renderHAProxy turns deploy/haproxy.cfg into a config for the test's
// processes (internal/haproxycfg).
func renderHAProxy(t *testing.T, port int, nodes []*wsNode) string {
	t.Helper()
	b, err := os.ReadFile("../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	hn := make([]haproxycfg.Node, len(nodes))
	for i, n := range nodes {
		_, aport, _ := strings.Cut(n.adminAddr, ":")
		hn[i] = haproxycfg.Node{WS: n.wsAddr, AdminPort: aport}
	}
	cfg, err := haproxycfg.Render(string(b), port, hn)
	if err != nil {
		t.Fatalf("deploy/haproxy.cfg: %v", err)
	}
	return cfg
}

// startHAProxy renders deploy/haproxy.cfg for nodes, has haproxy check it,
// starts haproxy and returns its client URL once it accepts WebSockets.
func startHAProxy(t *testing.T, bin string, nodes []*wsNode) string {
	t.Helper()
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(renderHAProxy(t, port, nodes)), 0o600); err != nil {
		t.Fatal(err)
	}
	check := startProc(t, "haproxy -c", nil, bin, "-c", "-f", path)
	if code := check.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("haproxy -c rejects the rendered config (exit %d):\n%s", code, check.log.String())
	}
	lb := startProc(t, "haproxy", nil, bin, "-db", "-f", path)
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws", port)
	waitFor(t, 10*time.Second, "haproxy to accept WebSockets", func() error {
		if lb.exited() {
			return fmt.Errorf("haproxy exited: %s", lb.log.String())
		}
		_, err := tryDial(url)
		return err
	})
	return url
}

// TestHAProxy: a real haproxy, configured by deploy/haproxy.cfg, in front
// of three nodes. Thirty clients connect through it, land on different
// nodes, and exchange room and direct messages without loss.
func TestHAProxy(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "haproxy")
	c := startCluster(t, 3, nodeOpts{fast: true})
	url := startHAProxy(t, bin, c.nodes)

	const n = 30
	clients := make([]*wsClient, n)
	perNode := map[string]int{}
	for i := range clients {
		user := fmt.Sprintf("lb%02d", i)
		clients[i] = dial(t, url, user, user, "user")
		perNode[clients[i].nodeID]++
	}
	if len(perNode) < 2 {
		t.Fatalf("all %d clients landed on %v; round-robin should spread them", n, perNode)
	}
	t.Logf("clients per node: %v", perNode)
	// Every node agrees where each client is.
	for _, cl := range clients[:3] {
		for _, nd := range c.nodes {
			var cd connDoc
			if err := nd.getJSON("/connections/"+cl.connID, &cd); err != nil {
				t.Fatal(err)
			}
			if cd.NodeID != cl.nodeID || cd.User != cl.user {
				t.Fatalf("%s /connections/%s = %+v, want node %s", nd.id, cl.connID, cd, cl.nodeID)
			}
		}
	}
	for _, cl := range clients {
		cl.join("lb-room")
	}
	if err := statsAre(c.nodes[0], n, n, n, 1); err != nil {
		t.Fatal(err)
	}
	for _, cl := range clients {
		cl.send(map[string]any{"type": "message", "room": "lb-room", "data": "from " + cl.user})
		next := clients[(indexOf(clients, cl)+1)%n]
		cl.send(map[string]any{"type": "direct", "to_user": next.user, "data": "dm from " + cl.user})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, from := range clients {
				if _, err := cl.next("message", wait, hasData("from "+from.user)); err != nil {
					errs <- err
					return
				}
			}
			prev := clients[(i+n-1)%n]
			f, err := cl.next("direct", wait, nil)
			if err != nil {
				errs <- err
				return
			}
			if dataString(f) != "dm from "+prev.user || f.From.User != prev.user {
				errs <- fmt.Errorf("%s got direct %s, want one from %s", cl.name, f.raw, prev.user)
				return
			}
			// Exactly one of each: nothing duplicated.
			if f, err := cl.next("message", 200*time.Millisecond, nil); err == nil {
				errs <- fmt.Errorf("%s got an extra message %s", cl.name, f.raw)
			}
			if f, err := cl.next("direct", 10*time.Millisecond, nil); err == nil {
				errs <- fmt.Errorf("%s got an extra direct %s", cl.name, f.raw)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Drain one node: its clients get 1001, and reconnecting through the
	// load balancer lands them on the others (retries and the /readyz health
	// check keep new sockets away from it).
	victim := c.nodes[2]
	victim.p.signal(syscall.SIGTERM)
	var moved []*wsClient
	for _, cl := range clients {
		if cl.nodeID != victim.id {
			continue
		}
		if code, err := cl.waitClosed(wait); err != nil || code != 1001 {
			t.Fatalf("%s on the drained node: close %d (%v), want 1001", cl.name, code, err)
		}
		moved = append(moved, cl)
	}
	if code := victim.p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("drained node exited %d", code)
	}
	for i, old := range moved {
		cl := dial(t, url, old.user+"-again", old.user, "user")
		if cl.nodeID == victim.id {
			t.Fatalf("reconnect %d landed on the drained node", i)
		}
		cl.join("lb-room")
		clients[indexOf(clients, old)] = cl
	}
	clients[0].send(map[string]any{"type": "message", "room": "lb-room", "data": "after the drain"})
	for _, cl := range clients {
		cl.expect("message", wait, hasData("after the drain"))
	}
	if err := statsAre(c.nodes[0], n, n, n, 1); err != nil {
		t.Fatal(err)
	}
	// The rooms as every node sees them.
	for _, nd := range c.nodes[:2] {
		var r roomDoc
		if err := nd.getJSON("/rooms/lb-room", &r); err != nil {
			t.Fatal(err)
		}
		if r.Connections != n || len(r.Users) != n {
			t.Fatalf("%s /rooms/lb-room: %d connections, %d users, want %d", nd.id, r.Connections, len(r.Users), n)
		}
	}
}

func indexOf(list []*wsClient, c *wsClient) int {
	for i, x := range list {
		if x == c {
			return i
		}
	}
	return -1
}
