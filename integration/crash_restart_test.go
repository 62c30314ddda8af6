package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestCrashRestartSameID: a node killed with SIGKILL and started again with
// the same --node-id half a second later (what docker-compose does with a
// fixed WS_NODE_ID and restart: unless-stopped). The connections of the
// dead process were opened just before the kill, inside the heartbeat TTL;
// the restarted process must not inherit them: Redis and every node's
// /stats match the truth within 10 s of the kill, at the default timings.
func TestCrashRestartSameID(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, nodeOpts{})
	n0, n1 := c.nodes[0], c.nodes[1]
	keep := dial(t, n0.wsURL(), "keeper@n0", "keeper", "user")
	keep.join("shared")
	const doomed = 20
	var dead []*wsClient
	for i := range doomed {
		cl := dial(t, n1.wsURL(), fmt.Sprintf("doomed%d@n1", i), fmt.Sprintf("d%d", i), "user")
		cl.join("shared")
		dead = append(dead, cl)
	}
	waitFor(t, wait, "stats before the crash", func() error { return statsAre(n0, 1+doomed, 1+doomed, 1+doomed, 1) })

	killed := time.Now()
	n1.p.signal(killSignal)
	if _, err := dead[0].waitClosed(wait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	n1.restart(t)
	n1.waitReady(t, wait)

	err := poll(10*time.Second-time.Since(killed), func() error {
		var errs []error
		for _, n := range []*wsNode{n0, n1} {
			errs = append(errs, statsAre(n, 1, 1+doomed, 1, 1))
			var r roomDoc
			if err := n.getJSON("/rooms/shared", &r); err != nil {
				errs = append(errs, err)
			} else if len(r.ConnIDs) != 1 || r.ConnIDs[0] != keep.connID {
				errs = append(errs, fmt.Errorf("%s /rooms/shared has %d members, want only %s", n.id, len(r.ConnIDs), keep.connID))
			}
		}
		for _, cl := range dead[:3] {
			errs = append(errs, wantStatus(n0, "/connections/"+cl.connID, 404))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("10 s after SIGKILL and a same-id restart the cluster still lists the dead process's connections: %v", err)
	}
	t.Logf("dead process's state gone %s after SIGKILL", time.Since(killed).Round(10*time.Millisecond))
	// The restarted node serves again.
	back := dial(t, n1.wsURL(), "back@n1", "back", "user")
	back.join("shared")
	back.send(map[string]any{"type": "message", "room": "shared", "data": "after restart"})
	keep.expect("message", wait, hasData("after restart"))
}

// TestUserLimitAfterCrash: with --max-conns-per-user 1, a user whose only
// connection was on a node killed with SIGKILL retries on another node
// 250 ms later. That first retry is admitted: a refusal for the per-user
// limit is held (up to 1.5 heartbeat intervals plus 0.5 s) until a crashed
// node's connections stop counting, a missed heartbeat after the crash,
// well before the heartbeat's TTL. The same holds when the crashed node
// restarts at once with the same id. While the first node lives, the limit
// holds and the refusal is 4007 (retry later), never 4500-4999.
func TestUserLimitAfterCrash(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, 2, nodeOpts{args: []string{"--max-conns-per-user", "1"}})
			n0, n1 := c.nodes[0], c.nodes[1]
			victim := dial(t, n1.wsURL(), "alice@n1", "alice", "user")
			tok := token(t, "alice", "user")
			// The limit holds while the node is alive.
			if ok, code, err := tryAuth(n0.wsURL(), tok); err != nil || ok || code != 4007 {
				t.Fatalf("second connection while the first lives: admitted=%v close=%d err=%v; want refused with 4007", ok, code, err)
			}
			killed := time.Now()
			n1.p.signal(killSignal)
			if _, err := victim.waitClosed(wait); err != nil {
				t.Fatal(err)
			}
			if restart {
				n1.restart(t)
			}
			time.Sleep(time.Until(killed.Add(250 * time.Millisecond)))
			ok, code, err := tryAuth(n0.wsURL(), tok)
			switch {
			case err != nil:
				t.Fatal(err)
			case !ok:
				t.Fatalf("the first retry after the crash was refused with close %d, for a limit only a dead connection fills", code)
			}
			t.Logf("first retry admitted %s after the kill", time.Since(killed).Round(10*time.Millisecond))
		})
	}
}

// tryAuth opens a socket, authenticates with tok and reports whether it was
// admitted; when refused it returns the close code that followed. An
// admitted socket is closed again.
func tryAuth(url, tok string) (admitted bool, closeCode int, err error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return false, 0, err
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second)) // a refusal for the user limit waits ~3.5 s
	if err := ws.WriteJSON(map[string]any{"type": "auth", "token": tok}); err != nil {
		return false, 0, err
	}
	for {
		_, b, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return false, ce.Code, nil
		}
		if err != nil {
			return false, 0, err
		}
		var f struct{ Type string }
		if err := json.Unmarshal(b, &f); err != nil {
			return false, 0, err
		}
		if f.Type == "authenticated" {
			return true, 0, nil
		}
	}
}
