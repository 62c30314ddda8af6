package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/defaults"
	"github.com/wsnode/wsnode/internal/noretry"
)

// Defaults for zero-valued Config fields. The key prefix defaults to "ws"
// (registry.DefaultPrefix).
const (
	DefaultSubscribeTimeout = 3 * time.Second
	DefaultPingInterval     = time.Second
	DefaultPongWait         = 10 * time.Second
	DefaultPublishTimeout   = 3 * time.Second
)

// Errors callers may branch on.
var (
	ErrClosed           = errors.New("pubsub: broker closed")
	ErrRunning          = errors.New("pubsub: Run already called")
	ErrSubscribeTimeout = errors.New("pubsub: subscribe not confirmed in time")
	ErrNotSubscribed    = errors.New("pubsub: not subscribed")
)

// Config configures a Broker. Zero-valued fields take the documented defaults.
type Config struct {
	Prefix           string        // key and channel prefix; defaults to "ws" (registry.DefaultPrefix)
	NodeID           string        // required: this node's id, names its node channel
	SubscribeTimeout time.Duration // how long Subscribe waits for Redis to confirm; defaults to 3s
	PingInterval     time.Duration // liveness probe of the receive connection when idle; defaults to 1s
	// PongWait is how long a PING on the receive connection may go unanswered before the
	// connection is declared dead and replaced (a loss window); defaults to 10s. A Redis that
	// stalls for less than PongWait loses nothing; a dead connection is noticed up to
	// PingInterval+PongWait after its last byte. See doc.go, "Stalls".
	PongWait       time.Duration
	PublishTimeout time.Duration // bound on one pipelined round trip of PublishAsync; defaults to 3s
	Logger         *slog.Logger  // nil means slog.Default()
	// History is optional: room messages of the rooms it enables are stored
	// and published in one script (see RoomHistory).
	History RoomHistory
	// EventsStream, when set, is the client event stream: AppendEvent and
	// an envelope's Event are appended to it (XADD ... MAXLEN ~ EventsMaxLen)
	// in the publish pipeline (events.go). Default none: events are dropped.
	EventsStream string
	// EventsMaxLen is the approximate cap of EventsStream; defaults to
	// 1,000,000 (registry.DefaultEventsMaxLen).
	EventsMaxLen int64
	// Cluster selects Redis Cluster mode (docs/redis-cluster.md, "Pub/sub"): channel names
	// from package keyspace, SPUBLISH instead of PUBLISH, and SSUBSCRIBE on one receive
	// connection per hash-tag bucket in which the broker holds an interest, plus one each for
	// the all and node channels, each following its slot's owner (cluster.go). The client
	// given to New must then be a *redis.ClusterClient, and History, if set, must be in
	// cluster mode too. Default false: one receive connection, PUBLISH and SUBSCRIBE on the
	// single-instance names, unchanged.
	Cluster bool
}

