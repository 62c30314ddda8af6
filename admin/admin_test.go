package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
	"github.com/wsnode/wsnode/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call is one recorded Cluster method call.
type call struct {
	Method string
	Args   []any
}

// fakeCluster implements Cluster with canned answers and records its calls.
type fakeCluster struct {
	mu    sync.Mutex
	calls []call
	// deadlines records, per context-taking call, how far away its deadline was.
	deadlines []time.Duration
	noDL      int // context-taking calls without a deadline

	readyErr    error
	err         error // returned by every context-taking method
	activityErr error // returned by ClusterActivity only

	local      node.ConnectionStats
	cluster    node.ConnectionStats
	localAct   map[string]time.Time
	clusterAct map[string]time.Time
	rooms      []registry.RoomSummary
	room       registry.Room
	user       registry.User
	conn       registry.Conn
	nodes      []registry.Node
}

func (f *fakeCluster) record(ctx context.Context, method string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Method: method, Args: args})
	if ctx == nil {
		return
	}
	if dl, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(dl))
	} else {
		f.noDL++
	}
}

func (f *fakeCluster) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeCluster) Ready() error {
	f.record(nil, "Ready")
	return f.readyErr
}

func (f *fakeCluster) LocalStats() node.ConnectionStats {
	f.record(nil, "LocalStats")
	return f.local
}

func (f *fakeCluster) LocalActivity() map[string]time.Time {
	f.record(nil, "LocalActivity")
	return f.localAct
}

func (f *fakeCluster) ClusterActivity(ctx context.Context) (map[string]time.Time, error) {
	f.record(ctx, "ClusterActivity")
	if f.activityErr != nil {
		return nil, f.activityErr
	}
	return f.clusterAct, f.err
}

func (f *fakeCluster) ClusterStats(ctx context.Context) (node.ConnectionStats, error) {
	f.record(ctx, "ClusterStats")
	return f.cluster, f.err
}

func (f *fakeCluster) Rooms(ctx context.Context) ([]registry.RoomSummary, error) {
	f.record(ctx, "Rooms")
	return f.rooms, f.err
}

func (f *fakeCluster) RoomStats(ctx context.Context, room string) (registry.Room, error) {
	f.record(ctx, "RoomStats", room)
	return f.room, f.err
}

func (f *fakeCluster) User(ctx context.Context, user string) (registry.User, error) {
	f.record(ctx, "User", user)
	return f.user, f.err
}

func (f *fakeCluster) ConnInfo(ctx context.Context, id string) (registry.Conn, error) {
	f.record(ctx, "ConnInfo", id)
	return f.conn, f.err
}

func (f *fakeCluster) Nodes(ctx context.Context) ([]registry.Node, error) {
	f.record(ctx, "Nodes")
	return f.nodes, f.err
}

func (f *fakeCluster) SendToConn(ctx context.Context, connID string, data json.RawMessage) error {
	f.record(ctx, "SendToConn", connID, string(data))
	return f.err
}

func (f *fakeCluster) SendToUser(ctx context.Context, user string, data json.RawMessage) error {
	f.record(ctx, "SendToUser", user, string(data))
	return f.err
}

func (f *fakeCluster) BroadcastRoom(ctx context.Context, room string, data json.RawMessage, exclude string) error {
	f.record(ctx, "BroadcastRoom", room, string(data), exclude)
	return f.err
}

func (f *fakeCluster) BroadcastAll(ctx context.Context, data json.RawMessage, exclude string) error {
	f.record(ctx, "BroadcastAll", string(data), exclude)
	return f.err
}

func (f *fakeCluster) Disconnect(ctx context.Context, connID string, code int, reason string) error {
	f.record(ctx, "Disconnect", connID, code, reason)
	return f.err
}

var _ Cluster = (*fakeCluster)(nil)

// Fixed data for the success cases.
var (
	t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(90 * time.Second)
)

