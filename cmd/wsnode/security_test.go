package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/server"
)

func TestCheckAdminExposure(t *testing.T) {
	tests := []struct {
		addr, key string
		ok        bool
	}{
		{"127.0.0.1:9090", "", true},
		{"127.0.0.2:9090", "", true},
		{"localhost:9090", "", true},
		{"[::1]:9090", "", true},
		{":9090", "", false}, // every interface
		{"0.0.0.0:9090", "", false},
		{"[::]:9090", "", false},
		{"10.0.0.5:9090", "", false},
		{"admin.internal:9090", "", false},
		{"127.0.0.1", "", false}, // no port: rejected as malformed
		{":9090", "k", true},
		{"0.0.0.0:9090", "k", true},
	}
	for _, tt := range tests {
		m := &Main{opts: options{adminAddr: tt.addr, cfg: server.Config{AdminKey: tt.key}}}
		err := m.checkAdminExposure()
		if (err == nil) != tt.ok {
			t.Errorf("checkAdminExposure(%q, key=%q) = %v, want ok=%v", tt.addr, tt.key, err, tt.ok)
		}
	}
}

// TestRefusesExposedAdminWithoutKey runs the real program: it must stop
// before serving anything.
func TestRefusesExposedAdminWithoutKey(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("WS_ADMIN_KEY", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr strings.Builder
	err := run(ctx, []string{"--addr", "127.0.0.1:0", "--admin-addr", "0.0.0.0:0"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--admin-key") {
		t.Fatalf("run with a public admin address and no key: %v, want a refusal naming --admin-key", err)
	}
}

func TestHTTPServerTimeouts(t *testing.T) {
	hs := newHTTPServer(http.NotFoundHandler())
	if hs.ReadHeaderTimeout <= 0 || hs.ReadHeaderTimeout > 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %v, want set and at most 10s", hs.ReadHeaderTimeout)
	}
	if hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("ReadTimeout %v, WriteTimeout %v, IdleTimeout %v: all must be set", hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	if hs.MaxHeaderBytes <= 0 || hs.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d", hs.MaxHeaderBytes)
	}
}

// TestSlowlorisDropped: a client that never finishes its request headers is
// disconnected at ReadHeaderTimeout (scaled down here), however slowly it
// keeps sending.
func TestSlowlorisDropped(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	hs := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("handler reached by an incomplete request")
	}))
	hs.ReadHeaderTimeout = 200 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(l) }()
	defer func() { _ = hs.Close(); <-served }()

	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"); err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("X")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	elapsed := time.Since(start)
	close(stop)
	<-stopped
	var ne net.Error
	switch {
	case err == nil:
		_ = resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("incomplete headers answered %d", resp.StatusCode)
		}
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("connection still open after 5s")
	}
	if elapsed < 150*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("dropped after %v, want about 200ms", elapsed)
	}
}

// TestLimitFlags: every limit has a flag, an env twin and the documented
// default (docs/security.md).
func TestLimitFlags(t *testing.T) {
	defaults := map[string]string{
		"max-message-size":    "65536",
		"msg-rate":            "100",
		"msg-burst":           "0",
		"max-strikes":         "20",
		"max-rooms-per-conn":  "128",
		"max-conns-per-user":  "16",
		"max-conns-per-ip":    "1000",
		"max-conns":           "15000",
		"send-queue":          "256",
		"max-queued-bytes":    "4194304",
		"auth-timeout":        "10s",
		"ping-interval":       "25s",
		"pong-timeout":        "10s",
		"write-timeout":       "10s",
		"inactive-timeout":    "5m0s",
		"allowed-origins":     "",
		"trusted-proxies":     "",
		"guests":              "off",
		"admin-addr":          "127.0.0.1:9090",
		"admin-key":           "",
		"jwt-secret-previous": "",
	}
	var o options
	fs := newFlagSet(&o)
	env := map[string]string{}
	for name, def := range defaults {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("no --%s flag", name)
			continue
		}
		if f.DefValue != def {
			t.Errorf("--%s default %q, documented %q", name, f.DefValue, def)
		}
		env[envName(name)] = "7"
	}
	env["WS_MAX_MESSAGE_SIZE"] = "4096"
	env["WS_MAX_QUEUED_BYTES"] = "8192" // at least the message size
	env["WS_GUESTS"] = "read"
	env["WS_AUTH_TIMEOUT"] = "3s"
	env["WS_PING_INTERVAL"], env["WS_PONG_TIMEOUT"], env["WS_WRITE_TIMEOUT"], env["WS_INACTIVE_TIMEOUT"] = "3s", "3s", "3s", "3s"
	env["WS_ALLOWED_ORIGINS"], env["WS_TRUSTED_PROXIES"] = "https://a.example", "10.0.0.0/8"
	env["WS_ADMIN_ADDR"] = "127.0.0.1:1"
	if err := parseFlags(fs, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := o.finish(); err != nil {
		t.Fatal(err)
	}
	n := o.cfg.Node
	if n.MaxMessageSize != 4096 || n.MaxRoomsPerConn != 7 || n.MaxConns != 7 || n.MaxConnsPerIP != 7 ||
		o.cfg.MaxConnsPerUser != 7 || n.MessageRate != 7 || n.MaxStrikes != 7 || n.AuthTimeout != 3*time.Second ||
		n.Guests != "read" || len(n.AllowedOrigins) != 1 || len(n.TrustedProxies) != 1 {
		t.Errorf("env twins not applied: %+v (per user %d)", n, o.cfg.MaxConnsPerUser)
	}
}
