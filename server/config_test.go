package server

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/internal/settings"
	"github.com/wsnode/wsnode/node"
)

// TestNewKeepsNodeLogger: server fills Node.Logger only when the caller
// left it nil.
func TestNewKeepsNodeLogger(t *testing.T) {
	m := miniredis.RunT(t)
	own := slog.New(slog.DiscardHandler)
	tn := MustNode(t, m.Addr(), "n1", func(c *Config) { c.Node.Logger = own })
	if got := tn.srv.node.Config().Logger; got != own {
		t.Fatalf("Node.Logger replaced: %p, want the caller's %p", got, own)
	}
	base := MustNode(t, m.Addr(), "n2", nil)
	if got := base.srv.node.Config().Logger; got == nil || got == own {
		t.Fatalf("Node.Logger %p, want the server's Logger", got)
	}
}

// TestNewChecksSettingsTogether: New refuses settings that do not fit
// together, naming both fields, before it touches Redis.
func TestNewChecksSettingsTogether(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	v, err := auth.NewVerifier(0, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		name  string
		cfg   Config
		names []string
		text  string
	}{
		{"heartbeat TTL against the default interval", Config{HeartbeatTTL: 4 * time.Second},
			[]string{"HeartbeatTTL", "Node.HeartbeatInterval"}, "HeartbeatTTL (4s) must be more than twice Node.HeartbeatInterval (2s)"},
		{"default TTL against a long interval", Config{Node: node.Config{HeartbeatInterval: 3 * time.Second}},
			[]string{"HeartbeatTTL", "Node.HeartbeatInterval"}, "HeartbeatTTL (6s) must be more than twice Node.HeartbeatInterval (3s)"},
		{"negative pub/sub pong wait", Config{PubSubPongWait: -time.Second},
			[]string{"PubSubPongWait"}, "PubSubPongWait (-1s) must not be negative"},
		{"node's own pair", Config{Node: node.Config{MaxMessageSize: 1 << 20, MaxQueuedBytes: 1 << 19}},
			[]string{"MaxQueuedBytes", "MaxMessageSize"}, "node: MaxQueuedBytes (524288) must be at least MaxMessageSize (1048576)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Node.NodeID, cfg.Node.Verifier, cfg.Logger = "n1", v, quiet
			_, err := New(rdb, cfg)
			var se *settings.Error
			if !errors.As(err, &se) || !slices.Equal(se.Settings(), tt.names) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("New = %v, want a settings error naming %q: %q", err, tt.names, tt.text)
			}
		})
	}
}

// TestBrokerReconnectReachesNode: the broker hands its reconnects straight
// to the node (Node.Receiver), which counts them and re-asserts its state.
func TestBrokerReconnectReachesNode(t *testing.T) {
	nodes, m := MustCluster(t, 1, nil)
	n := nodes[0]
	alice := MustUser(t, n, "alice")
	alice.join("lobby")
	m.Close()
	waitFor(t, 10*time.Second, "broker notices the loss", func() bool { return !n.srv.broker.Ready() })
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "node counts the reconnect", func() bool {
		return n.srv.stats.Local().Counters[counter.CtrReconnects] >= 1
	})
	// Routing works again through the new subscriptions.
	alice.send(map[string]any{"type": "message", "room": "lobby", "data": "back"})
	alice.expect("message")
}