func newFake() *fakeCluster {
	return &fakeCluster{
		local: node.ConnectionStats{Scope: "node", NodeID: "n1", ActiveConnections: 3, PeakConnections: 5,
			UniqueUsers: 2, Rooms: 1, Nodes: 1, MessagesPerSecond: 1.5, UptimeSeconds: 10,
			Snapshot: stats.Snapshot{MessagesByType: map[string]int64{"message": 4}, MessagesTotal: 4}},
		cluster: node.ConnectionStats{Scope: "cluster", ActiveConnections: 7, PeakConnections: 9,
			UniqueUsers: 4, Rooms: 2, Nodes: 2,
			Snapshot: stats.Snapshot{ErrorsByKind: map[string]int64{"not_found": 2}, ErrorsTotal: 2}},
		localAct:   map[string]time.Time{"c1": t0},
		clusterAct: map[string]time.Time{"c1": t0, "c2": t1},
		rooms:      []registry.RoomSummary{{Name: "lobby", Connections: 2}, {Name: "ops", Connections: 1}},
		room: registry.Room{Name: "lobby", ConnIDs: []string{"c1", "c2"}, Users: []string{"alice"},
			Connections: 2, CreatedAt: t0, LastActivity: t1},
		user: registry.User{Name: "alice", Conns: []registry.Conn{{ID: "c1", NodeID: "n1", User: "alice",
			Type: "user", State: "authenticated", ConnectedAt: t0, AuthenticatedAt: t0, LastActivity: t1,
			Rooms: []string{"lobby"}}}},
		conn: registry.Conn{ID: "c2", NodeID: "n2", Type: "guest", State: "connected", IP: "10.0.0.2",
			ConnectedAt: t0, LastActivity: t1, MessagesIn: 3, MessagesOut: 4, Rooms: []string{}},
		nodes: []registry.Node{{ID: "n1", Addr: "10.0.0.1:8080", StartedAt: t0, LastSeen: t1, Connections: 3, Alive: true}},
	}
}

// do serves one request through h and returns the recorder.
func do(t *testing.T, h http.Handler, method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decodeAny decodes a JSON body into a generic value, failing on anything
// that is not exactly one JSON value with a JSON content type.
func decodeAny(t *testing.T, rec *httptest.ResponseRecorder) any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json (body %q)", ct, rec.Body.String())
	}
	var v any
	dec := json.NewDecoder(rec.Body)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("body holds more than one JSON value")
	}
	return v
}

// asJSON round-trips v through encoding/json so it compares with decodeAny.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantError checks status and the {"error":{"code":...,"message":...}} body
// and returns the message.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (body %s)", rec.Code, status, rec.Body.String())
	}
	body, ok := decodeAny(t, rec).(map[string]any)
	if !ok || len(body) != 1 {
		t.Fatalf("error body = %v, want exactly one key \"error\"", body)
	}
	e, ok := body["error"].(map[string]any)
	if !ok || len(e) != 2 {
		t.Fatalf("error body = %v, want error.code and error.message", body)
	}
	if e["code"] != code {
		t.Fatalf("error code = %v, want %q", e["code"], code)
	}
	msg, ok := e["message"].(string)
	if !ok || msg == "" {
		t.Fatalf("error message = %v, want a non-empty string", e["message"])
	}
	return msg
}

func wantCalls(t *testing.T, f *fakeCluster, want ...call) {
	t.Helper()
	got := f.recorded()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls = %#v\nwant    %#v", got, want)
	}
}

func TestHealthzAlways200(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      string
		readyErr error
		hdr      map[string]string
	}{
		{"no key", "", nil, nil},
		{"key, no header", "k", nil, nil},
		{"key, wrong header", "k", nil, map[string]string{"Authorization": "Bearer nope"}},
		{"not ready", "k", node.ErrUnavailable, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.readyErr = tc.readyErr
			rec := do(t, Handler(f, Config{Key: tc.key}), http.MethodGet, "/healthz", "", tc.hdr)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			if got, want := decodeAny(t, rec), asJSON(t, map[string]string{"status": "ok"}); !reflect.DeepEqual(got, want) {
				t.Fatalf("body = %v, want %v", got, want)
			}
			wantCalls(t, f) // liveness never asks the node
		})
	}
}

