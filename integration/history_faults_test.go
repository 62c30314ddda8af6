package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisCommand sends one command (inline form) to the Redis at addr and
// returns its first reply line.
func redisCommand(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, strings.Join(args, " ")+"\r\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// TestHistoryPubSubKilled: every node's pub/sub connection is killed
// (CLIENT KILL TYPE pubsub) twice while messages stream into a history room
// and a room without history. The member of the history room on the other
// node receives every message exactly once and in order: its node reads
// what it missed from the stream. The room without history may lose some;
// that loss shows in wsnode_pubsub_reconnects_total.
func TestHistoryPubSubKilled(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, nodeOpts{args: append([]string{"--history-rooms", "h*"}, historyArgs...)})
	n0, n1 := c.nodes[0], c.nodes[1]
	rx := dial(t, n1.wsURL(), "rx@n1", "rx", "user")
	rx.join("hroom")
	rx.join("plain")

	var mu sync.Mutex
	var sent []int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			st, _, err := n0.admin("POST", "/publish", map[string]any{"room": "hroom", "data": seq})
			if err != nil || st != 202 {
				seq--
				continue
			}
			mu.Lock()
			sent = append(sent, seq)
			mu.Unlock()
			_, _, _ = n0.admin("POST", "/publish", map[string]any{"room": "plain", "data": seq})
		}
	}()
	for range 2 {
		time.Sleep(700 * time.Millisecond)
		if reply, err := redisCommand(c.redis.addr(), "CLIENT", "KILL", "TYPE", "pubsub"); err != nil || !strings.HasPrefix(reply, ":") {
			t.Fatalf("CLIENT KILL TYPE pubsub: %q %v", reply, err)
		}
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	<-done
	last := sent[len(sent)-1]
	var got []int
	waitFor(t, 20*time.Second, "the last message in the history room", func() error {
		for {
			f, err := rx.next("message", 50*time.Millisecond, func(f frame) bool { return f.Room == "hroom" })
			if err != nil {
				break
			}
			var n int
			if _, err := fmt.Sscan(string(f.Data), &n); err != nil {
				return err
			}
			got = append(got, n)
		}
		if len(got) == 0 || got[len(got)-1] != last {
			return fmt.Errorf("%d of %d received", len(got), len(sent))
		}
		return nil
	})
	if len(got) != len(sent) {
		t.Fatalf("history room: %d messages received, %d sent: lost or duplicated", len(got), len(sent))
	}
	for i := range sent {
		if got[i] != sent[i] {
			t.Fatalf("history room: message %d is %d, want %d", i, got[i], sent[i])
		}
	}
	for _, n := range c.nodes {
		if v, err := n.metric("wsnode_pubsub_reconnects_total"); err != nil || v < 1 {
			t.Fatalf("%s wsnode_pubsub_reconnects_total = %v (%v), want >= 1", n.id, v, err)
		}
	}
	repaired, _ := n1.metric("wsnode_history_repaired_total")
	t.Logf("%d messages in the history room, 0 lost, 0 duplicated; %v repaired from the stream on n1", len(sent), repaired)
}

// TestHistoryRedisRestart: Redis restarts without persistence. The history
// is gone, so a rejoin with the old position is answered recovered:false
// with the new position, and messaging works again in a new epoch.
func TestHistoryRedisRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, nodeOpts{args: historyArgs})
	n0 := c.nodes[0]
	a := dial(t, n0.wsURL(), "a@n0", "a", "user")
	a.join("r")
	a.send(map[string]any{"type": "message", "room": "r", "data": "before"})
	before := a.expect("message", wait, hasData("before"))
	if before.Offset != 1 || before.Epoch == "" {
		t.Fatalf("first message: %s", before.raw)
	}
	c.redis.p.kill()
	c.redis = startRedis(t, c.redis.port)
	n0.waitReady(t, 20*time.Second)

	b := dial(t, n0.wsURL(), "b@n0", "b", "user")
	b.send(map[string]any{"type": "join", "room": "r", "since": map[string]any{"offset": 1, "epoch": before.Epoch}})
	j := b.expect("joined", wait, nil)
	if j.Recovered == nil || *j.Recovered || j.Epoch == before.Epoch {
		t.Fatalf("rejoin after the restart: %s, want recovered:false and not the old epoch", j.raw)
	}
	waitFor(t, wait, "a message in a new epoch", func() error {
		a.send(map[string]any{"type": "message", "room": "r", "data": "after"})
		f, err := b.next("message", time.Second, hasData("after"))
		if err != nil {
			return err
		}
		if f.Epoch == before.Epoch || f.Offset < 1 {
			return fmt.Errorf("after the restart: %s", f.raw)
		}
		return nil
	})
}

// TestHistoryTrimmed: a client that missed more than the history holds is
// told recovered:false, with the current position.
func TestHistoryTrimmed(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, nodeOpts{args: []string{"--history-size", "5"}})
	n0 := c.nodes[0]
	a := dial(t, n0.wsURL(), "a@n0", "a", "user")
	a.join("r")
	var first frame
	for i := range 20 {
		a.send(map[string]any{"type": "message", "room": "r", "data": i})
		f := a.expect("message", wait, nil)
		if i == 0 {
			first = f
		}
	}
	b := dial(t, n0.wsURL(), "b@n0", "b", "user")
	b.send(map[string]any{"type": "join", "room": "r", "since": map[string]any{"offset": first.Offset, "epoch": first.Epoch}})
	j := b.expect("joined", wait, nil)
	if j.Recovered == nil || *j.Recovered || j.Offset != 20 || j.Epoch != first.Epoch {
		t.Fatalf("rejoin past the history: %s, want recovered:false at offset 20", j.raw)
	}
	b.noFrame("message", 300*time.Millisecond, nil)
}
