package admin

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
)

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
