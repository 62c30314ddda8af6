package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/pubsub"
)

// options are the command-line settings; every flag has an env twin named
// WS_ + the flag name in upper case with '-' as '_' (e.g. --redis-url is
// WS_REDIS_URL). A flag given on the command line wins over its env twin.
type options struct {
	addr, adminAddr, redisURL, nodeID, jwtSecret, jwtSecretPrev, adminKey  string
	allowedOrigins, trustedProxies, keyPrefix, logLevel, logFormat, guests string
	maxConnsPerUser                                                        int
	pprof                                                                  bool
	heartbeatTTL, shutdownTimeout, pubsubPing, pubsubPongWait              time.Duration
	node                                                                   node.Config
	history                                                                historyFlags
}

// historyFlags are the room history settings (package history).
type historyFlags struct {
	size  int
	ttl   time.Duration
	rooms string
}

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("wsnode", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", ":8080", "client listener address (GET /ws)")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9090", "admin API listener address")
	fs.StringVar(&o.redisURL, "redis-url", "", "Redis URL, e.g. redis://127.0.0.1:6379/0; empty = embedded in-process Redis (single node); pool_size defaults to max(32, 10×GOMAXPROCS)")
	fs.StringVar(&o.nodeID, "node-id", "", "node id (default: generated from the host name)")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "HS256 secret for client tokens (required with --redis-url)")
	fs.StringVar(&o.jwtSecretPrev, "jwt-secret-previous", "", "second accepted secret, for key rotation")
	fs.StringVar(&o.adminKey, "admin-key", "", "bearer key for the admin API (required when --admin-addr is not loopback)")
	fs.StringVar(&o.allowedOrigins, "allowed-origins", "", "comma-separated exact Origin allow-list; empty = same-origin only")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is trusted")
	fs.StringVar(&o.keyPrefix, "key-prefix", "ws", "prefix of every Redis key and channel")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&o.guests, "guests", "off", "guest policy for unauthenticated connections: off, read or write")
	fs.IntVar(&o.maxConnsPerUser, "max-conns-per-user", 16, "cluster-wide connections per user (0 = unlimited)")
	fs.DurationVar(&o.heartbeatTTL, "heartbeat-ttl", 6*time.Second, "how long a silent node counts as alive")
	fs.DurationVar(&o.pubsubPing, "pubsub-ping-interval", pubsub.DefaultPingInterval,
		"idle time after which the pub/sub receive connection is probed with a PING")
	fs.DurationVar(&o.pubsubPongWait, "pubsub-pong-wait", pubsub.DefaultPongWait,
		"how long that PING may go unanswered before the connection is replaced; a Redis stall shorter than this loses no messages, a dead connection is noticed after ping interval + this")
	fs.BoolVar(&o.pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin API")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "bound on draining at SIGTERM")
	fs.IntVar(&o.history.size, "history-size", 0, "messages kept per room in Redis for recovery and reads (0 = history off)")
	fs.DurationVar(&o.history.ttl, "history-ttl", 5*time.Minute, "the history of a room silent this long expires")
	fs.StringVar(&o.history.rooms, "history-rooms", "", "comma-separated glob patterns of rooms that keep history (empty = all rooms, when --history-size > 0)")
	n := &o.node
	fs.DurationVar(&n.AuthTimeout, "auth-timeout", 10*time.Second, "time a connection may stay unauthenticated")
	fs.DurationVar(&n.PingInterval, "ping-interval", 25*time.Second, "WebSocket and application ping period")
	fs.DurationVar(&n.PongTimeout, "pong-timeout", 10*time.Second, "extra silence allowed after a ping interval")
	fs.DurationVar(&n.WriteTimeout, "write-timeout", 10*time.Second, "longest a socket write may take before the socket is closed")
	fs.DurationVar(&n.InactiveTimeout, "inactive-timeout", 5*time.Minute, "close connections silent this long (0 or negative = never)")
	fs.DurationVar(&n.HeartbeatInterval, "heartbeat-interval", 2*time.Second, "heartbeat and re-assertion check period")
	fs.Int64Var(&n.MaxMessageSize, "max-message-size", 64<<10, "largest client frame in bytes (close 1009 above)")
	fs.IntVar(&n.SendQueueSize, "send-queue", 256, "frames queued per connection before it is closed as slow")
	fs.Int64Var(&n.MaxQueuedBytes, "max-queued-bytes", 4<<20, "bytes queued per connection before it is closed as slow")
	fs.Float64Var(&n.MessageRate, "msg-rate", 100, "frames per second per connection (0 or negative = unlimited)")
	fs.IntVar(&n.MessageBurst, "msg-burst", 0, "token bucket size of the rate limit (0 = 2 x --msg-rate)")
	fs.IntVar(&n.MaxStrikes, "max-strikes", 20, "rejected frames in a row before the connection is closed")
	fs.IntVar(&n.MaxRoomsPerConn, "max-rooms-per-conn", 128, "rooms one connection may join")
	fs.IntVar(&n.MaxConns, "max-conns", 15000, "sockets on this node, HTTP 503 above (0 or negative = unlimited)")
	fs.IntVar(&n.MaxConnsPerIP, "max-conns-per-ip", 1000, "sockets per client IP on this node, HTTP 429 above (0 or negative = unlimited)")
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

// finish turns the raw options into node settings and checks them.
func (o *options) finish() error {
	n := &o.node
	// On the command line 0 means "unlimited"; in node.Config 0 means default.
	for _, v := range []*int{&n.MaxConns, &n.MaxConnsPerIP} {
		if *v == 0 {
			*v = -1
		}
	}
	if n.MessageRate == 0 {
		n.MessageRate = -1
	}
	if n.InactiveTimeout == 0 {
		n.InactiveTimeout = -1
	}
	if o.pubsubPing < 0 || o.pubsubPongWait < 0 {
		return errors.New("--pubsub-ping-interval and --pubsub-pong-wait must not be negative (0 = default)")
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
	return nil
}

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
