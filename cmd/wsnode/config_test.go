package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsnode/wsnode/admin"
	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/history"
	"github.com/wsnode/wsnode/joinhook"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/pubsub"
	"github.com/wsnode/wsnode/registry"
	"github.com/wsnode/wsnode/server"
)

// configDefaults are the flags whose defaults the packages define, with
// those definitions.
var configDefaults = map[string]any{
	"key-prefix":               registry.DefaultPrefix,
	"heartbeat-ttl":            registry.DefaultHeartbeatTTL,
	"max-conns-per-user":       server.DefaultMaxConnsPerUser,
	"pubsub-ping-interval":     pubsub.DefaultPingInterval,
	"pubsub-pong-wait":         pubsub.DefaultPongWait,
	"pubsub-subscribe-timeout": pubsub.DefaultSubscribeTimeout,
	"pubsub-publish-timeout":   pubsub.DefaultPublishTimeout,
	"admin-timeout":            admin.DefaultTimeout,
	"admin-max-body-bytes":     admin.DefaultMaxBodyBytes,
	"history-ttl":              history.DefaultTTL,
	"jwt-leeway":               auth.DefaultLeeway,
	"guests":                   node.GuestsOff,
	"auth-timeout":             node.DefaultAuthTimeout,
	"ping-interval":            node.DefaultPingInterval,
	"pong-timeout":             node.DefaultPongTimeout,
	"write-timeout":            node.DefaultWriteTimeout,
	"inactive-timeout":         node.DefaultInactiveTimeout,
	"heartbeat-interval":       node.DefaultHeartbeatInterval,
	"reap-interval":            node.DefaultReapInterval,
	"flush-interval":           node.DefaultFlushInterval,
	"redis-timeout":            node.DefaultRedisTimeout,
	"max-message-size":         node.DefaultMaxMessageSize,
	"send-queue":               node.DefaultSendQueueSize,
	"max-queued-bytes":         node.DefaultMaxQueuedBytes,
	"msg-rate":                 node.DefaultMessageRate,
	"max-strikes":              node.DefaultMaxStrikes,
	"max-rooms-per-conn":       node.DefaultMaxRoomsPerConn,
	"max-conns":                node.DefaultMaxConns,
	"max-conns-per-ip":         node.DefaultMaxConnsPerIP,
	"setup-concurrency":        node.DefaultSetupConcurrency,
}

// TestHelpShowsConfigDefaults: wsnode --help shows, for every flag of a
// Config setting, the default its package defines.
func TestHelpShowsConfigDefaults(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	help := stdout.String() + stderr.String()
	for name, def := range configDefaults {
		// flag.PrintDefaults: "  -name type\n    \tusage (default X)".
		block := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(name) + `(?: [^\n]*)?\n(?:    [^\n]*\n)*`).FindString(help)
		if block == "" {
			t.Errorf("--help does not list --%s", name)
			continue
		}
		want := fmt.Sprint(def)
		if reflect.ValueOf(def).Kind() == reflect.String {
			want = fmt.Sprintf("%q", want)
		}
		if !strings.Contains(block, "(default "+want+")") {
			t.Errorf("--help for --%s does not show the default %s:\n%s", name, want, block)
		}
	}
}

// TestSettingsErrorsNameFlags: a value out of range, or two values that do
// not fit together, stop wsnode before it starts, with an error that names
// the flags (or env twins' flags) concerned.
func TestSettingsErrorsNameFlags(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		env   map[string]string
		flags []string
	}{
		{args: []string{"--heartbeat-interval", "3s"}, flags: []string{"--heartbeat-ttl (6s)", "--heartbeat-interval (3s)"}},
		{args: []string{"--heartbeat-ttl", "4s"}, flags: []string{"--heartbeat-ttl (4s)", "--heartbeat-interval (2s)"}},
		{env: map[string]string{"WS_HEARTBEAT_TTL": "1s", "WS_HEARTBEAT_INTERVAL": "500ms"},
			flags: []string{"--heartbeat-ttl (1s)", "--heartbeat-interval (500ms)"}},
		{args: []string{"--ping-interval", "2s", "--pong-timeout", "400ms"}, flags: []string{"--pong-timeout (400ms)", "--ping-interval 2s"}},
		{args: []string{"--max-message-size", "8192", "--max-queued-bytes", "4096"},
			flags: []string{"--max-queued-bytes (4096)", "--max-message-size (8192)"}},
		{args: []string{"--flush-interval", "2s"}, flags: []string{"--flush-interval (2s) must be at most 1s"}},
		{args: []string{"--pubsub-pong-wait", "-1s"}, flags: []string{"--pubsub-pong-wait (-1s) must not be negative"}},
		{args: []string{"--guests", "maybe"}, flags: []string{`--guests ("maybe")`}},
	} {
		m := &Main{Stdout: new(strings.Builder), Stderr: new(strings.Builder)}
		err := m.ParseFlags(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if err == nil {
			t.Errorf("%v %v: no error", tt.args, tt.env)
			continue
		}
		for _, f := range tt.flags {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("%v %v: error %q does not name %s", tt.args, tt.env, err, f)
			}
		}
		if strings.Contains(err.Error(), "Node.") || strings.Contains(err.Error(), "Interval (") {
			t.Errorf("%v: error %q names a Config field, not a flag", tt.args, err)
		}
	}
	// Unlimited (0 on the command line) and values at the limits are fine.
	m := &Main{Stdout: new(strings.Builder), Stderr: new(strings.Builder)}
	ok := []string{"--max-conns", "0", "--max-conns-per-ip", "0", "--max-conns-per-user", "0", "--msg-rate", "0",
		"--inactive-timeout", "0", "--flush-interval", "1s", "--heartbeat-ttl", "4001ms"}
	if err := m.ParseFlags(ok, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatalf("%v: %v", ok, err)
	}
	c := m.opts.cfg
	if c.Node.MaxConns != node.Unlimited || c.Node.MaxConnsPerIP != node.Unlimited || c.MaxConnsPerUser != node.Unlimited ||
		c.Node.MessageRate != node.Unlimited || c.Node.InactiveTimeout != node.Unlimited {
		t.Fatalf("0 on the command line is not node.Unlimited: %+v", c)
	}
}

