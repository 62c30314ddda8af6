package registry

import (
	"context"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/internal/freeport"
)

// MustRealRedis starts a private redis-server on a free loopback port and
// returns a client for it; both are stopped at cleanup. It skips the test
// when redis-server is not on PATH.
func MustRealRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("redis-server not found on PATH; skipping real-Redis test")
	}
	port := freePort(tb)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	tb.Cleanup(func() { _ = rdb.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rdb.Ping(context.Background()).Err()
		if err == nil {
			return rdb
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on port %d not ready: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback port for redis-server from below the
// ephemeral range, so no outgoing connection takes it first.
func freePort(tb testing.TB) int {
	tb.Helper()
	ports, err := freeport.Pick(1)
	if err != nil {
		tb.Fatalf("find free port: %v", err)
	}
	return ports[0]
}

// TestRealRedis runs the main scenarios against a real redis-server, which
// checks the Lua against real Redis semantics (miniredis uses gopher-lua).
// Heartbeat expiry is simulated by deleting the key.
func TestRealRedis(t *testing.T) {
	rdb := MustRealRedis(t)
	ctx := context.Background()
	t.Run("lifecycle", func(t *testing.T) { runLifecycle(t, rdb, "life") })
	t.Run("touch and limit", func(t *testing.T) {
		noErr(t, rdb.FlushAll(ctx).Err())
		r := MustRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 1})
		mustBeat(t, r)
		mustRegister(t, r, Conn{ID: "c1", Rooms: []string{"lobby"}})
		mustRegister(t, r, Conn{ID: "c2"})
		noErr(t, r.Authenticate(ctx, "c1", "alice", TypeUser, t0))
		isErr(t, r.Authenticate(ctx, "c2", "alice", TypeUser, t0), ErrUserLimit)
		before := allKeys(t, rdb)
		noErr(t, r.Touch(ctx, []Activity{{ConnID: "c1", LastActivity: t0.Add(time.Second), MessagesIn: 2}}))
		// Only the activity hash appears, holding the live connection.
		equal(t, "no orphan keys", allKeys(t, rdb), sortedWith(before, "ws:activity"))
		equal(t, "activity fields", hashFields(t, rdb, "ws:activity"), []string{"c1"})
		c, err := r.Conn(ctx, "c1")
		noErr(t, err)
		equal(t, "touched", []any{c.LastActivity, c.MessagesIn}, []any{t0.Add(time.Second), int64(2)})
		noErr(t, r.Unregister(ctx, "c1"))
		equal(t, "activity gone with its conn", len(hashFields(t, rdb, "ws:activity")), 0)
	})
	t.Run("reap", func(t *testing.T) {
		noErr(t, rdb.FlushAll(ctx).Err())
		a := MustRegistry(t, rdb, "node-a", nil)
		b := MustRegistry(t, rdb, "node-b", nil)
		seedTwoNodes(t, a, b)
		noErr(t, rdb.Del(ctx, a.Keys().Node("node-a")).Err())
		n, err := b.ReapDead(ctx)
		noErr(t, err)
		equal(t, "reaped", n, 3)
		assertOnlyB(t, rdb, b)
	})
	t.Run("flush and reassert", func(t *testing.T) {
		noErr(t, rdb.FlushAll(ctx).Err())
		noErr(t, rdb.ScriptFlush(ctx).Err()) // as after a restart: forces the NOSCRIPT path
		a := MustRegistry(t, rdb, "node-a", nil)
		mustBeat(t, a)
		local := []Conn{
			{ID: "a1", User: "alice", Type: TypeUser, State: StateAuthenticated, ConnectedAt: t0,
				AuthenticatedAt: t0, LastActivity: t0, MessagesIn: 2, Rooms: []string{"lobby"}},
			{ID: "a2", Type: TypeGuest, State: StateConnected, ConnectedAt: t0, Rooms: []string{"lobby", "x"}},
		}
		noErr(t, a.Reassert(ctx, local))
		before := takeSnapshot(t, a, []string{"lobby", "x"}, []string{"alice"})
		noErr(t, rdb.FlushAll(ctx).Err())
		noErr(t, rdb.ScriptFlush(ctx).Err())
		equal(t, "lost", mustBeat(t, a), true)
		noErr(t, a.Reassert(ctx, local))
		equal(t, "restored", takeSnapshot(t, a, []string{"lobby", "x"}, []string{"alice"}), before)
		noErr(t, a.Deregister(ctx))
		equal(t, "keys after deregister", allKeys(t, rdb), sorted(a.Keys().Peak()))
	})
}

func sortedWith(list []string, extra ...string) []string {
	out := append(append([]string{}, list...), extra...)
	sort.Strings(out)
	return out
}

func hashFields(t *testing.T, rdb redis.Cmdable, key string) []string {
	t.Helper()
	f, err := rdb.HKeys(context.Background(), key).Result()
	noErr(t, err)
	sort.Strings(f)
	return f
}