func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      string
		readyErr error
		status   int
		body     map[string]string
	}{
		{"ready", "", nil, http.StatusOK, map[string]string{"status": "ready"}},
		{"ready behind key, no header", "secret", nil, http.StatusOK, map[string]string{"status": "ready"}},
		{"draining", "", errors.New("node: draining"), http.StatusServiceUnavailable,
			map[string]string{"status": "not ready", "reason": "node: draining"}},
		{"redis down behind key", "secret", fmt.Errorf("heartbeat: %w", node.ErrUnavailable), http.StatusServiceUnavailable,
			map[string]string{"status": "not ready", "reason": "heartbeat: node: cluster state unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.readyErr = tc.readyErr
			rec := do(t, Handler(f, Config{Key: tc.key}), http.MethodGet, "/readyz", "", nil)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if got, want := decodeAny(t, rec), asJSON(t, tc.body); !reflect.DeepEqual(got, want) {
				t.Fatalf("body = %v, want %v", got, want)
			}
			wantCalls(t, f, call{Method: "Ready"})
		})
	}
}

func TestBearerKey(t *testing.T) {
	long := strings.Repeat("k", 4096) + "-end"
	for _, tc := range []struct {
		name string
		key  string
		auth string // "" means no header
		ok   bool
	}{
		{"missing", "s3cret", "", false},
		{"empty bearer", "s3cret", "Bearer ", false},
		{"scheme only", "s3cret", "Bearer", false},
		{"wrong", "s3cret", "Bearer nope", false},
		{"prefix of key", "s3cret", "Bearer s3cre", false},
		{"key plus suffix", "s3cret", "Bearer s3cret0", false},
		{"wrong scheme", "s3cret", "Basic s3cret", false},
		{"no scheme", "s3cret", "s3cret", false},
		{"case differs in key", "s3cret", "Bearer S3CRET", false},
		{"right", "s3cret", "Bearer s3cret", true},
		{"scheme case-insensitive", "s3cret", "bEaReR s3cret", true},
		{"long key right", long, "Bearer " + long, true},
		{"long key truncated", long, "Bearer " + long[:len(long)-1], false},
		{"long key, short guess", long, "Bearer k", false},
		{"one-byte key right", "x", "Bearer x", true},
		{"one-byte key wrong", "x", "Bearer y", false},
		{"no key configured", "", "", true},
		{"no key configured, junk header", "", "Basic whatever", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			h := Handler(f, Config{Key: tc.key})
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			rec := do(t, h, http.MethodGet, "/nodes", "", hdr)
			if tc.ok {
				if rec.Code != http.StatusOK {
					t.Fatalf("status = %d, want 200 (body %s)", rec.Code, rec.Body.String())
				}
				if rec.Header().Get("WWW-Authenticate") != "" {
					t.Fatal("WWW-Authenticate set on success")
				}
				wantCalls(t, f, call{Method: "Nodes"})
				return
			}
			wantError(t, rec, http.StatusUnauthorized, "unauthorized")
			if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="wsnode-admin"` {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
			wantCalls(t, f) // the node is never asked without the key
		})
	}
}

func TestKeyGuardsEveryProtectedRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/stats", ""},
		{http.MethodGet, "/stats?scope=node", ""},
		{http.MethodGet, "/rooms", ""},
		{http.MethodGet, "/rooms/lobby", ""},
		{http.MethodGet, "/users/alice", ""},
		{http.MethodGet, "/connections/c1", ""},
		{http.MethodDelete, "/connections/c1", ""},
		{http.MethodGet, "/nodes", ""},
		{http.MethodPost, "/publish", `{"all":true,"data":1}`},
		{http.MethodGet, "/metrics", ""},
		{http.MethodGet, "/debug/pprof/", ""},
		{http.MethodGet, "/no/such/route", ""},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			f := newFake()
			h := Handler(f, Config{Key: "k", Gatherer: reg, Pprof: true})
			rec := do(t, h, r.method, r.path, r.body, nil)
			wantError(t, rec, http.StatusUnauthorized, "unauthorized")
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate on 401")
			}
			wantCalls(t, f)
		})
	}
}

func TestRoutesSuccess(t *testing.T) {
	base := newFake()
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
		want   any // expected body, compared as JSON
		calls  []call
	}{
		{"rooms", http.MethodGet, "/rooms", "", http.StatusOK,
			map[string]any{"rooms": base.rooms, "count": 2}, []call{{Method: "Rooms"}}},
		{"room", http.MethodGet, "/rooms/lobby", "", http.StatusOK,
			base.room, []call{{Method: "RoomStats", Args: []any{"lobby"}}}},
		{"room with escaped name", http.MethodGet, "/rooms/a%40b", "", http.StatusOK,
			base.room, []call{{Method: "RoomStats", Args: []any{"a@b"}}}},
		{"user", http.MethodGet, "/users/alice", "", http.StatusOK,
			base.user, []call{{Method: "User", Args: []any{"alice"}}}},
		{"connection", http.MethodGet, "/connections/c2", "", http.StatusOK,
			base.conn, []call{{Method: "ConnInfo", Args: []any{"c2"}}}},
		{"nodes", http.MethodGet, "/nodes", "", http.StatusOK,
			map[string]any{"nodes": base.nodes, "count": 1}, []call{{Method: "Nodes"}}},
		{"disconnect", http.MethodDelete, "/connections/c2", "", http.StatusAccepted,
			map[string]string{"status": "disconnecting"}, []call{{Method: "Disconnect", Args: []any{"c2", 0, ""}}}},
		{"publish", http.MethodPost, "/publish", `{"room":"lobby","data":{"a":1}}`, http.StatusAccepted,
			map[string]string{"status": "published"}, []call{{Method: "BroadcastRoom", Args: []any{"lobby", `{"a":1}`, ""}}}},
		{"stats default scope", http.MethodGet, "/stats", "", http.StatusOK,
			base.cluster, []call{{Method: "ClusterStats"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{Key: "k"}), tc.method, tc.path, tc.body,
				map[string]string{"Authorization": "Bearer k"})
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.status, rec.Body.String())
			}
			if got, want := decodeAny(t, rec), asJSON(t, tc.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("body = %v\nwant   %v", got, want)
			}
			wantCalls(t, f, tc.calls...)
		})
	}
}

func TestEmptyListsAreCountedZero(t *testing.T) {
	f := newFake()
	f.rooms, f.nodes = nil, []registry.Node{}
	h := Handler(f, Config{})
	rec := do(t, h, http.MethodGet, "/rooms", "", nil)
	body := decodeAny(t, rec).(map[string]any)
	if rec.Code != http.StatusOK || body["count"] != float64(0) {
		t.Fatalf("rooms: %d %v", rec.Code, body)
	}
	rec = do(t, h, http.MethodGet, "/nodes", "", nil)
	body = decodeAny(t, rec).(map[string]any)
	if rec.Code != http.StatusOK || body["count"] != float64(0) || !reflect.DeepEqual(body["nodes"], []any{}) {
		t.Fatalf("nodes: %d %v", rec.Code, body)
	}
}

func TestStatsJSONShape(t *testing.T) {
	f := newFake()
	rec := do(t, Handler(f, Config{}), http.MethodGet, "/stats?scope=node", "", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	body := decodeAny(t, rec).(map[string]any)
	// The embedded stats.Snapshot is flattened into the top level.
	want := map[string]any{
		"scope": "node", "node_id": "n1", "active_connections": float64(3), "peak_connections": float64(5),
		"unique_users": float64(2), "rooms": float64(1), "nodes": float64(1), "messages_per_second": 1.5,
		"uptime_seconds": float64(10), "messages_by_type": map[string]any{"message": float64(4)},
		"errors_by_kind": nil, "counters": nil, "messages_total": float64(4), "errors_total": float64(0),
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("body = %v\nwant   %v", body, want)
	}
	if _, ok := body["activity"]; ok {
		t.Fatal("activity present although not asked for")
	}
}

func TestStatsScopes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		query    string
		actErr   error
		status   int
		scope    string         // expected "scope" on success
		activity map[string]any // expected "activity" on success; nil means absent
		calls    []string
	}{
		{"node", "?scope=node", nil, http.StatusOK, "node", nil, []string{"LocalStats"}},
		{"node activity=1", "?scope=node&activity=1", nil, http.StatusOK, "node",
			map[string]any{"c1": t0.Format(time.RFC3339Nano)}, []string{"LocalStats", "LocalActivity"}},
		{"node activity=true", "?scope=node&activity=true", nil, http.StatusOK, "node",
			map[string]any{"c1": t0.Format(time.RFC3339Nano)}, []string{"LocalStats", "LocalActivity"}},
		{"node activity=0", "?scope=node&activity=0", nil, http.StatusOK, "node", nil, []string{"LocalStats"}},
		{"cluster", "?scope=cluster", nil, http.StatusOK, "cluster", nil, []string{"ClusterStats"}},
		{"default is cluster", "", nil, http.StatusOK, "cluster", nil, []string{"ClusterStats"}},
		{"cluster activity=1", "?scope=cluster&activity=1", nil, http.StatusOK, "cluster",
			map[string]any{"c1": t0.Format(time.RFC3339Nano), "c2": t1.Format(time.RFC3339Nano)},
			[]string{"ClusterStats", "ClusterActivity"}},
		{"cluster activity fails", "?activity=1", node.ErrUnavailable, http.StatusServiceUnavailable, "", nil,
			[]string{"ClusterStats", "ClusterActivity"}},
		{"bogus scope", "?scope=bogus", nil, http.StatusBadRequest, "", nil, nil},
		{"bogus scope with activity", "?scope=everything&activity=1", nil, http.StatusBadRequest, "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.activityErr = tc.actErr
			rec := do(t, Handler(f, Config{}), http.MethodGet, "/stats"+tc.query, "", nil)
			var calls []call
			for _, m := range tc.calls {
				calls = append(calls, call{Method: m})
			}
			switch tc.status {
			case http.StatusOK:
				if rec.Code != http.StatusOK {
					t.Fatalf("status = %d (body %s)", rec.Code, rec.Body.String())
				}
				body := decodeAny(t, rec).(map[string]any)
				if body["scope"] != tc.scope {
					t.Fatalf("scope = %v, want %q", body["scope"], tc.scope)
				}
				act, ok := body["activity"]
				if tc.activity == nil && ok {
					t.Fatalf("activity = %v, want none", act)
				}
				if tc.activity != nil && !reflect.DeepEqual(act, tc.activity) {
					t.Fatalf("activity = %v, want %v", act, tc.activity)
				}
			case http.StatusBadRequest:
				if msg := wantError(t, rec, http.StatusBadRequest, "bad_request"); !strings.Contains(msg, "scope") {
					t.Fatalf("message = %q, want it to name the scope parameter", msg)
				}
			default:
				wantError(t, rec, tc.status, "unavailable")
			}
			wantCalls(t, f, calls...)
		})
	}
}

func TestErrorMapping(t *testing.T) {
	nameErr := &registry.NameError{Kind: "room", Name: "bad:name", Rule: "may contain only letters, digits and _ . @ = -"}
	secret := errors.New("dial tcp 10.9.8.7:6379: connection refused")
	errs := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string // exact message, "" means: must not leak err
	}{
		{"name error", nameErr, http.StatusBadRequest, "invalid_name", nameErr.Error()},
		{"wrapped name error", fmt.Errorf("%w: %w", node.ErrInvalidInput, nameErr), http.StatusBadRequest, "invalid_name", nameErr.Error()},
		{"invalid input", fmt.Errorf("%w: data is not valid JSON", node.ErrInvalidInput), http.StatusBadRequest, "bad_request",
			"node: invalid input: data is not valid JSON"},
		{"node not found", node.ErrNotFound, http.StatusNotFound, "not_found", "not found"},
		{"registry not found", fmt.Errorf("conn: %w", registry.ErrNotFound), http.StatusNotFound, "not_found", "not found"},
		{"unavailable", fmt.Errorf("%w: %w", node.ErrUnavailable, secret), http.StatusServiceUnavailable, "unavailable", ""},
		{"deadline", context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable", ""},
		{"anything else", secret, http.StatusServiceUnavailable, "unavailable", ""},
	}
	routes := []struct {
		method, path, body string
	}{
		{http.MethodGet, "/stats", ""},
		{http.MethodGet, "/stats?scope=cluster&activity=1", ""},
		{http.MethodGet, "/rooms", ""},
		{http.MethodGet, "/rooms/lobby", ""},
		{http.MethodGet, "/users/alice", ""},
		{http.MethodGet, "/connections/c1", ""},
		{http.MethodDelete, "/connections/c1?code=4006", ""},
		{http.MethodGet, "/nodes", ""},
		{http.MethodPost, "/publish", `{"room":"lobby","data":1}`},
		{http.MethodPost, "/publish", `{"user":"alice","data":1}`},
		{http.MethodPost, "/publish", `{"conn_id":"c1","data":1}`},
		{http.MethodPost, "/publish", `{"all":true,"data":1}`},
	}
	for _, r := range routes {
		for _, e := range errs {
			t.Run(r.method+" "+r.path+" "+r.body+"/"+e.name, func(t *testing.T) {
				f := newFake()
				f.err = e.err
				rec := do(t, Handler(f, Config{}), r.method, r.path, r.body, nil)
				msg := wantError(t, rec, e.status, e.code)
				if e.msg != "" && msg != e.msg {
					t.Fatalf("message = %q, want %q", msg, e.msg)
				}
				if e.msg == "" && strings.Contains(msg, "10.9.8.7") {
					t.Fatalf("message %q leaks the internal error", msg)
				}
				if len(f.recorded()) == 0 {
					t.Fatal("cluster was not called")
				}
			})
		}
	}
}

func TestRequestsCarryTheTimeout(t *testing.T) {
	f := newFake()
	h := Handler(f, Config{Timeout: 250 * time.Millisecond})
	for _, p := range []string{"/stats?activity=1", "/rooms", "/rooms/x", "/users/x", "/connections/x", "/nodes"} {
		if rec := do(t, h, http.MethodGet, p, "", nil); rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", p, rec.Code)
		}
	}
	if rec := do(t, h, http.MethodDelete, "/connections/x", "", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("delete: status %d", rec.Code)
	}
	if rec := do(t, h, http.MethodPost, "/publish", `{"all":true}`, nil); rec.Code != http.StatusAccepted {
		t.Fatalf("publish: status %d", rec.Code)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noDL != 0 {
		t.Fatalf("%d cluster calls had no deadline", f.noDL)
	}
	if len(f.deadlines) != 9 {
		t.Fatalf("deadlines = %v, want 9", f.deadlines)
	}
	for _, d := range f.deadlines {
		if d <= 0 || d > 250*time.Millisecond {
			t.Fatalf("deadline %v away, want within the 250ms timeout", d)
		}
	}
}

func TestPublish(t *testing.T) {
	const oneTarget = `give exactly one of "room", "user", "conn_id" or "all":true`
	for _, tc := range []struct {
		name   string
		body   string
		status int
		msg    string // substring of the error message for 400s
		call   *call
	}{
		{"room", `{"room":"lobby","data":{"text":"hi"}}`, http.StatusAccepted, "",
			&call{"BroadcastRoom", []any{"lobby", `{"text":"hi"}`, ""}}},
		{"room with exclude", `{"room":"lobby","exclude":"c9","data":[1,2]}`, http.StatusAccepted, "",
			&call{"BroadcastRoom", []any{"lobby", `[1,2]`, "c9"}}},
		{"user", `{"user":"alice","data":"hey"}`, http.StatusAccepted, "",
			&call{"SendToUser", []any{"alice", `"hey"`}}},
		{"conn_id", `{"conn_id":"c1","data":42}`, http.StatusAccepted, "",
			&call{"SendToConn", []any{"c1", `42`}}},
		{"all", `{"all":true,"data":null}`, http.StatusAccepted, "",
			&call{"BroadcastAll", []any{`null`, ""}}},
		{"all with exclude", `{"all":true,"exclude":"c3","data":{}}`, http.StatusAccepted, "",
			&call{"BroadcastAll", []any{`{}`, "c3"}}},
		{"no data", `{"user":"bob"}`, http.StatusAccepted, "",
			&call{"SendToUser", []any{"bob", ""}}},
		{"trailing whitespace is fine", "{\"all\":true,\"data\":1}\n \t", http.StatusAccepted, "",
			&call{"BroadcastAll", []any{`1`, ""}}},
		{"unknown fields ignored", `{"conn_id":"c1","data":1,"extra":"x"}`, http.StatusAccepted, "",
			&call{"SendToConn", []any{"c1", `1`}}},

		{"no target", `{"data":1}`, http.StatusBadRequest, oneTarget, nil},
		{"all false", `{"all":false,"data":1}`, http.StatusBadRequest, oneTarget, nil},
		{"empty room", `{"room":"","data":1}`, http.StatusBadRequest, oneTarget, nil},
		{"room and user", `{"room":"r","user":"u","data":1}`, http.StatusBadRequest, oneTarget, nil},
		{"room and all", `{"room":"r","all":true}`, http.StatusBadRequest, oneTarget, nil},
		{"user and conn_id", `{"user":"u","conn_id":"c"}`, http.StatusBadRequest, oneTarget, nil},
		{"all four", `{"room":"r","user":"u","conn_id":"c","all":true}`, http.StatusBadRequest, oneTarget, nil},

		{"trailing garbage", `{"all":true,"data":1} x`, http.StatusBadRequest, "exactly one JSON object", nil},
		{"two objects", `{"all":true}{"all":true}`, http.StatusBadRequest, "exactly one JSON object", nil},
		{"trailing brace", `{"user":"u"}}`, http.StatusBadRequest, "exactly one JSON object", nil},

		{"empty body", ``, http.StatusBadRequest, "body must be a JSON object", nil},
		{"not JSON", `room=lobby`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"array", `[{"all":true}]`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"truncated", `{"all":true`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"room is a number", `{"room":1,"data":1}`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"all is a string", `{"all":"true"}`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"user is an object", `{"user":{"name":"a"}}`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"exclude is a bool", `{"all":true,"exclude":false}`, http.StatusBadRequest, "body must be a JSON object", nil},
		{"bad data", `{"all":true,"data":{"a":}}`, http.StatusBadRequest, "body must be a JSON object", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{}), http.MethodPost, "/publish", tc.body, nil)
			if tc.status == http.StatusAccepted {
				if rec.Code != http.StatusAccepted {
					t.Fatalf("status = %d (body %s)", rec.Code, rec.Body.String())
				}
				if got, want := decodeAny(t, rec), asJSON(t, map[string]string{"status": "published"}); !reflect.DeepEqual(got, want) {
					t.Fatalf("body = %v", got)
				}
				wantCalls(t, f, *tc.call)
				return
			}
			if msg := wantError(t, rec, tc.status, "bad_request"); !strings.Contains(msg, tc.msg) {
				t.Fatalf("message = %q, want it to contain %q", msg, tc.msg)
			}
			wantCalls(t, f)
		})
	}
}

func TestPublishTooBig(t *testing.T) {
	const limit = 64
	small := `{"all":true,"data":"` + strings.Repeat("a", limit-len(`{"all":true,"data":""}`)) + `"}`
	if len(small) != limit {
		t.Fatalf("small body is %d bytes", len(small))
	}
	for _, tc := range []struct {
		name   string
		limit  int64
		body   string
		status int
	}{
		{"at the limit", limit, small, http.StatusAccepted},
		{"one byte over", limit, `{"all":true,"data":"` + strings.Repeat("a", limit-len(`{"all":true,"data":""}`)+1) + `"}`,
			http.StatusRequestEntityTooLarge},
		{"far over", limit, `{"all":true,"data":"` + strings.Repeat("a", 10*limit) + `"}`, http.StatusRequestEntityTooLarge},
		{"default limit is 1 MiB", 0, `{"all":true,"data":"` + strings.Repeat("a", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"under the default limit", 0, `{"all":true,"data":"` + strings.Repeat("a", 1<<19) + `"}`, http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{MaxBodyBytes: tc.limit}), http.MethodPost, "/publish", tc.body, nil)
			if tc.status == http.StatusAccepted {
				if rec.Code != http.StatusAccepted {
					t.Fatalf("status = %d (body %.200s)", rec.Code, rec.Body.String())
				}
				if got := f.recorded(); len(got) != 1 || got[0].Method != "BroadcastAll" {
					t.Fatalf("calls = %v", got)
				}
				return
			}
			wantError(t, rec, http.StatusRequestEntityTooLarge, "too_big")
			wantCalls(t, f)
		})
	}
}

