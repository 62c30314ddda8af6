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

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/internal/resptest"
	"github.com/wsnode/wsnode/protocol"
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
				a.Message(protocol.TypeMessage)
				b.Message(protocol.TypeMessage)
			}
		}()
	}
	wg.Wait()
	a.Message("no-such-type")
	b.Error(counter.ErrSlowConsumer)
	b.Error("weird")
	a.Add(counter.CtrDelivered, 7)
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
	if c.MessagesByType[protocol.TypeMessage] != 1600 || c.MessagesByType[counter.MsgUnknown] != 1 || c.MessagesTotal != 1601 {
		t.Fatalf("messages = %v total %d", c.MessagesByType, c.MessagesTotal)
	}
	if c.ErrorsByKind[counter.ErrSlowConsumer] != 1 || c.ErrorsByKind[counter.ErrOther] != 1 || c.ErrorsTotal != 2 {
		t.Fatalf("errors = %v", c.ErrorsByKind)
	}
	if c.Counters[counter.CtrDelivered] != 7 || len(c.Counters) != 1 {
		t.Fatalf("counters = %v", c.Counters)
	}
	if got := m.HGet("t:stats:msgs", protocol.TypeMessage); got != "1600" {
		t.Fatalf("redis hash = %q", got)
	}
	if l := a.Local(); l.MessagesByType[protocol.TypeMessage] != 800 {
		t.Fatalf("local = %v", l.MessagesByType)
	}
}

func TestFailedFlushIsRetriedWithoutLoss(t *testing.T) {
	s, m, _ := mustStats(t)
	ctx := context.Background()
	s.Message(protocol.TypeJoin)
	m.SetError("LOADING")
	if err := s.Flush(ctx); err == nil {
		t.Fatal("flush succeeded against a failing redis")
	}
	if s.FlushFailures() != 1 {
		t.Fatalf("failures = %d", s.FlushFailures())
	}
	m.SetError("")
	s.Message(protocol.TypeJoin)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.HGet("t:stats:msgs", protocol.TypeJoin); got != "2" {
		t.Fatalf("after retry join = %q, want 2", got)
	}
}

func TestRunFlushesOnStop(t *testing.T) {
	s, m, _ := mustStats(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	s.Message(protocol.TypePing)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := m.HGet("t:stats:msgs", protocol.TypePing); got != "1" {
		t.Fatalf("ping after stop = %q", got)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestCollector(t *testing.T) {
	s, _, _ := mustStats(t)
	s.Message(protocol.TypeDirect)
	s.Error(counter.ErrRateLimited)
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
	if err != nil || n != len(counter.MessageNames()) {
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
	s.Message(protocol.TypeMessage)
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
