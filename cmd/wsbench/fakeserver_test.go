package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// fakeHub is a tiny in-memory stand-in for a wsnode cluster: every fake
// node shares it, so a message published on one node reaches members on
// all of them. It can drop or duplicate deliveries to test the detector.
type fakeHub struct {
	secret    string
	dropEvery int64 // drop every n-th delivery (0: never)
	dupEvery  int64 // send every n-th delivery twice (0: never)

	mu    sync.Mutex
	rooms map[string]map[*fakeConn]bool
	users map[string]map[*fakeConn]bool
	all   map[*fakeConn]bool

	remoteIPs map[string]int // client source address -> sockets

	deliveries, dropped, duplicated atomic.Int64
	seq                             atomic.Int64
}

type fakeConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	id   string
	user string
}

func newFakeHub(secret string) *fakeHub {
	return &fakeHub{secret: secret, rooms: map[string]map[*fakeConn]bool{},
		users: map[string]map[*fakeConn]bool{}, all: map[*fakeConn]bool{}, remoteIPs: map[string]int{}}
}

// startNodes starts n fake nodes on the hub and returns their ws:// URLs.
func (h *fakeHub) startNodes(t *testing.T, n int) []string {
	var urls []string
	for i := range n {
		node := "fake" + strconv.Itoa(i)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.serve(w, r, node)
		}))
		t.Cleanup(func() { h.closeAll(); srv.Close() })
		urls = append(urls, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws")
	}
	return urls
}

var upgrader = websocket.Upgrader{}

type clientFrame struct {
	Type   string          `json:"type"`
	Token  string          `json:"token"`
	Room   string          `json:"room"`
	ToUser string          `json:"to_user"`
	Echo   *bool           `json:"echo"`
	Data   json.RawMessage `json:"data"`
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request, node string) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, id: node + "-" + strconv.FormatInt(h.seq.Add(1), 10)}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	h.mu.Lock()
	h.all[c] = true
	h.remoteIPs[host]++
	h.mu.Unlock()
	defer h.drop(c)
	c.write([]byte(`{"type":"welcome","conn_id":"` + c.id + `","node_id":"` + node + `","ping_interval_ms":25000}`))
	c.write([]byte(`{"type":"ping","ts":1}`)) // clients must skip it
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f clientFrame
		if json.Unmarshal(b, &f) != nil {
			c.write([]byte(`{"type":"error","code":"bad_json","message":"x"}`))
			continue
		}
		h.handle(c, &f)
	}
}

func (h *fakeHub) handle(c *fakeConn, f *clientFrame) {
	switch f.Type {
	case "auth":
		user, ok := h.verify(f.Token)
		if !ok {
			c.write([]byte(`{"type":"error","code":"auth_failed","message":"bad token"}`))
			return
		}
		c.user = user
		h.add(h.users, user, c)
		c.write([]byte(`{"type":"authenticated","user":"` + user + `","conn_type":"user"}`))
	case "join":
		h.add(h.rooms, f.Room, c)
		c.write([]byte(`{"type":"joined","room":"` + f.Room + `"}`))
	case "message":
		out := h.envelope(`{"type":"message","room":"`+f.Room+`",`, c, f.Data)
		h.fanout(h.members(h.rooms, f.Room), c, f.Echo == nil || *f.Echo, out)
	case "direct":
		out := h.envelope(`{"type":"direct",`, c, f.Data)
		h.fanout(h.members(h.users, f.ToUser), c, true, out)
	}
}

func (h *fakeHub) verify(tok string) (string, bool) {
	t, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(h.secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return "", false
	}
	sub, err := t.Claims.GetSubject()
	return sub, err == nil && sub != ""
}

func (h *fakeHub) envelope(head string, from *fakeConn, data json.RawMessage) []byte {
	return []byte(head + `"from":{"user":"` + from.user + `","conn_id":"` + from.id + `"},"data":` +
		string(data) + `,"msg_id":"m` + strconv.FormatInt(h.seq.Add(1), 10) +
		`","ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`)
}

func (h *fakeHub) fanout(to []*fakeConn, from *fakeConn, echo bool, msg []byte) {
	for _, c := range to {
		if c == from && !echo {
			continue
		}
		n := h.deliveries.Add(1)
		if h.dropEvery > 0 && n%h.dropEvery == 0 {
			h.dropped.Add(1)
			continue
		}
		c.write(msg)
		if h.dupEvery > 0 && n%h.dupEvery == 0 {
			h.duplicated.Add(1)
			c.write(msg)
		}
	}
}

func (h *fakeHub) add(idx map[string]map[*fakeConn]bool, key string, c *fakeConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if idx[key] == nil {
		idx[key] = map[*fakeConn]bool{}
	}
	idx[key][c] = true
}

func (h *fakeHub) members(idx map[string]map[*fakeConn]bool, key string) []*fakeConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*fakeConn, 0, len(idx[key]))
	for c := range idx[key] {
		out = append(out, c)
	}
	return out
}

func (h *fakeHub) drop(c *fakeConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.all, c)
	for _, idx := range []map[string]map[*fakeConn]bool{h.rooms, h.users} {
		for _, set := range idx {
			delete(set, c)
		}
	}
	c.ws.Close()
}

// closeAll closes every server-side socket so that handlers return.
func (h *fakeHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.all {
		c.ws.Close()
	}
}

func (c *fakeConn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.WriteMessage(websocket.TextMessage, b)
}
