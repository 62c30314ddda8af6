package noretry_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/internal/noretry"
	"github.com/wsnode/wsnode/internal/resptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client connects to srv with go-redis' default retry policy.
func client(tb testing.TB, srv *resptest.Server) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MinRetryBackoff: time.Millisecond, MaxRetryBackoff: time.Millisecond})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// The premise: a plain PUBLISH whose reply is lost is sent again, so a
// message can be delivered more than once.
func TestPlainCommandIsRetried(t *testing.T) {
	srv := resptest.MustLossyServer(t, "publish")
	if err := client(t, srv).Publish(context.Background(), "ch", "m").Err(); err == nil {
		t.Fatal("publish succeeded against a server that never replies")
	}
	if got := srv.Calls("publish"); got < 2 {
		t.Fatalf("server saw %d PUBLISH; go-redis no longer retries, so this package may be unneeded", got)
	}
}

func TestCommandSentOnce(t *testing.T) {
	srv := resptest.MustLossyServer(t, "publish")
	ctx := context.Background()
	c, res := noretry.Publish(ctx, "ch", "m")
	if err := client(t, srv).Process(ctx, c); err == nil {
		t.Fatal("publish succeeded against a server that never replies")
	}
	if res.Err() == nil {
		t.Fatal("the reply holder carries no error")
	}
	if got := srv.Calls("publish"); got != 1 {
		t.Fatalf("server saw %d PUBLISH, want 1", got)
	}
}

func TestPipelineSentOnce(t *testing.T) {
	srv := resptest.MustLossyServer(t, "hincrby")
	ctx := context.Background()
	pipe := client(t, srv).Pipeline()
	var results []*redis.IntCmd
	for _, f := range []string{"a", "b"} {
		c, res := noretry.HIncrBy(ctx, "k", f, 1)
		if err := pipe.Process(ctx, c); err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	if _, err := pipe.Exec(ctx); err == nil {
		t.Fatal("pipeline succeeded against a server that never replies")
	}
	for i, res := range results {
		if res.Err() == nil {
			t.Errorf("command %d carries no error", i)
		}
	}
	// The server drops the connection at the first HINCRBY; the second was
	// written in the same batch but never read.
	if got := srv.Calls("hincrby"); got != 1 {
		t.Fatalf("server read %d HINCRBY, want 1 (the pipeline was retried)", got)
	}
}

func TestReplyIsRead(t *testing.T) {
	srv := resptest.MustLossyServer(t) // drops nothing
	ctx := context.Background()
	c, res := noretry.Publish(ctx, "ch", "m")
	if err := client(t, srv).Process(ctx, c); err != nil {
		t.Fatal(err)
	}
	if res.Val() != 1 || srv.Calls("publish") != 1 {
		t.Fatalf("reply %d, calls %d; want 1 and 1", res.Val(), srv.Calls("publish"))
	}
}

func TestSPublishSentOnce(t *testing.T) {
	srv := resptest.MustLossyServer(t, "spublish")
	ctx := context.Background()
	c, res := noretry.SPublish(ctx, "{t}:ch", "m")
	if err := client(t, srv).Process(ctx, c); err == nil {
		t.Fatal("spublish succeeded against a server that never replies")
	}
	if res.Err() == nil {
		t.Fatal("the reply holder carries no error")
	}
	if got := srv.Calls("spublish"); got != 1 {
		t.Fatalf("server saw %d SPUBLISH, want 1", got)
	}
}