// TestSettingsErrorExitStatus: the binary exits 1 on a bad combination and
// says which flags.
func TestSettingsErrorExitStatus(t *testing.T) {
	cmd := mainCmd(t, "--heartbeat-interval", "5s", "--heartbeat-ttl", "10s")
	cmd.Env = append(cmd.Env, "WS_REDIS_URL=") // embedded: nothing to reach
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1:\n%s", err, out)
	}
	if !strings.Contains(string(out), "--heartbeat-ttl (10s) must be more than twice --heartbeat-interval (5s)") {
		t.Fatalf("output does not name both flags:\n%s", out)
	}
}

// TestDocsConfigurationTable: docs/operations.md lists every flag with its
// env twin and, where it gives one, the flag's default; and nothing else.
func TestDocsConfigurationTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| (WS_[A-Z0-9_]+) \\| ([^|]*) \\|")
	var o options
	fs := newFlagSet(&o)
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		name, env, def := m[1], m[2], strings.TrimSpace(m[3])
		seen[name] = true
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("operations.md lists --%s, which wsnode does not have", name)
			continue
		}
		if env != envName(name) {
			t.Errorf("operations.md: --%s has env %s, want %s", name, env, envName(name))
		}
		if !strings.HasPrefix(def, "`") {
			continue // described in words ("empty", "dev secret in embedded mode", ...)
		}
		def = strings.Trim(def, "`")
		if d, err := time.ParseDuration(def); err == nil {
			if fd, err := time.ParseDuration(f.DefValue); err == nil && fd == d {
				continue // "5m" for 5m0s
			}
		}
		if def != f.DefValue {
			t.Errorf("operations.md: --%s default %q, the flag's is %q", name, def, f.DefValue)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			t.Errorf("operations.md does not list --%s", f.Name)
		}
	})
}

// TestEveryKnobHasAFlag: every setting of server.Config and node.Config is
// reachable from the command line, but for those wsnode sets itself.
func TestEveryKnobHasAFlag(t *testing.T) {
	var o options
	newFlagSet(&o)
	own := map[string]bool{
		"Node": true, "History": true, "Logger": true, // History: the --history-* flags below
		"JoinHook": true,                   // the --join-hook* flags below
		"Version":  true, "Verifier": true, // the build; --jwt-secret, --jwt-secret-previous, --jwt-leeway
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(server.Config{}), reflect.TypeOf(node.Config{})} {
		for i := range typ.NumField() {
			if name := typ.Field(i).Name; !own[name] && o.flagOf[name] == "" {
				t.Errorf("%s.%s has no flag", typ, name)
			}
		}
	}
	for name, flagName := range map[string]string{"URL": "join-hook", "NodeID": "node-id", "Timeout": "join-hook-timeout",
		"CacheTTL": "join-hook-cache", "MaxConcurrent": "join-hook-concurrency", "Client": ""} {
		if _, ok := reflect.TypeOf(joinhook.Config{}).FieldByName(name); !ok {
			t.Errorf("joinhook.Config has no field %s", name)
		}
		if flagName != "" && newFlagSet(&options{}).Lookup(flagName) == nil {
			t.Errorf("joinhook.Config.%s has no flag --%s", name, flagName)
		}
	}
	if n := reflect.TypeOf(joinhook.Config{}).NumField(); n != 6 { // Client: for programs, not the command line
		t.Errorf("joinhook.Config has %d fields; give the new one a flag and list it here", n)
	}
	h := history.Config{}
	for i := range reflect.TypeOf(h).NumField() {
		name := reflect.TypeOf(h).Field(i).Name
		flagName := map[string]string{"Size": "history-size", "TTL": "history-ttl", "Rooms": "history-rooms", "Prefix": "key-prefix",
			"Cluster": "redis-mode"}[name]
		if flagName == "" || newFlagSet(&options{}).Lookup(flagName) == nil {
			t.Errorf("history.Config.%s has no flag", name)
		}
	}
}
