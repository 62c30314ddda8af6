package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// historyArgs turn room history on for every room.
var historyArgs = []string{"--history-size", "2000", "--history-ttl", "5m"}

// TestHistoryRollingRestart: redis-server, 3 nodes and haproxy (configured
// by deploy/haproxy.cfg). A publisher sends a steady stream of messages to
// one history room through the admin API while 12 receivers, connected
// through haproxy, keep the last offset they saw and rejoin with "since"
// whenever their socket closes. Each node in turn is drained with SIGTERM
// and started again; then one is killed with SIGKILL and started again.
// At the end every receiver holds every published message exactly once, in
// order.
func TestHistoryRollingRestart(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "haproxy")
	c := startCluster(t, 3, nodeOpts{fast: true, args: historyArgs})
	url := startHAProxy(t, bin, c.nodes)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	const receivers = 12
	var wg sync.WaitGroup
	recs := make([]*recoveringReceiver, receivers)
	for i := range recs {
		recs[i] = &recoveringReceiver{url: url, user: fmt.Sprintf("rx%d", i), tok: token(t, fmt.Sprintf("rx%d", i), "user")}
		if err := recs[i].connect(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); recs[i].run(ctx) }()
	}

	// The publisher: one message every 10 ms through any node's admin API.
	var sent []int
	pubDone := make(chan struct{})
	pubStop := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := 1; ; {
			select {
			case <-pubStop:
				return
			case <-tick.C:
			}
			for _, n := range c.nodes {
				st, _, err := n.admin("POST", "/publish", map[string]any{"room": "hist", "data": seq})
				if err == nil && st == 202 {
					sent = append(sent, seq)
					seq++
					break
				}
			}
		}
	}()

	time.Sleep(time.Second)
	for _, n := range c.nodes { // rolling restart
		n.p.signal(syscall.SIGTERM)
		if code := n.p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM", n.id, code)
		}
		n.restart(t)
		n.waitReady(t, 20*time.Second)
		time.Sleep(500 * time.Millisecond)
	}
	victim := c.nodes[1]
	victim.p.signal(killSignal)
	victim.p.wait(t, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	victim.restart(t)
	victim.waitReady(t, 20*time.Second)
	time.Sleep(time.Second)
	close(pubStop)
	<-pubDone
	if len(sent) < 100 {
		t.Fatalf("only %d messages published", len(sent))
	}
	last := sent[len(sent)-1]
	waitFor(t, 30*time.Second, "every receiver to reach the last message", func() error {
		for _, r := range recs {
			if got := r.lastSeq(); got != last {
				return fmt.Errorf("%s at %d of %d (reconnects %d)", r.user, got, last, r.reconnects())
			}
		}
		return nil
	})
	stop()
	wg.Wait()
	for _, r := range recs {
		if err := r.check(sent); err != nil {
			t.Error(err)
		}
	}
	var reconnects int
	for _, r := range recs {
		reconnects += r.reconnects()
	}
	t.Logf("%d messages to %d receivers, %d reconnects in all, 0 lost, 0 duplicated", len(sent), receivers, reconnects)
	if reconnects < receivers {
		t.Fatalf("only %d reconnects: the restarts did not move the receivers", reconnects)
	}
}

// recoveringReceiver is a client that follows the history protocol: it
// remembers the last offset and epoch it saw and rejoins with since.
type recoveringReceiver struct {
	url, user, tok string

	mu      sync.Mutex
	ws      *websocket.Conn
	got     []int
	pos     map[string]any // {"offset":..,"epoch":..} of the last message
	redials int
	errs    []error
}

func (r *recoveringReceiver) connect(ctx context.Context) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, r.url, nil)
	if err != nil {
		return err
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	join := map[string]any{"type": "join", "room": "hist"}
	r.mu.Lock()
	if r.pos != nil {
		join["since"] = r.pos
	}
	r.mu.Unlock()
	for _, f := range []map[string]any{{"type": "auth", "token": r.tok}, join} {
		if err := ws.WriteJSON(f); err != nil {
			ws.Close()
			return err
		}
	}
	for want := "authenticated"; want != ""; {
		var f map[string]any
		if err := ws.ReadJSON(&f); err != nil {
			ws.Close()
			return err
		}
		switch f["type"] {
		case "welcome":
		case want:
			if want == "joined" {
				if r.pos != nil && f["recovered"] != true {
					r.fail(fmt.Errorf("%s: rejoin not recovered: %v", r.user, f))
				}
				want = ""
				continue
			}
			want = "joined"
		case "message":
			r.take(f) // a message before joined cannot happen; take keeps order checks honest
		default:
			ws.Close()
			return fmt.Errorf("%s: unexpected %v while joining", r.user, f)
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	r.mu.Lock()
	r.ws = ws
	r.mu.Unlock()
	return nil
}

func (r *recoveringReceiver) run(ctx context.Context) {
	go func() { <-ctx.Done(); r.mu.Lock(); _ = r.ws.Close(); r.mu.Unlock() }()
	for ctx.Err() == nil {
		r.mu.Lock()
		ws := r.ws
		r.mu.Unlock()
		for {
			var f map[string]any
			if err := ws.ReadJSON(&f); err != nil {
				break
			}
			if f["type"] == "message" {
				r.take(f)
			}
		}
		_ = ws.Close()
		for ctx.Err() == nil {
			r.mu.Lock()
			r.redials++
			r.mu.Unlock()
			if err := r.connect(ctx); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (r *recoveringReceiver) take(f map[string]any) {
	var seq int
	b, _ := json.Marshal(f["data"])
	_ = json.Unmarshal(b, &seq)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, seq)
	r.pos = map[string]any{"offset": f["offset"], "epoch": f["epoch"]}
}

func (r *recoveringReceiver) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *recoveringReceiver) lastSeq() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return 0
	}
	return r.got[len(r.got)-1]
}

func (r *recoveringReceiver) reconnects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redials
}

// check compares what arrived with what was sent after the receiver's
// first message: every one exactly once, in order.
func (r *recoveringReceiver) check(sent []int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		return errors.Join(r.errs...)
	}
	if len(r.got) == 0 {
		return fmt.Errorf("%s received nothing", r.user)
	}
	start := 0
	for start < len(sent) && sent[start] != r.got[0] {
		start++
	}
	want := sent[start:]
	if len(r.got) != len(want) {
		return fmt.Errorf("%s got %d messages, want %d (from %d): lost or duplicated", r.user, len(r.got), len(want), r.got[0])
	}
	for i := range want {
		if r.got[i] != want[i] {
			return fmt.Errorf("%s: message %d is %d, want %d", r.user, i, r.got[i], want[i])
		}
	}
	return nil
}
