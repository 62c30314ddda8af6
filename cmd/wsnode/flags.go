package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/wsnode/wsnode/admin"
	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/internal/settings"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/pubsub"
	"github.com/wsnode/wsnode/registry"
	"github.com/wsnode/wsnode/server"
)

// options are the command-line settings; every flag has an env twin named
// WS_ + the flag name in upper case with '-' as '_' (e.g. --redis-url is
// WS_REDIS_URL). A flag given on the command line wins over its env twin.
//
// The flags that configure the server set the fields of cfg directly, and
// take their defaults from the packages that define them (node.Default...,
// registry, pubsub, admin, history, auth): no default is restated here.
type options struct {
	addr, adminAddr, redisURL, redisMode, nodeID, jwtSecret     string
	jwtSecretPrev                                               string
	allowedOrigins, trustedProxies, logLevel, logFormat, guests string
	jwtLeeway, shutdownTimeout                                  time.Duration
	sysmonAwake                                                 bool
	cfg                                                         server.Config
	history                                                     historyFlags
	app                                                         appFlags
	// flagOf is the flag of each Config field (node's by node.Config's
	// name), so that a settings error names flags (flagError).
	flagOf map[string]string
}

// historyFlags are the room history settings (package history).
type historyFlags struct {
	size  int
	ttl   time.Duration
	rooms string
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("wsnode", flag.ContinueOnError)
	o.flagOf = map[string]string{}
	// setting records that flag name sets the Config field of that name
	// (every flag that sets a field of cfg, directly or through finish,
	// goes through it).
	setting := func(field, name string) string { o.flagOf[field] = name; return name }
	c, n := &o.cfg, &o.cfg.Node
	fs.StringVar(&o.addr, setting("Addr", "addr"), ":8080", "client listener address (GET /ws)")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9090", "admin API listener address")
	fs.StringVar(&o.redisURL, "redis-url", "", "Redis URL, e.g. redis://127.0.0.1:6379/0; empty = embedded in-process Redis (single node); pool_size defaults to max(32, 10×GOMAXPROCS)")
	fs.StringVar(&o.redisMode, setting("RedisCluster", "redis-mode"), modeSingle, "how --redis-url is read: single (one primary), sentinel (the sentinels of a primary: "+
		sentinelURLForm+") or cluster (seed nodes of a Redis Cluster ≥ 7.0: "+clusterURLForm+")")
	fs.StringVar(&o.nodeID, setting("NodeID", "node-id"), "", "node id (default: generated from the host name)")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret for client tokens (required with --redis-url)")
	fs.StringVar(&o.jwtSecretPrev, "jwt-secret-previous", "", "second accepted secret, for key rotation")
	fs.DurationVar(&o.jwtLeeway, "jwt-leeway", auth.DefaultLeeway, "clock skew tolerated on a token's exp, nbf and iat")
	fs.StringVar(&c.AdminKey, setting("AdminKey", "admin-key"), "", "bearer key for the admin API (required when --admin-addr is not loopback)")
	fs.DurationVar(&c.AdminTimeout, setting("AdminTimeout", "admin-timeout"), admin.DefaultTimeout, "bound on the Redis work of one admin API request")
	fs.Int64Var(&c.AdminMaxBodyBytes, setting("AdminMaxBodyBytes", "admin-max-body-bytes"), admin.DefaultMaxBodyBytes, "largest admin API request body in bytes (POST /publish)")
	fs.StringVar(&o.allowedOrigins, setting("AllowedOrigins", "allowed-origins"), "", "comma-separated exact Origin allow-list; empty = same-origin only")
	fs.StringVar(&o.trustedProxies, setting("TrustedProxies", "trusted-proxies"), "", "comma-separated CIDRs whose X-Forwarded-For is trusted")
	fs.StringVar(&c.Prefix, setting("Prefix", "key-prefix"), registry.DefaultPrefix, "prefix of every Redis key and channel")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&o.guests, setting("Guests", "guests"), string(node.GuestsOff), "guest policy for unauthenticated connections: off, read or write")
	fs.IntVar(&c.MaxConnsPerUser, setting("MaxConnsPerUser", "max-conns-per-user"), server.DefaultMaxConnsPerUser, "cluster-wide connections per user (0 = unlimited)")
	fs.DurationVar(&c.HeartbeatTTL, setting("HeartbeatTTL", "heartbeat-ttl"), registry.DefaultHeartbeatTTL,
		"how long a silent node counts as alive; more than twice --heartbeat-interval")
	fs.DurationVar(&c.ReapGrace, setting("ReapGrace", "reap-grace"), 0,
		"how long another node's heartbeat must be seen missing before it is reaped (0 = the mode's default: --heartbeat-ttl with sentinel or cluster, none with single; negative = none)")
	fs.DurationVar(&c.PubSubPingInterval, setting("PubSubPingInterval", "pubsub-ping-interval"), pubsub.DefaultPingInterval,
		"idle time after which the pub/sub receive connection is probed with a PING")
	fs.DurationVar(&c.PubSubPongWait, setting("PubSubPongWait", "pubsub-pong-wait"), pubsub.DefaultPongWait,
		"how long that PING may go unanswered before the connection is replaced; a Redis stall shorter than this loses no messages, a dead connection is noticed after ping interval + this")
	fs.DurationVar(&c.PubSubSubscribeTimeout, setting("PubSubSubscribeTimeout", "pubsub-subscribe-timeout"), pubsub.DefaultSubscribeTimeout,
		"how long a join (or an authentication) waits for Redis to confirm the SUBSCRIBE of the room's (or user's) channel")
	fs.DurationVar(&c.PubSubPublishTimeout, setting("PubSubPublishTimeout", "pubsub-publish-timeout"), pubsub.DefaultPublishTimeout,
		"bound on one pipelined round trip of client messages to Redis")
	fs.BoolVar(&c.Pprof, setting("Pprof", "pprof"), false, "serve net/http/pprof under /debug/pprof/ on the admin API")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "bound on draining at SIGTERM")
	fs.BoolVar(&o.sysmonAwake, "sysmon-awake", true, "re-execute once at start with GODEBUG="+sysmonGODEBUG+
		" (unless GODEBUG sets schedtrace), which keeps the Go runtime's monitor thread from parking and being woken at almost every message (44 % of node CPU per message in the small-rooms benchmark)")
	fs.IntVar(&o.history.size, "history-size", 0, "messages kept per room in Redis for recovery and reads (0 = history off)")
	fs.DurationVar(&o.history.ttl, "history-ttl", history.DefaultTTL, "the history of a room silent this long expires")
	fs.StringVar(&o.history.rooms, "history-rooms", "", "comma-separated glob patterns of rooms that keep history (empty = all rooms, when --history-size > 0)")
	fs.DurationVar(&n.AuthTimeout, setting("AuthTimeout", "auth-timeout"), node.DefaultAuthTimeout, "time a connection may stay unauthenticated")
	fs.DurationVar(&n.PingInterval, setting("PingInterval", "ping-interval"), node.DefaultPingInterval, "WebSocket and application ping period")
	fs.DurationVar(&n.PongTimeout, setting("PongTimeout", "pong-timeout"), node.DefaultPongTimeout,
		"extra silence allowed after a ping interval; longer than a quarter of --ping-interval or 1s, whichever is less")
	fs.DurationVar(&n.WriteTimeout, setting("WriteTimeout", "write-timeout"), node.DefaultWriteTimeout, "longest a socket write may take before the socket is closed")
	fs.DurationVar(&n.InactiveTimeout, setting("InactiveTimeout", "inactive-timeout"), node.DefaultInactiveTimeout, "close connections silent this long (0 or negative = never)")
	fs.DurationVar(&n.HeartbeatInterval, setting("HeartbeatInterval", "heartbeat-interval"), node.DefaultHeartbeatInterval, "heartbeat and re-assertion check period")
	fs.DurationVar(&n.ReapInterval, setting("ReapInterval", "reap-interval"), node.DefaultReapInterval, "how often the node looks for dead nodes to reap")
	fs.DurationVar(&n.FlushInterval, setting("FlushInterval", "flush-interval"), node.DefaultFlushInterval,
		"how often connection activity and stats counters go to Redis; at most "+node.MaxFlushInterval.String())
	fs.DurationVar(&n.RedisTimeout, setting("RedisTimeout", "redis-timeout"), node.DefaultRedisTimeout, "bound on each Redis call made for a client and on each heartbeat")
	fs.Int64Var(&n.MaxMessageSize, setting("MaxMessageSize", "max-message-size"), node.DefaultMaxMessageSize, "largest client frame in bytes (close 1009 above)")
	fs.IntVar(&n.SendQueueSize, setting("SendQueueSize", "send-queue"), node.DefaultSendQueueSize, "frames queued per connection before it is closed as slow")
	fs.Int64Var(&n.MaxQueuedBytes, setting("MaxQueuedBytes", "max-queued-bytes"), node.DefaultMaxQueuedBytes,
		"bytes queued per connection before it is closed as slow; at least --max-message-size")
	fs.Float64Var(&n.MessageRate, setting("MessageRate", "msg-rate"), node.DefaultMessageRate, "frames per second per connection (0 or negative = unlimited)")
	fs.IntVar(&n.MessageBurst, setting("MessageBurst", "msg-burst"), 0, "token bucket size of the rate limit (0 = 2 x --msg-rate)")
	fs.IntVar(&n.MaxStrikes, setting("MaxStrikes", "max-strikes"), node.DefaultMaxStrikes, "rejected frames in a row before the connection is closed")
	fs.IntVar(&n.MaxRoomsPerConn, setting("MaxRoomsPerConn", "max-rooms-per-conn"), node.DefaultMaxRoomsPerConn, "rooms one connection may join")
	fs.IntVar(&n.MaxConns, setting("MaxConns", "max-conns"), node.DefaultMaxConns, "sockets on this node, HTTP 503 above (0 or negative = unlimited)")
	fs.IntVar(&n.MaxConnsPerIP, setting("MaxConnsPerIP", "max-conns-per-ip"), node.DefaultMaxConnsPerIP, "sockets per client IP on this node, HTTP 429 above (0 or negative = unlimited)")
	fs.IntVar(&n.MaxPendingConnects, setting("MaxPendingConnects", "max-pending-connects"), node.DefaultMaxPendingConnects,
		"connects in flight (upgrade to registration) per node, HTTP 503 with Retry-After above (0 or negative = unlimited)")
	fs.IntVar(&n.SetupConcurrency, setting("SetupConcurrency", "setup-concurrency"), node.DefaultSetupConcurrency,
		"upgrades and registry calls of connects, auths and joins run at once per node; more wait (0 or negative = unlimited)")
	addAppFlags(fs, o, setting)
	return fs
}