func TestDisconnect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		status int
		call   *call
	}{
		{"defaults", "/connections/c1", http.StatusAccepted, &call{"Disconnect", []any{"c1", 0, ""}}},
		{"code and reason", "/connections/c1?code=4006&reason=kicked+by+admin", http.StatusAccepted,
			&call{"Disconnect", []any{"c1", 4006, "kicked by admin"}}},
		{"escaped reason", "/connections/c-2?reason=bye%20%26%20thanks&code=1000", http.StatusAccepted,
			&call{"Disconnect", []any{"c-2", 1000, "bye & thanks"}}},
		{"reason only", "/connections/c1?reason=x", http.StatusAccepted, &call{"Disconnect", []any{"c1", 0, "x"}}},
		{"empty code", "/connections/c1?code=", http.StatusAccepted, &call{"Disconnect", []any{"c1", 0, ""}}},
		{"out-of-range code is the node's business", "/connections/c1?code=99999", http.StatusAccepted,
			&call{"Disconnect", []any{"c1", 99999, ""}}},
		{"non-numeric code", "/connections/c1?code=kick", http.StatusBadRequest, nil},
		{"float code", "/connections/c1?code=4006.5", http.StatusBadRequest, nil},
		{"code with space", "/connections/c1?code=%204006", http.StatusBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{}), http.MethodDelete, tc.target, "", nil)
			if tc.call == nil {
				if msg := wantError(t, rec, tc.status, "bad_request"); !strings.Contains(msg, "code") {
					t.Fatalf("message = %q", msg)
				}
				wantCalls(t, f)
				return
			}
			if rec.Code != tc.status {
				t.Fatalf("status = %d (body %s)", rec.Code, rec.Body.String())
			}
			if got, want := decodeAny(t, rec), asJSON(t, map[string]string{"status": "disconnecting"}); !reflect.DeepEqual(got, want) {
				t.Fatalf("body = %v", got)
			}
			wantCalls(t, f, *tc.call)
		})
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	for _, tc := range []struct {
		method, path string
	}{
		{http.MethodGet, "/"},
		{http.MethodGet, "/nope"},
		{http.MethodGet, "/rooms/a/b"},
		{http.MethodGet, "/connections/"},
		{http.MethodPost, "/stats"},
		{http.MethodPut, "/connections/c1"},
		{http.MethodGet, "/publish"},
		{http.MethodPost, "/healthz"},
		{http.MethodGet, "/debug/pprof/"}, // pprof is off by default
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			f := newFake()
			rec := do(t, Handler(f, Config{Key: "k"}), tc.method, tc.path, "", map[string]string{"Authorization": "Bearer k"})
			if msg := wantError(t, rec, http.StatusNotFound, "not_found"); msg != "no such route" {
				t.Fatalf("message = %q", msg)
			}
			wantCalls(t, f)
		})
	}
}

