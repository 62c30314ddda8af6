package admin

import (
	"context"
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
	if rec := do(t, h, http.MethodPost, "/publish", `{"all":true,"data":1}`, nil); rec.Code != http.StatusAccepted {
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

		{"no data", `{"user":"bob"}`, http.StatusBadRequest, `"data" is required`, nil},
		{"no data, all", `{"all":true,"exclude":"c3"}`, http.StatusBadRequest, `"data" is required`, nil},

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
