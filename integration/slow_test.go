package integration

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowConsumer: scenario 7. A member of a busy room that never reads
// (a 16 KiB receive buffer, no reads) is closed with 4001 once its send
// queue overflows (the node's log says 4001; the client sees 4001 or, when
// the close frame cannot get past its full socket, 1006); every other
// member, on the same node and on another, receives every message in order.
//
// It pushes about 8 MB through each reader, the heaviest load of the suite,
// so it does not run in parallel with the timing-sensitive tests (tests
// without t.Parallel run first, one at a time).
//
// The publisher keeps at most ahead messages in flight past the slowest
// fast reader, so a fast reader's queue on the node never holds more than
// ahead+1 frames, whatever the kernel's socket buffers absorb. The node's
// limits are 4 times that (frames and bytes, framing included), so a fast
// reader whose socket does not drain at once is still far from them, while
// the client that never reads passes them once its socket buffers are full
// (a few MB on Linux loopback; the test pushes 8 MB).
func TestSlowConsumer(t *testing.T) {
	const total, size, ahead = 500, 16 << 10, 16
	// A message frame is the data plus under 1 KiB of JSON around it.
	const frameMax = size + 1<<10
	queue, budget := 4*ahead, 4*ahead*frameMax
	o := nodeOpts{fast: true, args: []string{"--msg-rate", "0",
		"--send-queue", strconv.Itoa(queue), "--max-queued-bytes", strconv.Itoa(budget)}}
	c := startCluster(t, 2, o)
	n0, n1 := c.nodes[0], c.nodes[1]

	slow := dialWith(t, n0.wsURL(), "slow@n0", dialOpts{smallRecvBuf: true, hold: true})
	slow.send(map[string]any{"type": "auth", "token": token(t, "slow", "user")})
	slow.send(map[string]any{"type": "join", "room": "busy"})
	var slowID string
	waitFor(t, wait, "the slow client to join", func() error {
		var u userDoc
		if err := n1.getJSON("/users/slow", &u); err != nil {
			return err
		}
		if len(u.Conns) != 1 || len(u.Conns[0].Rooms) != 1 {
			return fmt.Errorf("/users/slow = %+v", u)
		}
		slowID = u.Conns[0].ID
		return nil
	})
	f0 := dial(t, n0.wsURL(), "fast@n0", "fast0", "user")
	f1 := dial(t, n1.wsURL(), "fast@n1", "fast1", "user")
	pub := dial(t, n1.wsURL(), "pub@n1", "pub", "user")
	readers := []*wsClient{f0, f1, pub}
	for _, cl := range readers {
		cl.join("busy")
	}

	pad := strings.Repeat("x", size)
	got := make([]atomic.Int64, len(readers))
	errc := make(chan error, len(readers))
	var wg sync.WaitGroup
	for i, cl := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range total {
				f, err := cl.next("message", 20*time.Second, nil)
				if err != nil {
					errc <- fmt.Errorf("%s after %d messages: %w", cl.name, k, err)
					return
				}
				if seq, _ := strconv.Atoi(strings.SplitN(dataString(f), "|", 2)[0]); seq != k {
					errc <- fmt.Errorf("%s: message %d arrived as number %d (lost or reordered)", cl.name, seq, k)
					return
				}
				got[i].Store(int64(k + 1))
			}
		}()
	}
	// Release the slow client's reader as soon as n0 has given up on it, so
	// it can read the close frame (its writer waits up to 1 s for it).
	released := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(released)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var s statsDoc
			if n0.getJSON("/stats?scope=node", &s) == nil && s.ErrorsByKind["slow_consumer"] > 0 {
				slow.release()
				return
			}
		}
	}()
	// The publisher keeps at most ahead messages ahead of the slowest fast
	// reader, so only the client that never reads can overflow its queue.
	for i := range total {
		deadline := time.Now().Add(20 * time.Second)
		for {
			lag := false
			for j := range readers {
				lag = lag || got[j].Load() < int64(i-ahead)
			}
			if !lag {
				break
			}
			select {
			case err := <-errc:
				t.Fatal(err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("readers stalled at %d/%d/%d of %d", got[0].Load(), got[1].Load(), got[2].Load(), i)
			}
			time.Sleep(time.Millisecond)
		}
		pub.send(map[string]any{"type": "message", "room": "busy", "data": fmt.Sprintf("%d|%s", i, pad)})
	}
	wg.Wait()
	close(stop)
	<-released
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	code, err := slow.waitClosed(wait)
	if err != nil {
		t.Fatal(err)
	}
	// n0 closed it with 4001, and says so in its log. The client reads the
	// close frame only if it drains what the kernel still holds for it
	// within the node's 1 s close write: on a busy machine it often does
	// not, and sees 1006, as docs/protocol.md documents for slow consumers.
	waitFor(t, wait, "n0 to log the slow client's close", func() error {
		for _, line := range strings.Split(n0.p.log.String(), "\n") {
			if strings.Contains(line, "msg=disconnected") && strings.Contains(line, "conn_id="+slowID) {
				if !strings.Contains(line, " code=4001 ") {
					t.Fatalf("n0 closed the slow client with another code: %s", line)
				}
				return nil
			}
		}
		return fmt.Errorf("no disconnected line for %s", slowID)
	})
	_, closeErr := slow.closeCode()
	switch code {
	case 4001:
	case 1006:
		t.Logf("the slow client saw 1006 (%v): its close frame sat behind a full socket buffer", closeErr)
	default:
		t.Fatalf("the slow client was closed with %d (%v), want 4001 (slow consumer) or 1006", code, closeErr)
	}
	for _, cl := range readers {
		select {
		case <-cl.Done():
			code, _ := cl.closeCode()
			t.Fatalf("%s was closed (code %d)", cl.name, code)
		default:
		}
	}
	for _, n := range c.nodes {
		waitFor(t, wait, n.id+" to forget the slow client", func() error { return wantStatus(n, "/connections/"+slowID, 404) })
	}
	var s statsDoc
	if err := n0.getJSON("/stats?scope=node", &s); err != nil {
		t.Fatal(err)
	}
	if s.ErrorsByKind["slow_consumer"] != 1 {
		t.Fatalf("n0 errors_by_kind.slow_consumer = %d, want 1: %v", s.ErrorsByKind["slow_consumer"], s.ErrorsByKind)
	}
	if v, err := n0.metric(`wsnode_errors_total{kind="slow_consumer"}`); err != nil || v != 1 {
		t.Fatalf(`n0 wsnode_errors_total{kind="slow_consumer"} = %v (%v), want 1`, v, err)
	}
}