func TestPprofBehindKey(t *testing.T) {
	f := newFake()
	h := Handler(f, Config{Key: "k", Pprof: true})
	rec := do(t, h, http.MethodGet, "/debug/pprof/", "", map[string]string{"Authorization": "Bearer k"})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", rec.Code, rec.Body.String())
	}
}

func TestMetricsFromGatherer(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "admin_test_hits_total", Help: "Test counter."})
	reg.MustRegister(hits)
	hits.Add(3)

	f := newFake()
	h := Handler(f, Config{Key: "k", Gatherer: reg})
	rec := do(t, h, http.MethodGet, "/metrics", "", map[string]string{"Authorization": "Bearer k"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"# HELP admin_test_hits_total Test counter.",
		"# TYPE admin_test_hits_total counter",
		"admin_test_hits_total 3",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
	// Only the given gatherer is served, not the default one.
	if strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics include the default registry:\n%s", body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q", ct)
	}
	wantCalls(t, f)
}

func TestPublishExcludeOnlyWithRoomOrAll(t *testing.T) {
	f := newFake()
	h := Handler(f, Config{})
	for _, body := range []string{
		`{"user":"bob","data":1,"exclude":"c1"}`,
		`{"conn_id":"c2","data":1,"exclude":"c1"}`,
	} {
		rec := do(t, h, "POST", "/publish", body, nil)
		wantError(t, rec, http.StatusBadRequest, "bad_request")
	}
	wantCalls(t, f)
}

func TestPublishPaddingPastLimitIs413(t *testing.T) {
	f := newFake()
	h := Handler(f, Config{MaxBodyBytes: 64})
	body := `{"all":true,"data":1}` + strings.Repeat(" ", 100)
	rec := do(t, h, "POST", "/publish", body, nil)
	wantError(t, rec, http.StatusRequestEntityTooLarge, "too_big")
	wantCalls(t, f)
}
