package pubsub

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/internal/freeport"
)

// MustRealRedis starts a private redis-server on a free loopback port (no persistence) and
// returns its address and a function that kills it with SIGKILL and starts a new one on the
// same port. The test is skipped when redis-server is not on PATH. Cleanup stops the server.
func MustRealRedis(tb testing.TB) (addr string, restart func()) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("redis-server not on PATH: skipping the real-Redis test (install redis-server to run it)")
	}
	// From below the ephemeral range: no outgoing connection (and none
	// during a restart) can take the port.
	ports, err := freeport.Pick(1)
	if err != nil {
		tb.Fatal(err)
	}
	port := ports[0]
	addr = fmt.Sprintf("127.0.0.1:%d", port)

	var (
		mu     sync.Mutex
		cmd    *exec.Cmd
		exited chan struct{} // closed when cmd has been reaped
	)
	start := func() {
		tb.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--protected-mode", "no")
			if err := c.Start(); err != nil {
				tb.Fatalf("start redis-server: %v", err)
			}
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			if waitRedis(addr, done, 5*time.Second) {
				mu.Lock()
				cmd, exited = c, done
				mu.Unlock()
				tb.Cleanup(func() { _ = c.Process.Kill(); <-done })
				return
			}
			_ = c.Process.Kill()
			<-done
			if time.Now().After(deadline) { // e.g. the port is still held by the old one
				tb.Fatalf("redis-server did not come up on %s", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start()
	restart = func() {
		tb.Helper()
		mu.Lock()
		c, done := cmd, exited
		mu.Unlock()
		_ = c.Process.Signal(syscall.SIGKILL)
		<-done
		start()
	}
	return addr, restart
}

// waitRedis polls addr with PING until it answers, the process exits or timeout passes.
func waitRedis(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestRealRedisRestart kills redis-server with SIGKILL under two nodes, starts an empty one on
// the same port and checks the loss window is counted, Handler.Reconnected runs and routing resumes.
func TestRealRedisRestart(t *testing.T) {
	t.Parallel()
	addr, restart := MustRealRedis(t)
	a := startNode(t, addr, "node-a", nil)
	b := startNode(t, addr, "node-b", nil)
	testRestart(t, a, b, restart)
	if b.rec.reconnects.Load() < 1 {
		t.Fatal("Handler.Reconnected was not called")
	}
	if got := numSub(t, a.rdb, b.Channel(KindRoom, "lobby")); got != 1 {
		t.Fatalf("NUMSUB of the room on the new server = %d, want 1", got)
	}
}
