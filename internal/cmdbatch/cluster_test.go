package cmdbatch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/rediscluster"
)

// TestCluster runs scripts for keys in many slots through a Cluster on a
// real 3-primary Redis Cluster: every reply is right, each primary got its
// own batcher, and a command sent to the wrong primary (a stale slot map)
// is answered through the ClusterClient instead of failing.
func TestCluster(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{})
	cc := c.Client(t)
	ctx := context.Background()
	script := redis.NewScript(`return redis.call("INCRBY", KEYS[1], ARGV[1])`)
	if err := script.Load(ctx, cc).Err(); err != nil { // on every primary
		t.Fatal(err)
	}

	t.Run("concurrent callers over all slots", func(t *testing.T) {
		cl := NewCluster(cc, Config{MaxBatch: 8})
		const callers, each, keys = 12, 40, 30
		var wg sync.WaitGroup
		errs := make(chan error, callers*each)
		for g := range callers {
			wg.Go(func() {
				for i := range each {
					key := fmt.Sprintf("{k%d}n", (g*each+i)%keys)
					if err := EvalSha(ctx, cl, script.Hash(), []string{key}, 1).Err(); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		total := 0
		for k := range keys {
			v, err := cc.Get(ctx, fmt.Sprintf("{k%d}n", k)).Int()
			if err != nil {
				t.Fatal(err)
			}
			total += v
		}
		if total != callers*each {
			t.Fatalf("sum %d, want %d", total, callers*each)
		}
		cl.mu.Lock()
		n := len(cl.byAddr)
		cl.mu.Unlock()
		if n != 3 {
			t.Fatalf("%d primaries' batchers, want 3 (30 keys cover every primary)", n)
		}
	})

	t.Run("stale slot map", func(t *testing.T) {
		cl := NewCluster(cc, Config{})
		key := "{stale}n"
		right, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex // ForEachMaster calls fn concurrently
		var wrong *redis.Client
		err = cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			if m.Options().Addr != right.Options().Addr {
				wrong = m
			}
			return nil
		})
		if err != nil || wrong == nil {
			t.Fatalf("no other primary: %v", err)
		}
		cl.masterFor = func(context.Context, string) (*redis.Client, error) { return wrong, nil }
		var resent atomic.Int64
		cl.retries = func() { resent.Add(1) }
		if v, err := EvalSha(ctx, cl, script.Hash(), []string{key}, 5).Int(); err != nil || v != 5 {
			t.Fatalf("through the wrong primary: %d, %v; want 5 (MOVED followed)", v, err)
		}
		if resent.Load() != 1 {
			t.Fatalf("%d resends, want 1", resent.Load())
		}
		if v, _ := cc.Get(ctx, key).Int(); v != 5 {
			t.Fatalf("%s = %d, want 5: the MOVED command must not have run", key, v)
		}
	})

	t.Run("script errors are not resent", func(t *testing.T) {
		cl := NewCluster(cc, Config{})
		var resent atomic.Int64
		cl.retries = func() { resent.Add(1) }
		bad := redis.NewScript(`return redis.error_reply("ERR nope")`)
		if err := bad.Load(ctx, cc).Err(); err != nil {
			t.Fatal(err)
		}
		if err := EvalSha(ctx, cl, bad.Hash(), []string{"{e}x"}).Err(); err == nil || err.Error() != "ERR nope" {
			t.Fatalf("err = %v, want the script's error", err)
		}
		missing := EvalSha(ctx, cl, "0123456789012345678901234567890123456789", []string{"{e}x"}).Err()
		if !redis.HasErrorPrefix(missing, "NOSCRIPT") {
			t.Fatalf("unknown script: %v, want NOSCRIPT", missing)
		}
		if resent.Load() != 0 {
			t.Fatalf("%d resends of errors Redis answered", resent.Load())
		}
	})
}

func TestResend(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{redis.ErrClosed, true},
		{fmt.Errorf("dial: %w", errConnRefused), true},
	} {
		if got := resend(c.err); got != c.want {
			t.Errorf("resend(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

var errConnRefused = fmt.Errorf("connection refused")

func TestFirstKey(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		cmd  redis.Cmder
		key  string
		keys bool
	}{
		{redis.NewCmd(ctx, "evalsha", "sha", 2, "{a}x", "{a}y", 1), "{a}x", true},
		{redis.NewCmd(ctx, "evalsha", "sha", 0, "arg"), "", false},
		{redis.NewCmd(ctx, "evalsha", "sha"), "", false},
		{redis.NewIntCmd(ctx, "srem", "{n}set", "m"), "{n}set", true},
		{redis.NewSliceCmd(ctx, "hmget", "{c}h", "node", "inc"), "{c}h", true},
		{redis.NewStatusCmd(ctx, "ping"), "", false},
	} {
		if k, ok := firstKey(c.cmd); k != c.key || ok != c.keys {
			t.Errorf("firstKey(%v) = %q, %v; want %q, %v", c.cmd.Args(), k, ok, c.key, c.keys)
		}
	}
}
