package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

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
	f.record(context.TODO(), "Ready")
	return f.readyErr
}

func (f *fakeCluster) LocalStats() node.ConnectionStats {
	f.record(context.TODO(), "LocalStats")
	return f.local
}

func (f *fakeCluster) LocalActivity() map[string]time.Time {
	f.record(context.TODO(), "LocalActivity")
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

func (f *fakeCluster) History(ctx context.Context, room string, limit int, since *node.Position) (node.HistoryPage, error) {
	f.record(ctx, "History", room, limit, since)
	return node.HistoryPage{Room: room, Messages: []json.RawMessage{}}, f.err
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
