package pubsub

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/resptest"
)

// A PUBLISH whose reply is lost may have reached subscribers already, so the
// broker must count it as failed and never send it again, even through a
// client whose retries are on (go-redis' default MaxRetries is 3).
func TestPublishSentAtMostOnce(t *testing.T) {
	srv := resptest.MustLossyServer(t, "publish")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MinRetryBackoff: time.Millisecond, MaxRetryBackoff: time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	b, err := New(rdb, Config{NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background(), nop) }() // starts the publish loop; subscribing fails here
	t.Cleanup(func() {
		_ = b.Close()
		<-runErr
	})

	if err := b.Publish(context.Background(), deliver(KindRoom, "r", "x")); err == nil {
		t.Fatal("Publish succeeded against a server that never replies")
	}
	if got := srv.Calls("publish"); got != 1 {
		t.Fatalf("Publish: server saw %d PUBLISH, want 1", got)
	}

	done := make(chan error, 1)
	b.PublishAsync(deliver(KindRoom, "r", "y"), func(r Result) { done <- r.Err })
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("PublishAsync succeeded against a server that never replies")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PublishAsync never finished")
	}
	if got := srv.Calls("publish"); got != 2 {
		t.Fatalf("after PublishAsync: server saw %d PUBLISH in all, want 2", got)
	}
	// Sent on this goroutine, or queued if the publishing goroutine still holds the last
	// round trip (its completion above runs before it lets go): either way, once.
	b.PublishInline(deliver(KindRoom, "r", "z"), func(r Result) { done <- r.Err })
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("PublishInline succeeded against a server that never replies")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PublishInline never finished")
	}
	if got := srv.Calls("publish"); got != 3 {
		t.Fatalf("after PublishInline: server saw %d PUBLISH in all, want 3", got)
	}
	if got := b.Stats().PublishErrors; got != 3 {
		t.Fatalf("PublishErrors = %d, want 3", got)
	}
}
