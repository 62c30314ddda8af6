package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/internal/defaults"
	"github.com/wsnode/wsnode/internal/settings"
)

// GuestPolicy says what a connection that never authenticates may do.
type GuestPolicy string

// Guest policies.
const (
	// GuestsOff closes connections that do not authenticate within AuthTimeout.
	GuestsOff GuestPolicy = "off"
	// GuestsRead lets guests join and leave rooms and receive, but not send.
	GuestsRead GuestPolicy = "read"
	// GuestsWrite also lets guests send to rooms they are in and send direct messages.
	GuestsWrite GuestPolicy = "write"
)

// Unlimited, as the value of a limit that allows it (MessageRate,
// MaxConns, MaxConnsPerIP, InactiveTimeout, and server.Config's
// MaxConnsPerUser), disables that limit; any negative value does the same.
// Zero means the default, as for every other field. On wsnode's command line
// 0 means unlimited for these flags; it passes Unlimited.
const Unlimited = -1

// The defaults of Config, each the value a zero field takes. wsnode's flags
// take their defaults from here.
const (
	DefaultAuthTimeout        = 10 * time.Second
	DefaultPingInterval       = 25 * time.Second
	DefaultPongTimeout        = 10 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultMaxMessageSize     = 64 << 10
	DefaultSendQueueSize      = 256
	DefaultMaxQueuedBytes     = 64 * DefaultMaxMessageSize // 4 MiB
	DefaultMessageRate        = 100
	DefaultMaxStrikes         = 20
	DefaultMaxRoomsPerConn    = 128
	DefaultMaxConns           = 15000
	DefaultMaxConnsPerIP      = 1000
	DefaultMaxPendingConnects = 512
	DefaultSetupConcurrency   = 16
	DefaultInactiveTimeout    = 5 * time.Minute
	DefaultHeartbeatInterval  = 2 * time.Second
	DefaultReapInterval       = 2 * time.Second
	DefaultFlushInterval      = defaults.FlushInterval
	DefaultRedisTimeout       = 3 * time.Second
)

// MaxFlushInterval is the longest Config.FlushInterval (it is also the
// default). server runs the stats flush at the node's interval.
const MaxFlushInterval = defaults.FlushInterval

