package node

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wsnode/wsnode/auth"
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

// Config configures a Node. The zero value of every field except NodeID and
// Verifier means the documented default.
type Config struct {
	// NodeID identifies this node in the cluster. Required.
	NodeID string
	// Addr is the client address this node advertises in /nodes. Informational.
	Addr string
	// Version is reported in the heartbeat. Informational.
	Version string
	// Verifier checks client tokens. Required.
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

	// AuthTimeout is how long a new connection may stay unauthenticated. Default 10s.
	AuthTimeout time.Duration
	// PingInterval is the period of WebSocket and application pings. Default 25s.
	PingInterval time.Duration
	// PongTimeout is how long after a ping interval without any frame from
	// the client the connection is closed. Default 10s (read deadline =
	// PingInterval + PongTimeout).
	PongTimeout time.Duration
	// WriteTimeout bounds every write to a socket; a write that takes longer
	// fails and closes the connection. The node's sweep enforces it, to
	// within a quarter of it (at most 1s). Default 10s.
	WriteTimeout time.Duration
	// MaxMessageSize is the largest frame accepted from a client, in bytes;
	// larger frames close the connection with 1009. Default 64 KiB.
	MaxMessageSize int64
	// SendQueueSize is the number of frames queued per connection before it is
	// closed as a slow consumer. Default 256.
	SendQueueSize int
	// MaxQueuedBytes caps the bytes queued per connection. Default 4 MiB,
	// 64 times the default MaxMessageSize.
	MaxQueuedBytes int64
	// MessageRate is the sustained number of frames per second a client may
	// send; each frame over it gets a rate_limited error frame. Default 100;
	// negative disables the limit.
	MessageRate float64
	// MessageBurst is the token bucket size. Default 2 * MessageRate (min 1).
	MessageBurst int
	// MaxStrikes is how many rejected frames in a row (rate limited or
	// malformed) a client may send before it is closed. Default 20.
	MaxStrikes int
	// MaxRoomsPerConn caps the rooms one connection may join. Default 128.
	MaxRoomsPerConn int
	// MaxConns caps the sockets of this node; the next upgrade gets HTTP 503.
	// Default 15000 (the process may hold at most 20,000 files here); negative
	// disables the limit.
	MaxConns int
	// MaxConnsPerIP caps sockets per client IP on this node; the next upgrade
	// gets HTTP 429. Default 1000; negative disables the limit.
	MaxConnsPerIP int
	// InactiveTimeout closes connections that sent nothing for this long with
	// CloseInactive, after setting their state to INACTIVE. Default 5m;
	// negative disables the cleanup.
	InactiveTimeout time.Duration

	// HeartbeatInterval is how often the node refreshes its heartbeat and
	// checks that Redis still holds its state. Default 2s.
	HeartbeatInterval time.Duration
	// ReapInterval is how often the node looks for dead nodes to reap. Default 2s.
	ReapInterval time.Duration
	// FlushInterval is how often activity timestamps and per-connection
	// counters go to Redis. A connection that was only sent frames (its
	// msgs_out changed, nothing else) goes every 10th flush. Default and
	// maximum 1s.
	FlushInterval time.Duration
	// RedisTimeout bounds each registry and broker call made for a client.
	// Calls that start within 100 ms share one deadline, so a call gets
	// between RedisTimeout and RedisTimeout+100ms (opctx.go). Default 3s.
	RedisTimeout time.Duration

	// Logger is the base logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	dur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	num := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	if c.Guests == "" {
		c.Guests = GuestsOff
	}
	dur(&c.AuthTimeout, 10*time.Second)
	dur(&c.PingInterval, 25*time.Second)
	dur(&c.PongTimeout, 10*time.Second)
	dur(&c.WriteTimeout, 10*time.Second)
	dur(&c.InactiveTimeout, 5*time.Minute)
	dur(&c.HeartbeatInterval, 2*time.Second)
	dur(&c.ReapInterval, 2*time.Second)
	dur(&c.RedisTimeout, 3*time.Second)
	if c.FlushInterval <= 0 || c.FlushInterval > time.Second {
		c.FlushInterval = time.Second
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 64 << 10
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = 4 << 20
	}
	if c.MessageRate == 0 {
		c.MessageRate = 100
	}
	num(&c.MessageBurst, max(1, int(2*c.MessageRate)))
	num(&c.SendQueueSize, 256)
	num(&c.MaxStrikes, 20)
	num(&c.MaxRoomsPerConn, 128)
	num(&c.MaxConns, 15000)
	num(&c.MaxConnsPerIP, 1000)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("node: NodeID is required")
	case c.Verifier == nil:
		return errors.New("node: Verifier is required")
	case c.Guests != GuestsOff && c.Guests != GuestsRead && c.Guests != GuestsWrite:
		return errors.New("node: Guests must be off, read or write")
	case c.MaxMessageSize < 0 || c.SendQueueSize < 0 || c.MaxQueuedBytes < 0:
		return errors.New("node: sizes must not be negative")
	}
	return nil
}
