package node

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
)

// The fake cluster services that node's tests and benchmarks share, and the
// node built on them. None of them touches Redis.

// fakeNode is a node on the fakes with the given Registry and Stats; Run
// is never called, so it starts no goroutines of its own.
func fakeNode(tb testing.TB, tweak func(*Config), reg Registry, st Stats) *Node {
	tb.Helper()
	v, err := auth.NewVerifier(0, "bench-secret")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{NodeID: "bench-node", Verifier: v, Guests: GuestsWrite,
		PingInterval: time.Hour, AuthTimeout: time.Hour, RedisTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	if tweak != nil {
		tweak(&cfg)
	}
	br := &fakeBroker{}
	dir, ok := reg.(Directory)
	if !ok {
		dir = fakeRegistry{}
	}
	n, err := New(cfg, Deps{Registry: reg, Directory: dir, Broker: br, Stats: st})
	if err != nil {
		tb.Fatal(err)
	}
	br.n = n
	tb.Cleanup(n.cancel)
	return n
}

// fakeRegistry accepts every write and knows one remote connection
// (fzOtherConnID, on "fz-other-node").
type fakeRegistry struct{}

func (fakeRegistry) Register(context.Context, cluster.Conn) error { return nil }
func (fakeRegistry) Authenticate(context.Context, string, string, string, time.Time) error {
	return nil
}
func (fakeRegistry) Join(context.Context, string, string, time.Time) error  { return nil }
func (fakeRegistry) Leave(context.Context, string, string, time.Time) error { return nil }
func (fakeRegistry) SetState(context.Context, string, string) error         { return nil }
func (fakeRegistry) Unregister(context.Context, string) error               { return nil }
func (fakeRegistry) Touch(context.Context, []cluster.Activity) error        { return nil }
func (fakeRegistry) Heartbeat(context.Context, cluster.Node) (bool, error)  { return false, nil }
func (fakeRegistry) Reassert(context.Context, []cluster.Conn) error         { return nil }
func (fakeRegistry) Deregister(context.Context) error                       { return nil }
func (fakeRegistry) NodeConnCount(context.Context) (int64, error)           { return 0, nil }
func (fakeRegistry) Reap(context.Context) ([]cluster.Conn, error)           { return nil, nil }
func (fakeRegistry) ConnNode(_ context.Context, id string) (string, error) {
	if id == fzOtherConnID {
		return "fz-other-node", nil
	}
	return "", cluster.ErrNotFound
}
func (fakeRegistry) Conn(context.Context, string) (cluster.Conn, error) {
	return cluster.Conn{}, cluster.ErrNotFound
}
func (fakeRegistry) Room(context.Context, string) (cluster.Room, error) {
	return cluster.Room{}, cluster.ErrNotFound
}
func (fakeRegistry) Rooms(context.Context) ([]cluster.RoomSummary, error) { return nil, nil }
func (fakeRegistry) User(context.Context, string) (cluster.User, error) {
	return cluster.User{}, cluster.ErrNotFound
}
func (fakeRegistry) Nodes(context.Context) ([]cluster.Node, error)          { return nil, nil }
func (fakeRegistry) Counts(context.Context) (cluster.Counts, error)         { return cluster.Counts{}, nil }
func (fakeRegistry) Activity(context.Context) (map[string]time.Time, error) { return nil, nil }

// fakeBroker delivers every envelope straight back to its node, like a
// one-node cluster.
type fakeBroker struct{ n *Node }

func (b *fakeBroker) Publish(_ context.Context, e envelope.Envelope) error {
	b.n.handleEnvelope(e)
	return nil
}
func (b *fakeBroker) PublishAsync(e envelope.Envelope, done func(envelope.Result)) {
	b.n.handleEnvelope(e)
	if done != nil {
		done(envelope.Result{Receivers: 1})
	}
}
func (b *fakeBroker) AppendEvent([]byte)                                       {}
func (b *fakeBroker) Subscribe(context.Context, envelope.Kind, string) error   { return nil }
func (b *fakeBroker) Unsubscribe(context.Context, envelope.Kind, string) error { return nil }
func (b *fakeBroker) Ready() bool                                              { return true }

type fakeStats struct{}

func (fakeStats) Message(string)                                    {}
func (fakeStats) Error(string)                                      {}
func (fakeStats) Add(string, int64)                                 {}
func (fakeStats) Local() counter.Snapshot                           { return counter.Snapshot{} }
func (fakeStats) Cluster(context.Context) (counter.Snapshot, error) { return counter.Snapshot{}, nil }
func (fakeStats) MessagesPerSecond() float64                        { return 0 }

// countingStats counts errors by kind and the event counters.
type countingStats struct {
	fakeStats
	mu   sync.Mutex
	errs map[string]int
	ctrs map[string]int64
}

func (s *countingStats) Add(name string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctrs == nil {
		s.ctrs = map[string]int64{}
	}
	s.ctrs[name] += n
}

func (s *countingStats) count(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrs[name]
}

func (s *countingStats) Error(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[string]int{}
	}
	s.errs[kind]++
}

func (s *countingStats) errors(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs[kind]
}
