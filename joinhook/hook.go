package joinhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultTimeout       = 2 * time.Second
	DefaultCacheTTL      = 10 * time.Second
	DefaultMaxConcurrent = 64
	// MaxCacheEntries bounds the cache of allowed decisions.
	MaxCacheEntries = 100_000
	// MaxResponseBytes is the most of an answer's body the hook reads; a
	// longer body is no decision.
	MaxResponseBytes = 64 << 10
)

// Errors wrapped by AuthorizeJoin when the backend gave no decision.
var (
	ErrBusy   = errors.New("joinhook: too many requests in flight")
	ErrAnswer = errors.New("joinhook: no decision in the answer")
)

// Config configures a Hook. Zero values mean the documented defaults.
type Config struct {
	// URL is the backend's endpoint, http or https. Required.
	URL string
	// NodeID is sent as "node_id".
	NodeID string
	// Timeout bounds one decision: waiting for a slot and the request.
	// Default DefaultTimeout.
	Timeout time.Duration
	// CacheTTL is how long an allowed (user, room) is remembered. Default
	// DefaultCacheTTL; negative disables the cache.
	CacheTTL time.Duration
	// MaxConcurrent bounds the requests in flight. Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Client sends the requests. Default: a client of its own whose
	// transport keeps MaxConcurrent idle connections to the backend.
	Client *http.Client
}

// Hook asks the backend about joins; see the package doc.
type Hook struct {
	cfg     Config
	slots   chan struct{}
	cache   *cache
	metrics metrics
}

// New checks cfg and returns a Hook.
func New(cfg Config) (*Hook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("joinhook: URL %q must be an absolute http or https URL", cfg.URL)
	}
	if cfg.Timeout < 0 || cfg.MaxConcurrent < 0 {
		return nil, errors.New("joinhook: Timeout and MaxConcurrent must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.MaxConcurrent
		cfg.Client = &http.Client{Transport: tr}
	}
	return &Hook{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent),
		cache: newCache(cfg.CacheTTL, MaxCacheEntries), metrics: newMetrics()}, nil
}

// request is the body the backend receives.
type request struct {
	User     string `json:"user"`
	ConnType string `json:"conn_type"`
	ConnID   string `json:"conn_id"`
	Room     string `json:"room"`
	NodeID   string `json:"node_id"`
}

// AuthorizeJoin reports whether the connection may join room: true on a
// 2xx answer (or a cached one), false on a 4xx, an error otherwise.
func (h *Hook) AuthorizeJoin(ctx context.Context, user, connType, connID, room string) (bool, error) {
	if user != "" && h.cache.allowed(user, room) {
		h.metrics.cacheHits.Inc()
		return true, nil
	}
	start := time.Now()
	ok, err := h.ask(ctx, request{User: user, ConnType: connType, ConnID: connID, Room: room, NodeID: h.cfg.NodeID})
	h.metrics.observe(ok, err, time.Since(start))
	if ok && user != "" {
		h.cache.allow(user, room)
	}
	return ok, err
}

func (h *Hook) ask(ctx context.Context, req request) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return false, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
	body, _ := json.Marshal(req) // strings only: always marshals
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("joinhook: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := h.cfg.Client.Do(hr)
	if err != nil {
		return false, fmt.Errorf("joinhook: %w", err)
	}
	defer resp.Body.Close()
	// The body carries no decision, but it is read (bounded) so that the
	// connection can be reused, and an endless one is refused.
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes+1))
	switch {
	case err != nil:
		return false, fmt.Errorf("%w: reading the body: %w", ErrAnswer, err)
	case n > MaxResponseBytes:
		return false, fmt.Errorf("%w: body longer than %d bytes", ErrAnswer, MaxResponseBytes)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return false, nil
	default:
		return false, fmt.Errorf("%w: status %d", ErrAnswer, resp.StatusCode)
	}
}

// Collector exports the hook's latency (wsnode_join_hook_duration_seconds,
// by outcome: allow, deny, error) and cache hits.
func (h *Hook) Collector() prometheus.Collector { return h.metrics }
