package node

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/internal/settings"
)

// TestConfigDefaultsAreTheConstants: a zero Config takes exactly the
// Default constants, which wsnode's flags show as their defaults.
func TestConfigDefaultsAreTheConstants(t *testing.T) {
	c := Config{}.WithDefaults()
	want := Config{
		Guests: GuestsOff, RoomsPolicy: RoomsOpen, AuthTimeout: DefaultAuthTimeout, PingInterval: DefaultPingInterval,
		PongTimeout: DefaultPongTimeout, WriteTimeout: DefaultWriteTimeout, MaxMessageSize: DefaultMaxMessageSize,
		SendQueueSize: DefaultSendQueueSize, MaxQueuedBytes: DefaultMaxQueuedBytes, MessageRate: DefaultMessageRate,
		MessageBurst: 2 * DefaultMessageRate, MaxStrikes: DefaultMaxStrikes, MaxRoomsPerConn: DefaultMaxRoomsPerConn,
		MaxConns: DefaultMaxConns, MaxConnsPerIP: DefaultMaxConnsPerIP, MaxPendingConnects: DefaultMaxPendingConnects, SetupConcurrency: DefaultSetupConcurrency,
		InactiveTimeout:   DefaultInactiveTimeout,
		HeartbeatInterval: DefaultHeartbeatInterval, ReapInterval: DefaultReapInterval,
		FlushInterval: DefaultFlushInterval, RedisTimeout: DefaultRedisTimeout, Logger: c.Logger,
	}
	if c.Logger == nil {
		t.Fatal("no default logger")
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n%+v\nwant\n%+v", c, want)
	}
	// Unlimited survives the defaults.
	u := Config{MessageRate: Unlimited, MaxConns: Unlimited, MaxConnsPerIP: Unlimited, InactiveTimeout: Unlimited}.WithDefaults()
	if u.MessageRate != Unlimited || u.MaxConns != Unlimited || u.MaxConnsPerIP != Unlimited || u.InactiveTimeout != Unlimited {
		t.Fatalf("Unlimited replaced by defaults: %+v", u)
	}
}

// TestConfigValidation: a value out of range, or two that do not fit
// together, is a *settings.Error that names the fields concerned.
func TestConfigValidation(t *testing.T) {
	v, err := auth.NewVerifier(0, "config-secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		tune  func(*Config)
		names []string // nil: valid
		text  string
	}{
		{"defaults", func(*Config) {}, nil, ""},
		{"unlimited", func(c *Config) {
			c.MessageRate, c.MaxConns, c.MaxConnsPerIP, c.InactiveTimeout = Unlimited, Unlimited, Unlimited, Unlimited
		}, nil, ""},
		{"flush at the cap", func(c *Config) { c.FlushInterval = MaxFlushInterval }, nil, ""},
		{"flush above the cap", func(c *Config) { c.FlushInterval = 2 * time.Second },
			[]string{"FlushInterval"}, "FlushInterval (2s) must be at most 1s"},
		{"negative duration", func(c *Config) { c.HeartbeatInterval = -time.Second },
			[]string{"HeartbeatInterval"}, "HeartbeatInterval (-1s) must not be negative"},
		{"queue budget below one message", func(c *Config) { c.MaxMessageSize, c.MaxQueuedBytes = 4096, 4095 },
			[]string{"MaxQueuedBytes", "MaxMessageSize"}, "MaxQueuedBytes (4095) must be at least MaxMessageSize (4096)"},
		{"queue budget of one message", func(c *Config) { c.MaxMessageSize, c.MaxQueuedBytes = 4096, 4096 }, nil, ""},
		{"pong timeout within the ping lateness", func(c *Config) { c.PongTimeout = time.Second },
			[]string{"PongTimeout", "PingInterval"}, "PongTimeout (1s) must be longer than 1s (a quarter of PingInterval 25s"},
		{"short ping interval", func(c *Config) { c.PingInterval, c.PongTimeout = 400*time.Millisecond, 101*time.Millisecond }, nil, ""},
		{"short ping interval, pong too short", func(c *Config) { c.PingInterval, c.PongTimeout = 400*time.Millisecond, 100*time.Millisecond },
			[]string{"PongTimeout", "PingInterval"}, "must be longer than 100ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{NodeID: "n1", Verifier: v}
			tt.tune(&c)
			c.setDefaults()
			err := c.validate()
			if tt.names == nil {
				if err != nil {
					t.Fatalf("validate = %v, want nil", err)
				}
				return
			}
			var se *settings.Error
			if !errors.As(err, &se) {
				t.Fatalf("validate = %v, want a *settings.Error", err)
			}
			if !slices.Equal(se.Settings(), tt.names) || !strings.Contains(err.Error(), tt.text) || !strings.HasPrefix(err.Error(), "node: ") {
				t.Fatalf("validate = %q naming %q, want %q naming %q", err, se.Settings(), tt.text, tt.names)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.MaxMessageSize != 64<<10 || c.SendQueueSize != 256 || c.MaxRoomsPerConn != 128 || c.AuthTimeout != 10*time.Second ||
		c.FlushInterval != time.Second || c.MessageBurst != 200 || c.Guests != GuestsOff {
		t.Fatalf("defaults: %+v", c)
	}
	c = Config{} // a FlushInterval above MaxFlushInterval is an error now: TestConfigValidation
	c.setDefaults()
	if c.FlushInterval != time.Second {
		t.Fatalf("flush interval not defaulted: %v", c.FlushInterval)
	}
	if err := c.validate(); err == nil {
		t.Fatal("config without NodeID validated")
	}
}
