package stats

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/internal/resptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustStats(tb testing.TB) (*Stats, *miniredis.Miniredis, *redis.Client) {
	tb.Helper()
	m := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { _ = rdb.Close() })
	s, err := New(rdb, Config{Prefix: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	return s, m, rdb
}

func TestFlushSumsNodes(t *testing.T) {
	a, m, rdb := mustStats(t)
	b, err := New(rdb, Config{Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				a.Message(MsgMessage)
				b.Message(MsgMessage)
			}
		}()
	}
	wg.Wait()
	a.Message("no-such-type")
	b.Error(ErrSlowConsumer)
	b.Error("weird")
	a.Add(CtrDelivered, 7)
	a.Add("not-a-counter", 1)
	ctx := context.Background()
	for _, s := range []*Stats{a, b} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A second flush with no new events adds nothing.
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := a.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.MessagesByType[MsgMessage] != 1600 || c.MessagesByType[MsgUnknown] != 1 || c.MessagesTotal != 1601 {
		t.Fatalf("messages = %v total %d", c.MessagesByType, c.MessagesTotal)
	}
	if c.ErrorsByKind[ErrSlowConsumer] != 1 || c.ErrorsByKind[ErrOther] != 1 || c.ErrorsTotal != 2 {
		t.Fatalf("errors = %v", c.ErrorsByKind)
	}
	if c.Counters[CtrDelivered] != 7 || len(c.Counters) != 1 {
		t.Fatalf("counters = %v", c.Counters)
	}
	if got := m.HGet("t:stats:msgs", MsgMessage); got != "1600" {
		t.Fatalf("redis hash = %q", got)
	}
	if l := a.Local(); l.MessagesByType[MsgMessage] != 800 {
		t.Fatalf("local = %v", l.MessagesByType)
	}
}

func TestFailedFlushIsRetriedWithoutLoss(t *testing.T) {
	s, m, _ := mustStats(t)
	ctx := context.Background()
	s.Message(MsgJoin)
	m.SetError("LOADING")
	if err := s.Flush(ctx); err == nil {
		t.Fatal("flush succeeded against a failing redis")
	}
	if s.FlushFailures() != 1 {
		t.Fatalf("failures = %d", s.FlushFailures())
	}
	m.SetError("")
	s.Message(MsgJoin)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.HGet("t:stats:msgs", MsgJoin); got != "2" {
		t.Fatalf("after retry join = %q, want 2", got)
	}
}

func TestRunFlushesOnStop(t *testing.T) {
	s, m, _ := mustStats(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	s.Message(MsgPing)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := m.HGet("t:stats:msgs", MsgPing); got != "1" {
		t.Fatalf("ping after stop = %q", got)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestCollector(t *testing.T) {
	s, _, _ := mustStats(t)
	s.Message(MsgDirect)
	s.Error(ErrRateLimited)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector("wsnode", func() []Gauge {
		return []Gauge{{Name: "connections", Help: "Open sockets.", Value: 3}}
	}))
	want := `
# HELP wsnode_connections Open sockets.
# TYPE wsnode_connections gauge
wsnode_connections 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wsnode_connections"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "wsnode_messages_total")
	if err != nil || n != len(messageNames) {
		t.Fatalf("messages series = %d, %v", n, err)
	}
}

// An HINCRBY whose reply is lost may have been applied. go-redis must not
// re-send it on its own (its default MaxRetries is 3, which would add the
// delta up to four times); the delta stays unflushed for the next tick.
func TestLostReplyIsNotResent(t *testing.T) {
	srv := resptest.MustLossyServer(t, "hincrby")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MinRetryBackoff: time.Millisecond, MaxRetryBackoff: time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := New(rdb, Config{Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	s.Message(MsgMessage)
	if err := s.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded against a server that never replies")
	}
	if got := srv.Calls("hincrby"); got != 1 {
		t.Fatalf("server saw %d HINCRBY, want 1", got)
	}
	if got := s.FlushFailures(); got != 1 {
		t.Fatalf("FlushFailures = %d, want 1", got)
	}
}
