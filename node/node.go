package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/protocol"
)

// Deps are the cluster services a Node is built on.
type Deps struct {
	Registry  Registry  // writes: this node's connections and heartbeat
	Directory Directory // reads: cluster-wide queries
	Broker    Broker
	Stats     Stats
	// History is optional: nil means no room keeps history.
	History History
}

// Node manages this process's sockets and exposes the cluster-wide API.
type Node struct {
	cfg       Config
	reg       Registry
	dir       Directory
	events    eventSet // Config.Events
	admission admission
	setup     setupGate // bounds set-up work at once (setupgate.go)
	broker    Broker
	stats     Stats
	history   History    // nil: no history rooms
	seq       *sequencer // order and gap repair of history rooms
	verifier  *auth.Verifier
	log       *slog.Logger
	upgrader  websocket.Upgrader
	idx       *index
	started   time.Time

	baseCtx    context.Context // cancelled when Shutdown finishes
	ops        *sharedDeadline // contexts of client-driven Redis calls (opctx.go)
	cleanupOps *sharedDeadline // the same, detached from baseCtx, for cleanup
	workers    *workers        // pooled goroutines: frame serving, writers, register, cleanup
	cancel     context.CancelFunc
	draining   atomic.Bool
	admitMu    sync.Mutex     // orders admissions against the start of draining
	conns      sync.WaitGroup // one per live socket handler
	runOnce    atomic.Bool
	stopOnce   sync.Once
	stopped    chan struct{}
	stopErr    error
	resync     chan struct{} // asks the maintenance loop to re-assert now
	drainCh    chan struct{} // closed when draining starts
	loopDone   chan struct{} // closed when the maintenance loop has returned

	driftSeen     bool // last drift check saw a mismatch; maintenance loop only
	reassertDue   bool // the last re-assertion failed; maintenance loop only
	healthMu      sync.Mutex
	lastHeartbeat time.Time

	repairMu sync.Mutex
	repairs  map[repair]struct{} // registry writes to retry
}

// New returns a Node. Call Run to start its background loops and serve
// sockets through ServeHTTP.
func New(cfg Config, deps Deps) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Registry == nil || deps.Directory == nil || deps.Broker == nil || deps.Stats == nil {
		return nil, errors.New("node: Registry, Directory, Broker and Stats are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, reg: deps.Registry, dir: deps.Directory, events: newEventSet(cfg.Events), admission: admission{max: int64(cfg.MaxPendingConnects)}, setup: newSetupGate(cfg.SetupConcurrency), broker: deps.Broker, stats: deps.Stats, history: deps.History,
		verifier: cfg.Verifier, idx: newIndex(), started: time.Now(),
		log:     cfg.Logger.With("node_id", cfg.NodeID),
		baseCtx: ctx, cancel: cancel, workers: newWorkers(ctx.Done()),
		stopped: make(chan struct{}), resync: make(chan struct{}, 1),
		drainCh: make(chan struct{}), loopDone: make(chan struct{}),
		repairs: map[repair]struct{}{},
	}
	n.seq = newSequencer(n)
	n.ops = newSharedDeadline(ctx, cfg.RedisTimeout)
	n.cleanupOps = newSharedDeadline(context.WithoutCancel(ctx), cfg.RedisTimeout)
	n.upgrader = websocket.Upgrader{
		ReadBufferSize:    0, // the reader from bufferedHijacker (readBufferSize)
		WriteBufferSize:   1024,
		WriteBufferPool:   &sync.Pool{},
		HandshakeTimeout:  10 * time.Second,
		CheckOrigin:       n.checkOrigin,
		EnableCompression: false,
		Error:             n.handshakeError,
	}
	return n, nil
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Config returns the effective configuration (defaults filled in).
func (n *Node) Config() Config { return n.cfg }

// Draining reports whether Shutdown has started.
func (n *Node) Draining() bool { return n.draining.Load() }

// Ready reports whether the node should receive traffic: not draining, the
// broker's subscriptions are live and the last heartbeat reached Redis
// recently.
func (n *Node) Ready() error {
	switch {
	case n.draining.Load():
		return errors.New("draining")
	case !n.broker.Ready():
		return errors.New("pub/sub not connected")
	}
	n.healthMu.Lock()
	last := n.lastHeartbeat
	n.healthMu.Unlock()
	if time.Since(last) > 2*n.cfg.HeartbeatInterval+n.cfg.RedisTimeout {
		return fmt.Errorf("no heartbeat reached Redis since %s", last.Format(time.RFC3339))
	}
	return nil
}

// Shutdown drains the node: it stops accepting, closes every socket with
// 1001, waits for their handlers (bounded by ctx), removes this node's
// entries from Redis and stops the background loops. It is idempotent; later
// calls wait for the first and return its result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.admitMu.Lock()
		n.draining.Store(true)
		n.admitMu.Unlock()
		close(n.drainCh)
		n.stopErr = n.drain(ctx)
		n.cancel()
		n.seq.repairs.Wait() // each ends with baseCtx
		close(n.stopped)
	})
	select {
	case <-n.stopped:
		return n.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) drain(ctx context.Context) error {
	for _, c := range n.idx.all() {
		c.closeWith(protocol.CloseGoingAway, "node shutting down")
	}
	done := make(chan struct{})
	go func() { n.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("node: drain: %w", ctx.Err())
	}
	if n.runOnce.Load() {
		<-n.loopDone // no heartbeat may re-create what Deregister removes
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.RedisTimeout)
	defer cancel()
	if derr := n.reg.Deregister(dctx); derr != nil {
		err = errors.Join(err, fmt.Errorf("node: deregister: %w", derr))
	}
	return err
}
