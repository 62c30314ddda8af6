package server

// The bad-input table of issue 4: every row runs against its own in-process
// node (miniredis, real HTTP servers, real sockets) and asserts the response,
// that the node stays ready, that no Redis key or set member is left behind
// for the rejected connection, that no token reaches the logs and that no
// goroutine leaks.

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/internal/wstest"
	"github.com/wsnode/wsnode/node"
)

const (
	badSecret = "bad-input-secret"
	badPrefix = "bad"
	badWait   = 10 * time.Second
)

// ---- log capture ----------------------------------------------------------

// badLogRec is one captured log record with its attributes flattened.
type badLogRec struct {
	msg   string
	attrs map[string]string
}

type badLogSink struct {
	mu   sync.Mutex
	recs []badLogRec
}

type badLogHandler struct {
	sink  *badLogSink
	attrs []slog.Attr
}

func (h *badLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *badLogHandler) Handle(_ context.Context, r slog.Record) error {
	rec := badLogRec{msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.Resolve().String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.sink.mu.Lock()
	h.sink.recs = append(h.sink.recs, rec)
	h.sink.mu.Unlock()
	return nil
}

func (h *badLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &badLogHandler{sink: h.sink, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *badLogHandler) WithGroup(string) slog.Handler { return h }

// closeCode returns the close code the node logged for a connection, once it
// has cleaned the connection up.
func (s *badLogSink) closeCode(connID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if r.msg == "disconnected" && r.attrs["conn_id"] == connID {
			return r.attrs["code"], true
		}
	}
	return "", false
}

// contains reports whether any record (message or attribute) contains s.
func (s *badLogSink) contains(needle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if strings.Contains(r.msg, needle) {
			return true
		}
		for k, v := range r.attrs {
			if strings.Contains(k, needle) || strings.Contains(v, needle) {
				return true
			}
		}
	}
	return false
}

// ---- one node --------------------------------------------------------------

// badNode is one in-process node with its HTTP servers.
type badNode struct {
	srv    *Server
	client *httptest.Server
	admin  *httptest.Server
}

func (n *badNode) wsURL() string { return "ws" + strings.TrimPrefix(n.client.URL, "http") + "/ws" }

// badEnv is the world of one table row.
type badEnv struct {
	t        *testing.T
	mr       *miniredis.Miniredis
	nodes    []*badNode
	verifier *auth.Verifier
	logs     *badLogSink
	httpc    *http.Client
	tune     func(*Config)
	baseline map[string]string
	mu       sync.Mutex
	clients  []*badConn
	tokens   []string // every token used; none may appear in a log
}

func badConfig(id string, logs *badLogSink, v *auth.Verifier) Config {
	return Config{
		Node: node.Config{NodeID: id, Verifier: v,
			AuthTimeout: 3 * time.Second, PingInterval: 2 * time.Second, PongTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond, ReapInterval: 200 * time.Millisecond,
			FlushInterval: 100 * time.Millisecond},
		Prefix: badPrefix, MaxConnsPerUser: 16,
		Logger: slog.New(&badLogHandler{sink: logs}),
	}
}

// badStart starts a node for one row. The goroutine check is registered
// first so that it runs last, after every node and socket is gone.
func badStart(t *testing.T, tune func(*Config)) *badEnv {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	v, err := auth.NewVerifier(0, badSecret)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	e := &badEnv{t: t, mr: miniredis.RunT(t), verifier: v, logs: &badLogSink{},
		httpc: &http.Client{Transport: tr, Timeout: 5 * time.Second}, tune: tune}
	e.addNode("bad-1")
	e.baseline = e.snapshot()
	return e
}

// addNode starts one more node on the row's Redis.
func (e *badEnv) addNode(id string) *badNode {
	t := e.t
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: e.mr.Addr()})
	cfg := badConfig(id, e.logs, e.verifier)
	if e.tune != nil {
		e.tune(&cfg)
	}
	srv, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() }) // after the node's shutdown (cleanups run last first)
	n := &badNode{srv: srv}
	ready := func() bool { return e.readyz(n) == http.StatusOK }
	wn := wstest.Serve(t, id, srv, nil)
	n.client, n.admin = wn.Client, wn.Admin
	e.nodes = append(e.nodes, n)
	waitFor(t, 5*time.Second, "node "+id+" ready", ready)
	return n
}

func (e *badEnv) node() *badNode { return e.nodes[0] }

