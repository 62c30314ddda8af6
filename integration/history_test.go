package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsnode/wsnode/client"
)

// historyArgs turn room history on for every room.
var historyArgs = []string{"--history-size", "2000", "--history-ttl", "5m"}

// TestHistoryRollingRestart: redis-server, 3 nodes and haproxy (configured
// by deploy/haproxy.cfg). A publisher sends a steady stream of messages to
// one history room through the admin API while 12 receivers (package client),
// connected through haproxy, keep the last offset they saw and rejoin with "since"
// whenever their socket closes. Each node in turn is drained with SIGTERM
// and started again; then one is killed with SIGKILL and started again.
// At the end every receiver holds every published message exactly once, in
// order.
func TestHistoryRollingRestart(t *testing.T) {
	t.Parallel()
	bin := requireTool(t, "haproxy")
	c := startCluster(t, 3, nodeOpts{fast: true, args: historyArgs})
	url := startHAProxy(t, bin, c.nodes)

	const receivers = 12
	recs := make([]*recoveringReceiver, receivers)
	for i := range recs {
		recs[i] = startReceiver(t, url, fmt.Sprintf("rx%d", i))
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
	for _, r := range recs {
		_ = r.c.Close()
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

// recoveringReceiver is a package client receiver: the client remembers
// the room's last offset and epoch and rejoins with since after every
// reconnect; the receiver records what it delivers and every rejoin that
// could not recover.
type recoveringReceiver struct {
	user string
	c    *client.Client
	room *client.Room

	mu      sync.Mutex
	got     []int
	redials int
	errs    []error
}

func startReceiver(t *testing.T, url, user string) *recoveringReceiver {
	t.Helper()
	r := &recoveringReceiver{user: user}
	r.c = client.New(url, client.Config{
		Token:   token(t, user, "user"),
		Backoff: client.Backoff{Base: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		OnState: func(e client.StateEvent) {
			if e.State == client.StateDisconnected {
				r.mu.Lock()
				r.redials++
				r.mu.Unlock()
			}
		},
	})
	t.Cleanup(func() { _ = r.c.Close() })
	r.room = r.c.Room("hist", client.RoomOptions{
		OnMessage: r.take,
		OnMissed: func(m client.Missed) {
			r.fail(fmt.Errorf("%s: rejoin not recovered (%s): %s", r.user, m.Reason, m.Joined.Raw))
		},
	})
	r.c.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.room.Join(ctx); err != nil {
		t.Fatalf("%s: join: %v", user, err)
	}
	return r
}

func (r *recoveringReceiver) take(f client.Frame) {
	var seq int
	_ = f.DecodeData(&seq)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, seq)
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
	// The client drops a message whose offset it has seen; a duplicate the
	// node sent counts as one.
	if n := r.room.Duplicates(); n > 0 {
		return fmt.Errorf("%s: the node sent %d duplicates", r.user, n)
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
