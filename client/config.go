package client

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures a Client. The zero value is a guest client with the
// defaults listed on each field.
type Config struct {
	// Token is a static JWT sent in the auth frame of every connection.
	// TokenProvider, when set, is used instead: it is called before every
	// connect and reconnect (so after a 4005 "token expired" close the
	// next connection gets a fresh token). With neither, the client stays
	// a guest (no auth frame).
	Token         string
	TokenProvider func(ctx context.Context) (string, error)

	// Backoff is the reconnect delay policy (defaults: 250ms, 10s, 2).
	Backoff Backoff
	// StableAfter: a connection that stayed up this long resets the
	// backoff attempt counter when it ends (default 1s).
	StableAfter time.Duration
	// RequestTimeout bounds every request whose context has no deadline,
	// and the wait for welcome and authenticated (default 10s).
	RequestTimeout time.Duration
	// PingMargin: a socket on which nothing arrived for the node's
	// ping_interval_ms plus PingMargin is taken for dead and replaced
	// (default 5s).
	PingMargin time.Duration
	// WriteTimeout bounds every write to the socket (default 10s).
	WriteTimeout time.Duration

	// Dialer opens the socket (default: a websocket.Dialer with a 10s
	// handshake timeout). Header is sent with the upgrade request.
	Dialer *websocket.Dialer
	Header http.Header

	// Callbacks, all optional. They run one at a time, in the order of the
	// events, on one goroutine of the client (never the reader), so they
	// may call any method of the client, including blocking ones.
	OnState     func(StateEvent)
	OnDirect    func(Frame)
	OnBroadcast func(Frame)
	// OnError gets error frames that answer no pending request (for
	// example a rejected frame sent with Send, or the token_expired frame
	// before a 4005 close).
	OnError func(Frame)
	// OnFrame gets every other frame type the client does not handle
	// itself (forward compatibility).
	OnFrame func(Frame)

	// Rand and Clock replace the jitter source (values in [0, 1)) and the
	// clock of the reconnect loop, for tests.
	Rand  func() float64
	Clock Clock
}

const (
	defaultStableAfter    = time.Second
	defaultRequestTimeout = 10 * time.Second
	defaultPingMargin     = 5 * time.Second
	defaultWriteTimeout   = 10 * time.Second
	defaultHandshake      = 10 * time.Second
)

func (c Config) withDefaults() Config {
	c.Backoff = c.Backoff.withDefaults()
	if c.StableAfter <= 0 {
		c.StableAfter = defaultStableAfter
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = defaultRequestTimeout
	}
	if c.PingMargin <= 0 {
		c.PingMargin = defaultPingMargin
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.Dialer == nil {
		c.Dialer = &websocket.Dialer{HandshakeTimeout: defaultHandshake, Proxy: http.ProxyFromEnvironment}
	}
	if c.Rand == nil {
		c.Rand = defaultRand
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.TokenProvider == nil && c.Token != "" {
		tok := c.Token
		c.TokenProvider = func(context.Context) (string, error) { return tok, nil }
	}
	return c
}
