package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// adminError calls the admin API and returns the status and error.code.
func adminError(t *testing.T, tn *testNode, method, path string, body any) (int, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	status := adminJSON(t, tn, method, path, body, &e)
	return status, e.Error.Code
}

// DELETE /connections/{id} with a reason no close frame may carry is a 400
// and leaves the connection open; a valid one reaches the client in a
// well-formed close frame.
func TestAdminDisconnectReasonEndToEnd(t *testing.T) {
	nodes, _ := MustCluster(t, 2, nil)
	ws, id := mustRawMember(t, nodes[0], "bob", "ops")
	for _, q := range []string{"code=4100&reason=%FF%FE", "reason=ok%C3", "reason=" + strings.Repeat("x", 121)} {
		if status, code := adminError(t, nodes[1], "DELETE", "/connections/"+id+"?"+q, nil); status != http.StatusBadRequest || code != "bad_request" {
			t.Fatalf("DELETE ?%s: %d %q, want 400 bad_request", q, status, code)
		}
	}
	// Still open: a message to it arrives.
	if status := adminJSON(t, nodes[1], "POST", "/publish", map[string]any{"conn_id": id, "data": "still here"}, nil); status != http.StatusAccepted {
		t.Fatalf("publish: %d", status)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f frame
	if err := ws.ReadJSON(&f); err != nil || f["data"] != "still here" {
		t.Fatalf("after the refused disconnects: %v %v", f, err)
	}
	reason := "bye, " + strings.Repeat("ü", 50) + " €"
	if status := adminJSON(t, nodes[1], "DELETE", "/connections/"+id+"?code=4100&reason="+url.QueryEscape(reason), nil, nil); status != http.StatusAccepted {
		t.Fatalf("valid disconnect: %d", status)
	}
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4100 || ce.Text != reason || !utf8.ValidString(ce.Text) {
			t.Fatalf("client saw %v, want close 4100 %q", err, reason)
		}
		break
	}
}

// Every admin route that takes a name answers an invalid one with 400
// invalid_name, through the mux's trailing-slash case (%2F alone) too;
// POST /publish without "data" is a 400 and delivers nothing.
func TestAdminInvalidInputEndToEnd(t *testing.T) {
	nodes, _ := MustCluster(t, 1, nil)
	bob := MustUser(t, nodes[0], "bob")
	bob.join("ops")
	for _, r := range []struct{ method, path string }{
		{"GET", "/users/%2F"},
		{"GET", "/users/a%2Fb"},
		{"GET", "/rooms/%2F"},
		{"GET", "/rooms/a%2Fb"},
		{"GET", "/connections/%2F"},
		{"GET", "/connections/a:b"},
		{"DELETE", "/connections/%2F"},
		{"DELETE", "/connections/a:b"},
	} {
		if status, code := adminError(t, nodes[0], r.method, r.path, nil); status != http.StatusBadRequest || code != "invalid_name" {
			t.Errorf("%s %s: %d %q, want 400 invalid_name", r.method, r.path, status, code)
		}
	}
	for _, body := range []map[string]any{{"room": "ops"}, {"user": "bob"}, {"conn_id": bob.connID}, {"all": true}} {
		if status, code := adminError(t, nodes[0], "POST", "/publish", body); status != http.StatusBadRequest || code != "bad_request" {
			t.Errorf("publish %v: %d %q, want 400 bad_request", body, status, code)
		}
	}
	bob.expectNone(quiet)
}