// envName is the env twin of a flag.
func envName(flagName string) string {
	return "WS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its env twin.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := getenv(envName(f.Name)); ok && !given[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// finish turns the raw options into the server's settings and checks them
// as server.New will (but for the token verifier, made later), so that a
// bad value or combination stops the program before it starts anything.
func (o *options) finish() error {
	c, n := &o.cfg, &o.cfg.Node
	// On the command line 0 means unlimited for these limits; in the Config
	// 0 means the default and node.Unlimited means unlimited.
	for _, v := range []*int{&n.MaxConns, &n.MaxConnsPerIP, &n.MaxPendingConnects, &n.SetupConcurrency, &c.MaxConnsPerUser} {
		if *v == 0 {
			*v = node.Unlimited
		}
	}
	if n.MessageRate == 0 {
		n.MessageRate = node.Unlimited
	}
	if n.InactiveTimeout == 0 {
		n.InactiveTimeout = node.Unlimited
	}
	for name, d := range map[string]time.Duration{"shutdown-timeout": o.shutdownTimeout, "jwt-leeway": o.jwtLeeway} {
		if d < 0 {
			return fmt.Errorf("--%s (%v) must not be negative", name, d)
		}
	}
	if err := checkRedisMode(o.redisMode, o.redisURL); err != nil {
		return err
	}
	c.RedisCluster = o.redisMode == modeCluster
	if o.redisMode == modeSentinel && c.ReapGrace == 0 {
		// A failover that outlasts the heartbeat TTL must not reap live
		// nodes (cluster mode gets this default from the registry).
		c.ReapGrace = registry.Config{HeartbeatTTL: c.HeartbeatTTL}.WithDefaults().HeartbeatTTL
	}
	n.Guests = node.GuestPolicy(o.guests)
	n.AllowedOrigins = splitList(o.allowedOrigins)
	for _, s := range splitList(o.trustedProxies) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("--trusted-proxies: %w", err)
		}
		n.TrustedProxies = append(n.TrustedProxies, p)
	}
	if o.nodeID == "" {
		o.nodeID = defaultNodeID()
	}
	n.NodeID, n.Addr = o.nodeID, o.addr
	c.History = o.history.config()
	if err := o.app.finish(o); err != nil {
		return err
	}
	return o.flagError(c.CheckSettings())
}

// flagError rewrites a settings error (a value out of range, or two that do
// not fit together) with the names of the flags that set them.
func (o *options) flagError(err error) error {
	var se *settings.Error
	if !errors.As(err, &se) {
		return err
	}
	return flagSettingError{se.Describe(func(field string) string {
		if name, ok := o.flagOf[strings.TrimPrefix(field, "Node.")]; ok {
			return "--" + name
		}
		return ""
	}), err}
}

// flagSettingError is a settings error described with flag names.
type flagSettingError struct {
	msg string
	err error
}

func (e flagSettingError) Error() string { return e.msg }
func (e flagSettingError) Unwrap() error { return e.err }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '-'
	}, host)
	if len(clean) > 100 {
		clean = clean[:100]
	}
	return fmt.Sprintf("%s-%d-%04x", clean, os.Getpid(), time.Now().UnixNano()&0xffff)
}

// config turns the history flags into the history package's settings.
func (h historyFlags) config() history.Config {
	var rooms []string
	for _, p := range strings.Split(h.rooms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			rooms = append(rooms, p)
		}
	}
	return history.Config{Size: h.size, TTL: h.ttl, Rooms: rooms}
}
