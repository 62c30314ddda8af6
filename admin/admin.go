package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
)

// Cluster is what the admin API needs from a node.
type Cluster interface {
	Ready() error
	LocalStats() node.ConnectionStats
	LocalActivity() map[string]time.Time
	ClusterActivity(ctx context.Context) (map[string]time.Time, error)
	ClusterStats(ctx context.Context) (node.ConnectionStats, error)
	Rooms(ctx context.Context) ([]registry.RoomSummary, error)
	RoomStats(ctx context.Context, room string) (registry.Room, error)
	History(ctx context.Context, room string, limit int, since *node.Position) (node.HistoryPage, error)
	User(ctx context.Context, user string) (registry.User, error)
	ConnInfo(ctx context.Context, id string) (registry.Conn, error)
	Nodes(ctx context.Context) ([]registry.Node, error)
	SendToConn(ctx context.Context, connID string, data json.RawMessage) error
	SendToUser(ctx context.Context, user string, data json.RawMessage) error
	BroadcastRoom(ctx context.Context, room string, data json.RawMessage, exclude string) error
	BroadcastAll(ctx context.Context, data json.RawMessage, exclude string) error
	Disconnect(ctx context.Context, connID string, code int, reason string) error
}

// Defaults of the zero-valued Config fields.
const (
	// DefaultTimeout bounds each request's Redis work.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBodyBytes caps POST bodies.
	DefaultMaxBodyBytes = 1 << 20
)

// Config configures the admin handler.
type Config struct {
	// Key is the bearer key; empty means no authentication (loopback only,
	// enforced by cmd/wsnode).
	Key string
	// Gatherer serves /metrics. Default prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Timeout bounds each request's Redis work. Default DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes caps POST bodies. Default DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Pprof mounts net/http/pprof under /debug/pprof/ (behind the key). Default off.
	Pprof bool
}

type api struct {
	c   Cluster
	cfg Config
}

// Handler returns the admin API.
func Handler(c Cluster, cfg Config) http.Handler {
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &api{c: c, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	protected := http.NewServeMux()
	protected.HandleFunc("GET /stats", a.stats)
	protected.HandleFunc("GET /rooms", a.rooms)
	protected.HandleFunc("GET /rooms/{room}", a.room)
	protected.HandleFunc("GET /rooms/{room}/history", a.history)
	protected.HandleFunc("GET /users/{user}", a.user)
	protected.HandleFunc("GET /connections/{id}", a.conn)
	protected.HandleFunc("DELETE /connections/{id}", a.disconnect)
	protected.HandleFunc("GET /nodes", a.nodes)
	protected.HandleFunc("POST /publish", a.publish)
	protected.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		protected.HandleFunc("GET /debug/pprof/", pprof.Index)
		protected.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		protected.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		protected.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	protected.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if misroutedName(w, r) {
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	mux.Handle("/", a.requireKey(protected))
	return mux
}

func (a *api) requireKey(next http.Handler) http.Handler {
	if a.cfg.Key == "" {
		return next
	}
	want := sha256.Sum256([]byte(a.cfg.Key))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := auth.BearerToken(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wsnode-admin"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong admin key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// fail maps an error from the node to a status and an error body.
func fail(w http.ResponseWriter, err error) {
	var ne *registry.NameError
	switch {
	case errors.As(err, &ne):
		writeError(w, http.StatusBadRequest, "invalid_name", ne.Error())
	case errors.Is(err, node.ErrInvalidInput):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, node.ErrNotFound), errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "not found")
	default: // node.ErrUnavailable, a deadline, Redis errors
		writeError(w, http.StatusServiceUnavailable, "unavailable", "cluster state unavailable; retry")
	}
}
