package server

import (
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/protocol"
)

func TestBadInput(t *testing.T) {
	for _, row := range badRows() {
		t.Run(row.name, func(t *testing.T) {
			e := badStart(t, row.tune)
			row.run(t, e)
			if !t.Failed() {
				e.finish()
			}
		})
	}
}

func badRows() []badRow {
	var rows []badRow
	rows = append(rows, badHandshakeRows()...)
	rows = append(rows, badTokenRows()...)
	rows = append(rows, badFrameRows()...)
	rows = append(rows, badLimitRows()...)
	rows = append(rows, badTransportRows()...)
	return rows
}

func badHandshakeRows() []badRow {
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	return []badRow{
		{name: "origin not in allow-list gets 403 and no Redis write",
			tune: func(c *Config) { c.Node.AllowedOrigins = []string{"https://app.example"} },
			run: func(t *testing.T, e *badEnv) {
				for _, o := range []string{"https://evil.example", "https://app.example.evil.example",
					"https://APP.example", "http://app.example", "null", e.node().client.URL} {
					e.refused(e.node(), origin(o), http.StatusForbidden)
				}
				e.unchanged()
				e.connect(e.node(), origin("https://app.example")).alive()
			}},
		{name: "cross-origin with an empty allow-list gets 403",
			run: func(t *testing.T, e *badEnv) {
				e.refused(e.node(), origin("https://evil.example"), http.StatusForbidden)
				e.unchanged()
				e.connect(e.node(), origin(e.node().client.URL)).alive() // same origin
				e.connect(e.node(), nil).alive()                         // no Origin: not a browser
			}},
		{name: "bad bearer token on the upgrade gets 401 and no Redis write",
			run: func(t *testing.T, e *badEnv) {
				bad := e.sign(jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(time.Hour).Unix()})
				for _, h := range []string{"Bearer " + bad, "Bearer ", "Basic " + bad, bad} {
					e.refused(e.node(), http.Header{"Authorization": {h}}, http.StatusUnauthorized)
				}
				e.unchanged()
				c := e.connect(e.node(), http.Header{"Authorization": {"Bearer " + e.token("bob", "user", time.Hour)}})
				if f := c.expect("authenticated"); f.User != "bob" {
					t.Fatalf("header auth: %s", f.raw)
				}
			}},
		{name: "max connections per node gets 503 before the upgrade",
			tune: func(c *Config) { c.Node.MaxConns = 2 },
			run: func(t *testing.T, e *badEnv) {
				a, b := e.connect(e.node(), nil), e.connect(e.node(), nil)
				before := e.snapshot()
				e.refused(e.node(), nil, http.StatusServiceUnavailable)
				if got := e.snapshot(); !maps.Equal(got, before) {
					t.Fatalf("refused handshake changed Redis:\n got %v\nwant %v", got, before)
				}
				_ = a.ws.Close()
				e.noTraces(a.id)
				waitFor(t, badWait, "slot freed", func() bool {
					c, _, err := e.dial(e.node(), nil, nil)
					if err == nil {
						_ = c.ws.Close()
					}
					return err == nil
				})
				b.alive()
			}},
		{name: "max connections per IP gets 429, X-Forwarded-For ignored from untrusted peers",
			tune: func(c *Config) { c.Node.MaxConnsPerIP = 1 },
			run: func(t *testing.T, e *badEnv) {
				e.connect(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.1"}})
				e.refused(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.2"}}, http.StatusTooManyRequests)
				e.refused(e.node(), nil, http.StatusTooManyRequests)
			}},
		{name: "max connections per IP counts the X-Forwarded-For client behind a trusted proxy",
			tune: func(c *Config) {
				c.Node.MaxConnsPerIP = 1
				c.Node.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			},
			run: func(t *testing.T, e *badEnv) {
				a := e.connect(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.1"}})
				// A client-supplied entry left of the proxy's own is not believed.
				b := e.connect(e.node(), http.Header{"X-Forwarded-For": {"203.0.113.1, 203.0.113.2"}})
				e.refused(e.node(), http.Header{"X-Forwarded-For": {"198.51.100.7, 203.0.113.1"}}, http.StatusTooManyRequests)
				for c, ip := range map[*badConn]string{a: "203.0.113.1", b: "203.0.113.2"} {
					if got := e.mr.HGet(badPrefix+":conn:"+c.id, "ip"); got != ip {
						t.Errorf("registered ip %q, want %q", got, ip)
					}
				}
			}},
		{name: "permessage-deflate is not negotiated even when offered",
			run: func(t *testing.T, e *badEnv) {
				c, resp, err := e.dial(e.node(), &websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
					t.Fatalf("server negotiated %q", ext)
				}
				c.read()
				c.expect("welcome")
				c.alive()
			}},
	}
}

func badTokenRows() []badRow {
	exp := func() int64 { return time.Now().Add(time.Hour).Unix() }
	key := []byte(badSecret)
	rows := []struct {
		name  string
		token func(e *badEnv) any // nil: no "token" field
		msg   string
	}{
		{"missing token", func(*badEnv) any { return nil }, "invalid token"},
		{"empty token", func(*badEnv) any { return "" }, "invalid token"},
		{"token of the wrong JSON type", func(*badEnv) any { return 42 }, ""},
		{"garbage token", func(*badEnv) any { return "not.a.jwt" }, "invalid token"},
		{"expired token", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve", "exp": time.Now().Add(-time.Minute).Unix()})
		}, "token expired"},
		{"bad signature", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, []byte("not-the-secret"), jwt.MapClaims{"sub": "eve", "exp": exp()})
		}, "invalid token"},
		{"alg none", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "eve", "exp": exp()})
		}, "invalid token"},
		{"alg HS512 with the right secret", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS512, key, jwt.MapClaims{"sub": "eve", "exp": exp()})
		}, "invalid token"},
		{"missing sub", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"exp": exp()})
		}, "invalid token"},
		{"missing exp", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve"})
		}, "invalid token"},
		{"guest conn_type", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve", "exp": exp(), "conn_type": "guest"})
		}, "invalid token"},
		{"sub with the key separator", func(e *badEnv) any {
			return e.sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "eve:admin", "exp": exp()})
		}, "user name"},
	}
	var out []badRow
	for _, r := range rows {
		out = append(out, badRow{name: "token: " + r.name, run: func(t *testing.T, e *badEnv) {
			c := e.connect(e.node(), nil)
			req := map[string]any{"type": "auth", "id": 1}
			if tok := r.token(e); tok != nil {
				req["token"] = tok
			}
			c.send(req)
			if r.msg == "" { // wrong JSON type: a malformed frame, then the auth timeout does the rest
				c.expectError("bad_request")
				c.alive()
				return
			}
			f := c.expectError("auth_failed")
			if !strings.Contains(f.Message, r.msg) || string(f.Ref) != "1" {
				t.Errorf("error frame %s, want message containing %q and ref 1", f.raw, r.msg)
			}
			c.expectClose(protocol.CloseAuthFailed)
			e.noTraces(c.id)
		}})
	}
	out = append(out,
		badRow{name: "silence after connect closes 4501 at the auth timeout",
			tune: func(c *Config) { c.Node.AuthTimeout = 300 * time.Millisecond },
			run: func(t *testing.T, e *badEnv) {
				start := time.Now()
				c := e.connect(e.node(), nil)
				c.expectError("auth_timeout")
				c.expectClose(protocol.CloseAuthTimeout)
				if d := time.Since(start); d < 250*time.Millisecond {
					t.Errorf("closed after %v, before the auth timeout", d)
				}
				e.noTraces(c.id)
			}},
		badRow{name: "token expiring mid-session closes 4005",
			run: func(t *testing.T, e *badEnv) {
				// exp has one-second precision: this token expires 0.5-1.5 s from now.
				c := e.connect(e.node(), nil)
				c.send(map[string]any{"type": "auth", "token": e.token("erin", "user", 1500*time.Millisecond)})
				c.expect("authenticated")
				c.send(map[string]any{"type": "join", "room": "lobby"})
				c.expect("joined")
				start := time.Now()
				c.expectClose(protocol.CloseTokenExpired)
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("closed %v after auth, want at expiry", d)
				}
				e.noTraces(c.id)
			}},
		badRow{name: "re-authentication on an authenticated connection is refused",
			run: func(t *testing.T, e *badEnv) {
				c := e.user(e.node(), "fay", "user")
				c.send(map[string]any{"type": "auth", "token": e.token("mallory", "system", time.Hour)})
				c.expectError("already_authenticated")
				c.send(map[string]any{"type": "broadcast", "data": 1})
				c.expectError("forbidden") // still fay, a user
				c.alive()
			}},
	)
	return out
}