func (c *Config) setDefaults() error {
	if c.NodeID == "" {
		return errors.New("pubsub: Config.NodeID is required")
	}
	if c.Prefix == "" {
		c.Prefix = defaults.KeyPrefix
	}
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = DefaultSubscribeTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongWait <= 0 {
		c.PongWait = DefaultPongWait
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.EventsMaxLen <= 0 {
		c.EventsMaxLen = defaultEventsMaxLen
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Handler receives what the broker gets from Redis; it is given to Run. Both methods are
// called from the single receive goroutine, in the order Redis delivered, and must not block
// (node enqueues without waiting). In cluster mode they are called from one receive goroutine
// per connection, one call at a time (a mutex), in Redis' order per connection.
type Handler interface {
	// HandleEnvelope is called with every envelope received and decoded.
	HandleEnvelope(Envelope)
	// Reconnected is called after the receive connection was lost and every subscription was
	// restored on a new one: what was published in between may be lost (a loss window). In
	// cluster mode it is called after any receive connection was restored.
	Reconnected()
}

// HandlerFunc adapts a function to a Handler that ignores reconnects.
type HandlerFunc func(Envelope)

// HandleEnvelope calls f(e).
func (f HandlerFunc) HandleEnvelope(e Envelope) { f(e) }

// Reconnected does nothing.
func (HandlerFunc) Reconnected() {}

// Broker routes Envelopes between nodes over Redis pub/sub. All methods are safe for
// concurrent use; Run must be called once to receive.
type Broker struct {
	rdb      redis.UniversalClient
	cfg      Config
	log      *slog.Logger
	chPrefix string    // "<prefix>:ch:" (single mode)
	base     [2]string // all and node channels, subscribed for the broker's lifetime

	// single is the one receive connection of single mode; nil in cluster mode, where cl
	// holds one receiver per base channel and per hash tag (cluster.go).
	single *receiver
	cl     *clusterState

	// epoch counts the transitions between every receive connection fully subscribed (even)
	// and some receive connection lost or restoring (odd); PublishAsync compares it across a
	// round trip. See epoch.go.
	epoch atomic.Uint64
	stats counters
	pub   publisher

	life    sync.Mutex // guards running, closed and h
	h       Handler    // set by Run before the receive loop starts
	running bool
	closed  bool
	done    chan struct{} // closed by shutdown
	exited  chan struct{} // closed when Run returns
	ctx     context.Context
	cancel  context.CancelFunc
}

type counters struct {
	published, publishErrors, received, decodeErrors, reconnects, subscriptions atomic.Int64
	events, eventErrors                                                         atomic.Int64
}

// Stats is a snapshot of the broker's counters. Reconnects counts loss windows: every one is a
// period in which messages on every channel of this node may have been lost.
type Stats struct {
	Published     int64 // successful PUBLISH commands
	PublishErrors int64 // failed PUBLISH commands (the message is lost)
	Received      int64 // messages decoded and handed to the Handler
	DecodeErrors  int64 // messages dropped because they did not decode
	Reconnects    int64 // receive connections replaced after a loss
	Subscriptions int64 // channels currently wanted, the two permanent ones included
	Events        int64 // client events appended to the event stream
	EventErrors   int64 // client events that could not be appended (lost)
}

// New returns a Broker that publishes with rdb and receives on a dedicated pub/sub connection
// of rdb. It does not touch the network; call Run with the Handler to start receiving.
func New(rdb redis.UniversalClient, cfg Config) (*Broker, error) {
	if rdb == nil {
		return nil, errors.New("pubsub: New needs a Redis client")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{
		rdb:      rdb,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "pubsub", "node_id", cfg.NodeID),
		chPrefix: cfg.Prefix + ":ch:",
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		pub:      publisher{wake: make(chan struct{}, 1)},
	}
	if cfg.Cluster {
		b.cl = newClusterState(cfg.Prefix)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.pub.round = newRoundCtx(b.ctx)
	b.epoch.Store(1) // odd: not subscribed yet
	b.base[0], _ = b.channel(KindAll, "")
	nodeCh, err := b.channel(KindNode, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	b.base[1] = nodeCh
	if b.cl != nil {
		b.newClusterBases()
	} else {
		// No channels: no connection yet.
		b.single = newReceiver(b, rdb.Subscribe(context.Background()), b.base[:], "", b.done)
	}
	b.stats.subscriptions.Store(int64(len(b.base)))
	return b, nil
}

// Run owns the receive loop until ctx is done or Close is called, and then closes the broker;
// it hands what it receives to h. It subscribes the all and node channels first; if Redis is
// unreachable it keeps retrying (Ready reports false meanwhile). It returns nil on a clean stop
// and ErrRunning if called twice.
func (b *Broker) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("pubsub: Run needs a Handler")
	}
	b.life.Lock()
	if b.running {
		b.life.Unlock()
		return ErrRunning
	}
	b.running, b.h = true, h
	closed := b.closed
	b.life.Unlock()
	defer close(b.exited)
	if closed {
		return nil
	}
	stop := context.AfterFunc(ctx, b.shutdown)
	defer stop()
	published := make(chan struct{})
	go func() { defer close(published); b.publishLoop() }()
	defer func() { <-published }()
	defer b.shutdown()

	if b.cl != nil {
		b.runCluster()
		return nil
	}
	r := b.single
	if err := r.ps.Subscribe(b.ctx, b.base[:]...); err != nil && !b.isClosed() {
		// go-redis keeps the channels in its set and subscribes them on the next connection.
		b.log.Warn("pubsub: initial subscribe failed, retrying", "err", err)
	}
	r.receive(b.ctx)
	r.ready.Store(false) // the receive goroutine is the only one that sets it
	return nil
}

// Close stops Run, releases the pub/sub connection and fails pending Subscribe calls.
// It is idempotent and returns after Run has returned.
func (b *Broker) Close() error {
	b.shutdown()
	b.life.Lock()
	running := b.running
	b.life.Unlock()
	if running {
		<-b.exited
	} else {
		b.failPending() // nobody will send them
	}
	return nil
}

// shutdown marks the broker closed and unblocks the receive goroutine: cancelling b.ctx aborts a
// dial in progress and closing the PubSub closes its connection, which fails a blocked read.
func (b *Broker) shutdown() {
	b.life.Lock()
	if b.closed {
		b.life.Unlock()
		return
	}
	b.closed = true
	b.life.Unlock()
	close(b.done)
	b.cancel()
	if b.cl != nil {
		b.closeCluster()
		return
	}
	b.single.ready.Store(false)
	_ = b.single.ps.Close()
}

func (b *Broker) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Publish encodes e once and sends one PUBLISH to the channel for (e.Kind, e.Target).
func (b *Broker) Publish(ctx context.Context, e Envelope) error {
	return b.PublishEncoded(ctx, e.Kind, e.Target, Encode(e))
}

// PublishEncoded sends msg, produced by Encode, to the channel for (kind, target).
// A failed PUBLISH is counted in Stats.PublishErrors; the message is lost.
func (b *Broker) PublishEncoded(ctx context.Context, kind Kind, target string, msg []byte) error {
	ch, err := b.channel(kind, target)
	if err != nil {
		return err
	}
	if b.viaHistory(kind, target) {
		if _, err := b.cfg.History.Publish(ctx, target, ch, msg); err != nil {
			b.stats.publishErrors.Add(1)
			b.publishFailed()
			return fmt.Errorf("pubsub: publish %s: %w", ch, err)
		}
		b.stats.published.Add(1)
		return nil
	}
	c, _ := b.publishCmd(ctx, ch, msg) // at most once: never re-sent after a lost reply
	if err := b.rdb.Process(ctx, c); err != nil {
		b.stats.publishErrors.Add(1)
		b.publishFailed()
		return fmt.Errorf("pubsub: publish %s: %w", ch, err)
	}
	b.stats.published.Add(1)
	return nil
}

// Ready reports whether the receive connection is up and the all and node channels are
// confirmed. It is false before the first confirmation, while reconnecting and after Close.
// In cluster mode it is true when the all and node channels' connections are up and no
// receive connection is in a loss window (lost, reconnecting or resubscribing); a connection
// opened for a new bucket does not make it false while its first SSUBSCRIBE is pending.
func (b *Broker) Ready() bool {
	if b.cl != nil {
		return b.clusterReady()
	}
	return b.single.ready.Load()
}

// publishFailed makes a ClusterClient reload its slot map after a failed publish: go-redis
// follows a MOVED by itself, but after a primary failed it would keep sending to the dead
// one until its periodic reload (10 s). The reload is lazy and coalesced; single mode does
// nothing.
func (b *Broker) publishFailed() {
	if b.cl != nil {
		b.reloadState()
	}
}

// publishCmd returns the at-most-once publish of msg on ch: PUBLISH, or SPUBLISH in
// cluster mode.
func (b *Broker) publishCmd(ctx context.Context, ch string, msg []byte) (redis.Cmder, *redis.IntCmd) {
	if b.cl != nil {
		return noretry.SPublish(ctx, ch, msg)
	}
	return noretry.Publish(ctx, ch, msg)
}

// Stats returns a snapshot of the counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Published:     b.stats.published.Load(),
		PublishErrors: b.stats.publishErrors.Load(),
		Received:      b.stats.received.Load(),
		DecodeErrors:  b.stats.decodeErrors.Load(),
		Reconnects:    b.stats.reconnects.Load(),
		Subscriptions: b.stats.subscriptions.Load(),
		Events:        b.stats.events.Load(),
		EventErrors:   b.stats.eventErrors.Load(),
	}
}
