package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/admin"
	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/joinhook"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/pubsub"
	"github.com/wsnode/wsnode/registry"
	"github.com/wsnode/wsnode/stats"
)

// Server is one node of a wsnode cluster, wired to Redis: the WebSocket
// endpoint (ClientHandler), the admin API (AdminHandler) and the
// cluster-wide Go API (SendToConn, PublishRoom, Stats, Rooms, ...). Its
// methods are safe for concurrent use.
type Server struct {
	node     *node.Node
	registry *registry.Registry
	broker   *pubsub.Broker
	stats    *stats.Stats
	history  *history.Store // nil when no room keeps history
	slots    slotMapReader  // the Redis Cluster client, followed in cluster mode; else nil
	metrics  *prometheus.Registry

	admin    http.Handler
	log      *slog.Logger
	runOnce  sync.Once
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// New builds a Server on rdb. Nothing runs until Run.
func New(rdb redis.UniversalClient, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Node.Logger == nil {
		cfg.Node.Logger = cfg.Logger
	}
	if err := cfg.CheckSettings(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	perUser := cfg.MaxConnsPerUser
	switch {
	case perUser == 0:
		perUser = DefaultMaxConnsPerUser
	case perUser < 0:
		perUser = 0 // registry: no cap
	}
	var events string // the client event stream, when the node appends events
	if len(cfg.Node.Events) > 0 {
		events = registry.NewKeys(cmp.Or(cfg.Prefix, registry.DefaultPrefix)).Events()
		if cfg.RedisCluster {
			events = keyspace.New(cmp.Or(cfg.Prefix, registry.DefaultPrefix)).Events()
		}
	}
	reg, err := registry.New(rdb, registry.Config{Prefix: cfg.Prefix, NodeID: cfg.Node.NodeID,
		HeartbeatTTL: cfg.HeartbeatTTL, ReapGrace: cfg.ReapGrace, MaxConnsPerUser: perUser, EventsStream: events, EventsMaxLen: cfg.EventsMaxLen,
		Cluster: cfg.RedisCluster})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	// The stats counters go to Redis at the node's flush interval.
	st, err := stats.New(rdb, stats.Config{Prefix: reg.Prefix(), FlushInterval: cfg.Node.WithDefaults().FlushInterval,
		Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{registry: reg, stats: st, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if sm, ok := rdb.(slotMapReader); ok && cfg.RedisCluster {
		s.slots = sm
	}
	pcfg := pubsub.Config{Prefix: reg.Prefix(), NodeID: cfg.Node.NodeID, Logger: cfg.Logger,
		PingInterval: cfg.PubSubPingInterval, PongWait: cfg.PubSubPongWait,
		SubscribeTimeout: cfg.PubSubSubscribeTimeout, PublishTimeout: cfg.PubSubPublishTimeout,
		EventsStream: events, EventsMaxLen: cfg.EventsMaxLen, Cluster: cfg.RedisCluster}
	deps := node.Deps{Registry: reg, Directory: reg, Stats: st}
	if cfg.History.Size > 0 {
		cfg.History.Prefix, cfg.History.Cluster = reg.Prefix(), cfg.RedisCluster
		if s.history, err = history.New(rdb, cfg.History); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		pcfg.History, deps.History = s.history, historyAdapter{s.history}
	}
	if s.broker, err = pubsub.New(rdb, pcfg); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	deps.Broker = s.broker
	var hook *joinhook.Hook
	if cfg.Node.RoomsPolicy == node.RoomsHook && cfg.Node.JoinAuthorizer == nil && cfg.JoinHook.URL != "" {
		cfg.JoinHook.NodeID = cfg.Node.NodeID
		if hook, err = joinhook.New(cfg.JoinHook); err != nil {
			_ = s.broker.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
		cfg.Node.JoinAuthorizer = hook
	}
	s.node, err = node.New(cfg.Node, deps)
	if err != nil {
		_ = s.broker.Close() // never ran: releases its pub/sub handle
		return nil, fmt.Errorf("server: %w", err)
	}
	s.metrics = prometheus.NewRegistry()
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		st.Collector("wsnode", s.gauges))
	if hook != nil {
		s.metrics.MustRegister(hook.Collector())
	}
	s.admin = withDashboard(admin.Handler(s.node, admin.Config{Key: cfg.AdminKey, Gatherer: s.metrics, Pprof: cfg.Pprof,
		Timeout: cfg.AdminTimeout, MaxBodyBytes: cfg.AdminMaxBodyBytes}))
	return s, nil
}

// gauges are the values read at scrape time. Pub/sub reconnects are not
// among them: stats' wsnode_pubsub_reconnects_total counter counts them.
func (s *Server) gauges() []stats.Gauge {
	l := s.node.LocalStats()
	b := s.broker.Stats()
	ready := 0.0
	if s.node.Ready() == nil {
		ready = 1
	}
	return []stats.Gauge{
		{Name: "connections", Help: "Open sockets on this node.", Value: float64(l.ActiveConnections)},
		{Name: "connections_peak", Help: "Peak of open sockets on this node.", Value: float64(l.PeakConnections)},
		{Name: "users", Help: "Distinct users on this node.", Value: float64(l.UniqueUsers)},
		{Name: "rooms", Help: "Rooms with a member on this node.", Value: float64(l.Rooms)},
		{Name: "ready", Help: "1 when the node is ready for traffic.", Value: ready},
		{Name: "pubsub_subscriptions", Help: "Redis channels this node is subscribed to.", Value: float64(b.Subscriptions)},
		{Name: "pubsub_published", Help: "PUBLISH commands that succeeded (counter).", Value: float64(b.Published)},
		{Name: "pubsub_received", Help: "Envelopes received from Redis (counter).", Value: float64(b.Received)},
		{Name: "pubsub_publish_errors", Help: "PUBLISH commands that failed: messages lost (counter).", Value: float64(b.PublishErrors)},
		{Name: "pubsub_decode_errors", Help: "Envelopes dropped as undecodable (counter).", Value: float64(b.DecodeErrors)},
		{Name: "events_appended", Help: "Client events appended to the event stream (counter).", Value: float64(b.Events)},
		{Name: "events_errors", Help: "Client events that could not be appended: lost (counter).", Value: float64(b.EventErrors)},
	}
}

// ClientHandler serves GET /ws (the WebSocket endpoint) and the demo chat
// on GET / (package web). To mount the endpoint in an application's own
// mux, under a path of its choosing, use SocketHandler.
func (s *Server) ClientHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.node)
	mountDemo(mux)
	return mux
}

// SocketHandler is the WebSocket endpoint alone: it upgrades every request
// it is given, on whatever path it is mounted. Wrap it in the application's
// authentication and attach the user with WithIdentity, or let clients send
// a token.
func (s *Server) SocketHandler() http.Handler { return s.node }

// AdminHandler serves the admin API and the operator dashboard on /ui.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// Run starts the broker, the stats flusher and the node loops and blocks
// until Shutdown completes or ctx is done. It waits up to readyWait for the
// broker's first subscriptions so the node is routable when it turns ready.
func (s *Server) Run(ctx context.Context) error {
	err := errors.New("server: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

const readyWait = 5 * time.Second

func (s *Server) run(ctx context.Context) error {
	defer close(s.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	// What the broker receives goes straight to the node (Receiver).
	go func() { defer wg.Done(); errs <- s.broker.Run(ctx, s.node.Receiver()) }()
	go func() { defer wg.Done(); errs <- s.stats.Run(ctx) }()
	s.waitBroker(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); errs <- s.node.Run(ctx) }()
	if s.slots != nil {
		w := &topologyWatcher{rdb: s.slots, reassert: s.node.Reassert, log: s.log}
		wg.Go(func() { w.run(ctx) })
	}
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	cancel()
	_ = s.broker.Close()
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

func (s *Server) waitBroker(ctx context.Context) {
	deadline := time.Now().Add(readyWait)
	for !s.broker.Ready() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutdown drains the node (1001 to every socket, entries removed from
// Redis) and then stops the background loops, bounded by ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.node.Shutdown(ctx)
	s.stopOnce.Do(func() { close(s.stop) })
	s.runOnce.Do(func() { close(s.done) }) // Run was never called
	select {
	case <-s.done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}
