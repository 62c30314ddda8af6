package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
)

func (a *api) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.cfg.Timeout)
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := a.c.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// stats serves GET /stats[?scope=node|cluster][&activity=1].
func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	activity := q.Get("activity") == "1" || q.Get("activity") == "true"
	switch q.Get("scope") {
	case "node":
		s := a.c.LocalStats()
		if activity {
			s.Activity = a.c.LocalActivity()
		}
		writeJSON(w, http.StatusOK, s)
	case "", "cluster":
		ctx, cancel := a.ctx(r)
		defer cancel()
		s, err := a.c.ClusterStats(ctx)
		if err != nil {
			fail(w, err)
			return
		}
		if activity {
			if s.Activity, err = a.c.ClusterActivity(ctx); err != nil {
				fail(w, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, s)
	default:
		writeError(w, http.StatusBadRequest, "bad_request", `scope must be "node" or "cluster"`)
	}
}

func (a *api) rooms(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	rooms, err := a.c.Rooms(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms, "count": len(rooms)})
}

func (a *api) room(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r, "room", "room")
	if !ok {
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	room, err := a.c.RoomStats(ctx, name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, room)
}

func (a *api) user(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r, "user", "user")
	if !ok {
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	u, err := a.c.User(ctx, name)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *api) conn(w http.ResponseWriter, r *http.Request) {
	id, ok := pathName(w, r, "id", "conn")
	if !ok {
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	c, err := a.c.ConnInfo(ctx, id)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (a *api) nodes(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	nodes, err := a.c.Nodes(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes, "count": len(nodes)})
}

// disconnect serves DELETE /connections/{id}[?code=4006&reason=...].
func (a *api) disconnect(w http.ResponseWriter, r *http.Request) {
	id, ok := pathName(w, r, "id", "conn")
	if !ok {
		return
	}
	q := r.URL.Query()
	code := 0
	if s := q.Get("code"); s != "" {
		var err error
		if code, err = strconv.Atoi(s); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "code must be a number")
			return
		}
	}
	// The reason goes into the close frame, which must carry UTF-8 (RFC
	// 6455, 5.5.1) and at most 123 bytes; the node allows MaxCloseReason.
	reason := q.Get("reason")
	if !utf8.ValidString(reason) {
		writeError(w, http.StatusBadRequest, "bad_request", "reason must be valid UTF-8")
		return
	}
	if len(reason) > node.MaxCloseReason {
		writeError(w, http.StatusBadRequest, "bad_request",
			"reason longer than "+strconv.Itoa(node.MaxCloseReason)+" bytes")
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	if err := a.c.Disconnect(ctx, id, code, reason); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "disconnecting"})
}

type publishRequest struct {
	Room    string          `json:"room"`
	User    string          `json:"user"`
	ConnID  string          `json:"conn_id"`
	All     bool            `json:"all"`
	Exclude string          `json:"exclude"`
	Data    json.RawMessage `json:"data"`
}

func (p publishRequest) targets() int {
	n := 0
	for _, set := range []bool{p.Room != "", p.User != "", p.ConnID != "", p.All} {
		if set {
			n++
		}
	}
	return n
}

// publish serves POST /publish.
func (a *api) publish(w http.ResponseWriter, r *http.Request) {
	var p publishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err := dec.Decode(&p); err != nil {
		badBody(w, err, "body must be a JSON object: "+strings.TrimPrefix(err.Error(), "json: "))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		badBody(w, err, "body must hold exactly one JSON object")
		return
	}
	if p.targets() != 1 {
		writeError(w, http.StatusBadRequest, "bad_request", `give exactly one of "room", "user", "conn_id" or "all":true`)
		return
	}
	if len(p.Data) == 0 {
		// Absent, not null: "data":null is a value the caller chose.
		writeError(w, http.StatusBadRequest, "bad_request", `"data" is required`)
		return
	}
	if p.Exclude != "" && p.Room == "" && !p.All {
		writeError(w, http.StatusBadRequest, "bad_request", `"exclude" goes with "room" or "all"`)
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	var err error
	switch {
	case p.Room != "":
		err = a.c.BroadcastRoom(ctx, p.Room, p.Data, p.Exclude)
	case p.User != "":
		err = a.c.SendToUser(ctx, p.User, p.Data)
	case p.ConnID != "":
		err = a.c.SendToConn(ctx, p.ConnID, p.Data)
	default:
		err = a.c.BroadcastAll(ctx, p.Data, p.Exclude)
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "published"})
}

// pathName returns the value of the path wildcard key if it is a valid name
// of the given kind ("room", "user", "conn", as registry.NameError names
// them); otherwise it answers 400 invalid_name and reports false.
func pathName(w http.ResponseWriter, r *http.Request, key, kind string) (string, bool) {
	name := r.PathValue(key)
	if err := registry.ValidateName(kind, name); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_name", err.Error())
		return "", false
	}
	return name, true
}

// nameRoutes are the routes ending in one name segment, by first segment:
// the wildcard's kind and the methods served.
var nameRoutes = map[string]struct {
	kind    string
	methods []string
}{
	"rooms":       {"room", []string{http.MethodGet, http.MethodHead}},
	"users":       {"user", []string{http.MethodGet, http.MethodHead}},
	"connections": {"conn", []string{http.MethodGet, http.MethodHead, http.MethodDelete}},
}

// misroutedName answers 400 invalid_name for a request to a name route whose
// name the mux did not match: a segment that unescapes to "/" (such as
// /users/%2F) is taken for a trailing slash and matches no pattern. It
// reports whether it answered.
func misroutedName(w http.ResponseWriter, r *http.Request) bool {
	first, seg, ok := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	route, known := nameRoutes[first]
	if !ok || !known || seg == "" || strings.Contains(seg, "/") {
		return false
	}
	found := false
	for _, m := range route.methods {
		found = found || r.Method == m
	}
	name, err := url.PathUnescape(seg)
	if !found || err != nil {
		return false
	}
	if err := registry.ValidateName(route.kind, name); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_name", err.Error())
		return true
	}
	return false
}

// badBody answers a body that could not be read: 413 when it hit the size
// limit, else 400 with msg.
func badBody(w http.ResponseWriter, err error, msg string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_big", "body too large")
		return
	}
	writeError(w, http.StatusBadRequest, "bad_request", msg)
}
