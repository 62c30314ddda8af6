package pubsub

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{}) // dial failures are expected in the outage tests
	goleak.VerifyTestMain(m)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// recorder is a Handler that keeps what it receives and counts reconnects.
type recorder struct {
	mu         sync.Mutex
	got        []Envelope
	reconnects atomic.Int32
}

// nop is a Handler for brokers whose deliveries a test ignores.
var nop = HandlerFunc(func(Envelope) {})

func (r *recorder) Reconnected() { r.reconnects.Add(1) }

func (r *recorder) HandleEnvelope(e Envelope) {
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
}

func (r *recorder) all() []Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) count(p string) int {
	n := 0
	for _, e := range r.all() {
		if string(e.Payload) == p {
			n++
		}
	}
	return n
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newClient(tb testing.TB, opt *redis.Options) *redis.Client {
	tb.Helper()
	if opt.MaxRetries == 0 {
		opt.MaxRetries = -1 // fail fast in tests: errors are what we count
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	rdb := redis.NewClient(opt)
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

type testNode struct {
	*Broker
	rec *recorder
	rdb *redis.Client
}

// startNode starts a broker for node id against addr, runs it and waits until it is Ready.
// Cleanup closes it and checks that Run returned nil.
func startNode(tb testing.TB, addr, id string, mod func(*Config)) *testNode {
	tb.Helper()
	rdb := newClient(tb, &redis.Options{Addr: addr})
	rec := &recorder{}
	cfg := Config{
		NodeID:       id,
		PingInterval: 200 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(rdb, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background(), rec) }()
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if err := <-runErr; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	waitFor(tb, 5*time.Second, id+" ready", b.Ready)
	return &testNode{Broker: b, rec: rec, rdb: rdb}
}

func deliver(kind Kind, target, payload string) Envelope {
	return Envelope{Kind: kind, Target: target, Op: OpDeliver, Payload: []byte(payload)}
}

func mustPublish(tb testing.TB, n *testNode, e Envelope) {
	tb.Helper()
	if err := n.Publish(context.Background(), e); err != nil {
		tb.Fatalf("Publish %s %q: %v", e.Kind, e.Target, err)
	}
}

// numSub is PUBSUB NUMSUB for one channel, as seen by Redis.
func numSub(tb testing.TB, rdb *redis.Client, ch string) int64 {
	tb.Helper()
	m, err := rdb.PubSubNumSub(context.Background(), ch).Result()
	if err != nil {
		tb.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return m[ch]
}

// refs returns the local reference count of ch and whether it is confirmed.
func (b *Broker) refsOf(ch string) (int, bool) {
	r := b.single
	if b.cl != nil {
		r = b.receiverOf(ch)
		if r == nil {
			return 0, false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.subs[ch]; s != nil {
		return s.refs, s.confirmed
	}
	return 0, false
}

// receiverOf returns the cluster-mode receiver that holds ch, or nil.
func (b *Broker) receiverOf(ch string) *receiver {
	kind, target, ok := b.parseChannel(ch)
	if !ok {
		return nil
	}
	switch kind {
	case KindAll:
		return b.cl.bases[0]
	case KindNode:
		return b.cl.bases[1]
	}
	return b.cl.existing(tagOf(b.cl, kind, target))
}