func (e *badEnv) readyz(n *badNode) int {
	resp, err := e.httpc.Get(n.admin.URL + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// finish runs the checks every row shares: the nodes are ready, and once
// the row's sockets are closed Redis holds exactly what it held before the
// row (no orphaned key or set member), and no token was logged.
func (e *badEnv) finish() {
	t := e.t
	t.Helper()
	for _, n := range e.nodes {
		if got := e.readyz(n); got != http.StatusOK {
			t.Errorf("/readyz of %s = %d after the row, want 200", n.srv.node.ID(), got)
		}
	}
	e.mu.Lock()
	clients := slices.Clone(e.clients)
	e.mu.Unlock()
	for _, c := range clients {
		_ = c.ws.Close()
	}
	e.expectBaseline()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range e.tokens {
		if tok != "" && e.logs.contains(tok) {
			t.Errorf("a token reached the logs")
		}
	}
}

// expectBaseline waits until Redis matches the state before the row.
func (e *badEnv) expectBaseline() {
	e.t.Helper()
	var got map[string]string
	deadline := time.Now().Add(badWait)
	for {
		got = e.snapshot()
		if maps.Equal(got, e.baseline) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for k, v := range got {
		if e.baseline[k] != v {
			e.t.Errorf("Redis key %q = %q, before the row %q", k, v, e.baseline[k])
		}
	}
	for k, v := range e.baseline {
		if _, ok := got[k]; !ok {
			e.t.Errorf("Redis key %q (%q) disappeared", k, v)
		}
	}
}

// snapshot describes every key under the prefix: its type and, for sets,
// its members. Counters (stats:*, peak) and heartbeat values change on their
// own and are compared by type only or skipped.
func (e *badEnv) snapshot() map[string]string {
	out := map[string]string{}
	for _, k := range e.mr.Keys() {
		rest, ok := strings.CutPrefix(k, badPrefix+":")
		if !ok {
			out[k] = "foreign"
			continue
		}
		if strings.HasPrefix(rest, "stats:") || rest == "peak" {
			continue
		}
		typ := e.mr.Type(k)
		if typ == "set" {
			m, _ := e.mr.Members(k)
			slices.Sort(m)
			out[k] = "set{" + strings.Join(m, ",") + "}"
			continue
		}
		out[k] = typ
	}
	return out
}

// traces lists the keys and set members that mention a connection id.
func (e *badEnv) traces(connID string) []string {
	var out []string
	for _, k := range e.mr.Keys() {
		if strings.Contains(k, connID) {
			out = append(out, k)
			continue
		}
		if e.mr.Type(k) == "set" {
			m, _ := e.mr.Members(k)
			if slices.Contains(m, connID) {
				out = append(out, k+" member")
			}
		}
	}
	return out
}

// noTraces waits until Redis holds nothing about connID.
func (e *badEnv) noTraces(connID string) {
	e.t.Helper()
	if connID == "" {
		e.t.Fatal("noTraces: empty connection id")
	}
	var left []string
	deadline := time.Now().Add(badWait)
	for {
		if left = e.traces(connID); len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Errorf("Redis still mentions rejected connection %s: %v", connID, left)
}

// unchanged asserts that Redis holds exactly the baseline now, with no peak
// recorded: nothing was ever registered.
func (e *badEnv) unchanged() {
	e.t.Helper()
	if got := e.snapshot(); !maps.Equal(got, e.baseline) {
		e.t.Errorf("Redis changed by a refused handshake:\n got %v\nwant %v", got, e.baseline)
	}
	if e.mr.Exists(badPrefix + ":peak") {
		e.t.Errorf("a refused handshake registered a connection (peak key exists)")
	}
}

// closeCode waits for the node to log the cleanup of connID and returns the
// close code it used.
func (e *badEnv) closeCode(connID string) string {
	e.t.Helper()
	var code string
	waitFor(e.t, badWait, "cleanup of "+connID, func() bool {
		c, ok := e.logs.closeCode(connID)
		code = c
		return ok
	})
	return code
}

// ---- tokens -----------------------------------------------------------------

func (e *badEnv) token(user, typ string, ttl time.Duration) string {
	e.t.Helper()
	tok, err := e.verifier.Mint(user, typ, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	e.addToken(tok)
	return tok
}

func (e *badEnv) addToken(tok string) {
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
}

func (e *badEnv) sign(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	e.t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	e.addToken(tok)
	return tok
}

// ---- a client ------------------------------------------------------------------