// Config configures a Node. The zero value of every field except NodeID
// means the documented default (the Default constants).
type Config struct {
	// NodeID identifies this node in the cluster. Required.
	NodeID string
	// Addr is the client address this node advertises in /nodes. Informational.
	Addr string
	// Version is reported in the heartbeat. Informational.
	Version string
	// Verifier checks client tokens. Nil refuses every token: clients are then
	// admitted only with an identity the embedding application attached to
	// the upgrade request (auth.NewContext, server.WithIdentity), or as guests.
	Verifier *auth.Verifier
	// AllowedOrigins is the exact-match Origin allow-list for browser
	// handshakes. Empty means same-origin only (Origin host == Host); a request
	// without Origin (a non-browser client) is always allowed.
	AllowedOrigins []string
	// TrustedProxies are the CIDRs whose X-Forwarded-For header is believed.
	// Default none: the client IP is the TCP peer.
	TrustedProxies []netip.Prefix
	// Guests is the guest policy. Default GuestsOff.
	Guests GuestPolicy
	// RoomsPolicy says who may join which room (joinauth.go). Default RoomsOpen.
	RoomsPolicy RoomsPolicy
	// JoinAuthorizer decides joins under RoomsHook; required then.
	JoinAuthorizer JoinAuthorizer
	// PresenceRooms are glob patterns (path.Match) of rooms whose members
	// receive a presence frame when a connection joins or leaves, on any
	// node (presence.go). Default none.
	PresenceRooms []string
	// Events are the client event types (cluster.EventConnect, ...) the node
	// appends to the event stream (events.go). Default none.
	Events []string

	// AuthTimeout is how long a new connection may stay unauthenticated.
	// Default DefaultAuthTimeout.
	AuthTimeout time.Duration
	// PingInterval is the period of WebSocket and application pings.
	// Default DefaultPingInterval.
	PingInterval time.Duration
	// PongTimeout is how long after a ping interval without any frame from
	// the client the connection is closed (read deadline = PingInterval +
	// PongTimeout). Pings go out up to one sweep late (a quarter of
	// PingInterval, at most 1s), so it must be longer than that.
	// Default DefaultPongTimeout.
	PongTimeout time.Duration
	// WriteTimeout bounds every write to a socket; a write that takes longer
	// fails and closes the connection. The node's sweep enforces it, to
	// within a quarter of it (at most 1s). Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxMessageSize is the largest frame accepted from a client, in bytes;
	// larger frames close the connection with 1009.
	// Default DefaultMaxMessageSize (64 KiB).
	MaxMessageSize int64
	// SendQueueSize is the number of frames queued per connection before it is
	// closed as a slow consumer. Default DefaultSendQueueSize.
	SendQueueSize int
	// MaxQueuedBytes caps the bytes queued per connection; at least
	// MaxMessageSize, or one message of that size would close every receiver.
	// Default DefaultMaxQueuedBytes (4 MiB), 64 times the default MaxMessageSize.
	MaxQueuedBytes int64
	// MessageRate is the sustained number of frames per second a client may
	// send; each frame over it gets a rate_limited error frame.
	// Default DefaultMessageRate; Unlimited disables the limit.
	MessageRate float64
	// MessageBurst is the token bucket size. Default 2 * MessageRate (min 1).
	MessageBurst int
	// MaxStrikes is how many rejected frames in a row (rate limited or
	// malformed) a client may send before it is closed. Default DefaultMaxStrikes.
	MaxStrikes int
	// MaxRoomsPerConn caps the rooms one connection may join.
	// Default DefaultMaxRoomsPerConn.
	MaxRoomsPerConn int
	// MaxConns caps the sockets of this node; the next upgrade gets HTTP 503.
	// Default DefaultMaxConns (the process may hold at most 20,000 files
	// here); Unlimited disables the limit.
	MaxConns int
	// MaxConnsPerIP caps sockets per client IP on this node; the next upgrade
	// gets HTTP 429. Default DefaultMaxConnsPerIP; Unlimited disables the limit.
	MaxConnsPerIP int
	// MaxPendingConnects bounds the connects in flight (upgrade to
	// registration, admission.go); the next upgrade gets HTTP 503 with
	// Retry-After. Default DefaultMaxPendingConnects; Unlimited disables it.
	MaxPendingConnects int
	// SetupConcurrency bounds the set-up work a node runs at once: upgrades
	// and the registry calls of registrations, auth frames and joins
	// (setupgate.go). Work beyond it waits, so that in a reconnect storm the
	// delivery path to the sockets already served is not queued behind
	// hundreds of connects. Default DefaultSetupConcurrency; Unlimited
	// disables the bound.
	SetupConcurrency int
	// InactiveTimeout closes connections that sent nothing for this long with
	// CloseInactive, after setting their state to INACTIVE.
	// Default DefaultInactiveTimeout; Unlimited disables the cleanup.
	InactiveTimeout time.Duration

	// HeartbeatInterval is how often the node refreshes its heartbeat and
	// checks that Redis still holds its state; server requires the heartbeat
	// TTL to exceed twice it. Default DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// ReapInterval is how often the node looks for dead nodes to reap.
	// Default DefaultReapInterval.
	ReapInterval time.Duration
	// FlushInterval is how often activity timestamps and per-connection
	// counters go to Redis (and, under server, the stats counters). A
	// connection that was only sent frames (its msgs_out changed, nothing
	// else) goes every 10th flush. Default DefaultFlushInterval; at most
	// MaxFlushInterval.
	FlushInterval time.Duration
	// RedisTimeout bounds each registry and broker call made for a client.
	// Calls that start within 100 ms share one deadline, so a call gets
	// between RedisTimeout and RedisTimeout+100ms (opctx.go).
	// Default DefaultRedisTimeout.
	RedisTimeout time.Duration

	// Logger is the base logger. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with every zero field set to its default, as New
// does before it validates c.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	num := func(n *int, d int) {
		if *n == 0 {
			*n = d
		}
	}
	if c.Guests == "" {
		c.Guests = GuestsOff
	}
	if c.RoomsPolicy == "" {
		c.RoomsPolicy = RoomsOpen
	}
	def(&c.AuthTimeout, DefaultAuthTimeout)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.PongTimeout, DefaultPongTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.InactiveTimeout, DefaultInactiveTimeout)
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.ReapInterval, DefaultReapInterval)
	def(&c.RedisTimeout, DefaultRedisTimeout)
	def(&c.FlushInterval, DefaultFlushInterval)
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MessageRate == 0 {
		c.MessageRate = DefaultMessageRate
	}
	num(&c.MessageBurst, max(1, int(2*c.MessageRate)))
	num(&c.SendQueueSize, DefaultSendQueueSize)
	num(&c.MaxStrikes, DefaultMaxStrikes)
	num(&c.MaxRoomsPerConn, DefaultMaxRoomsPerConn)
	num(&c.MaxConns, DefaultMaxConns)
	num(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	num(&c.MaxPendingConnects, DefaultMaxPendingConnects)
	num(&c.SetupConcurrency, DefaultSetupConcurrency)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// CheckSettings reports the first setting of c, with its defaults filled
// in, that is out of range or that does not fit with another, as a
// *settings.Error naming the fields (wsnode turns them into flag names).
// New checks the same, and also requires NodeID.
func (c Config) CheckSettings() error {
	c.setDefaults()
	if err := c.checkSettings(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// validate checks c after setDefaults.
func (c *Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("node: NodeID is required")
	}
	if err := c.checkSettings(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

const notNegative = "%[1]s (%[2]v) must not be negative (0 means the default)"

func (c *Config) checkSettings() *settings.Error {
	if c.Guests != GuestsOff && c.Guests != GuestsRead && c.Guests != GuestsWrite {
		return settings.Range("Guests", c.Guests, "%[1]s (%[2]q) must be off, read or write")
	}
	if err := c.checkRoomsPolicy(); err != nil {
		return err
	}
	if err := checkPatterns("PresenceRooms", c.PresenceRooms); err != nil {
		return err
	}
	if err := checkEventTypes(c.Events); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"AuthTimeout", c.AuthTimeout}, {"PingInterval", c.PingInterval}, {"PongTimeout", c.PongTimeout},
		{"WriteTimeout", c.WriteTimeout}, {"HeartbeatInterval", c.HeartbeatInterval},
		{"ReapInterval", c.ReapInterval}, {"FlushInterval", c.FlushInterval}, {"RedisTimeout", c.RedisTimeout},
	} {
		if d.v < 0 {
			return settings.Range(d.name, d.v, notNegative)
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"MaxMessageSize", c.MaxMessageSize}, {"SendQueueSize", int64(c.SendQueueSize)}, {"MaxQueuedBytes", c.MaxQueuedBytes},
		{"MessageBurst", int64(c.MessageBurst)}, {"MaxStrikes", int64(c.MaxStrikes)}, {"MaxRoomsPerConn", int64(c.MaxRoomsPerConn)},
	} {
		if n.v < 0 {
			return settings.Range(n.name, n.v, notNegative)
		}
	}
	if c.FlushInterval > MaxFlushInterval {
		return settings.Range("FlushInterval", c.FlushInterval, "%[1]s (%[2]v) must be at most %[3]v", MaxFlushInterval)
	}
	if c.MaxQueuedBytes < c.MaxMessageSize {
		return settings.Conflict("MaxQueuedBytes", c.MaxQueuedBytes, "MaxMessageSize", c.MaxMessageSize,
			"%[1]s (%[2]v) must be at least %[3]s (%[4]v): a message of that size would close every receiver as a slow consumer")
	}
	if late := pingLateness(c.PingInterval); c.PongTimeout <= late {
		return settings.Conflict("PongTimeout", c.PongTimeout, "PingInterval", c.PingInterval,
			"%[1]s (%[2]v) must be longer than %[5]v (a quarter of %[3]s %[4]v, at most 1s): pings go out up to that late", late)
	}
	return nil
}

// pingLateness is how late a ping may go out: the sweep that sends pings
// runs at most every quarter of the ping interval, and at least every second.
func pingLateness(interval time.Duration) time.Duration { return min(time.Second, interval/4) }
