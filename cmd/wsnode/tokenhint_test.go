package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestProgCommand(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goRun := "/tmp/go-build1234/b001/exe/wsnode"
	for _, tc := range []struct{ exe, argv0, wd, want string }{
		{goRun, goRun, root, "go run ./cmd/wsnode"},
		{goRun, goRun, t.TempDir(), "go run github.com/wsnode/wsnode/cmd/wsnode"},
		{"/usr/local/bin/wsnode", "wsnode", root, "wsnode"},
		{"/usr/local/bin/wsnode", "/usr/local/bin/wsnode", root, "/usr/local/bin/wsnode"},
		{"/opt/my apps/wsnode", "./wsnode", root, "'/opt/my apps/wsnode'"},
		{"/tmp/go-build1234/b001/wsnode.test", "/tmp/go-build1234/b001/wsnode.test", root, "/tmp/go-build1234/b001/wsnode.test"},
	} {
		if got := progCommandFor(tc.exe, tc.argv0, tc.wd, "github.com/wsnode/wsnode/cmd/wsnode"); got != tc.want {
			t.Errorf("progCommandFor(%q, %q, %q) = %q, want %q", tc.exe, tc.argv0, tc.wd, got, tc.want)
		}
	}
}

// TestTokenHintWorks starts a node three ways (development secret, secret
// in WS_JWT_SECRET, secret in --jwt-secret), takes the token command from
// its start-up log, runs it with sh in a shell environment that has the
// variable the operator set, and authenticates with the token it prints.
// The secret itself is never in the log.
func TestTokenHintWorks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const secret = "hint-secret with spaces *"
	for _, tc := range []struct {
		name      string
		args      []string
		nodeEnv   map[string]string
		shellHasS bool // the operator's shell has WS_JWT_SECRET=secret
	}{
		{name: "dev secret"},
		{name: "env", nodeEnv: map[string]string{"WS_JWT_SECRET": secret}, shellHasS: true},
		{name: "flag", args: []string{"--jwt-secret", secret}, shellHasS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, addr, stop := startHintNode(t, tc.args, tc.nodeEnv)
			defer stop()
			if strings.Contains(log, "hint-secret") {
				t.Fatalf("the secret is in the log:\n%s", log)
			}
			hint := servingField(t, log, "token")
			t.Logf("printed: %s", hint)
			env := shellEnv()
			if tc.shellHasS {
				// Without the variable, the command fails loudly.
				if out, err := shCmd(hint, env).CombinedOutput(); err == nil || !strings.Contains(string(out), "WS_JWT_SECRET") {
					t.Errorf("with WS_JWT_SECRET unset, %q: %v\n%s", hint, err, out)
				}
				env = append(env, "WS_JWT_SECRET="+secret)
			}
			var stdout, stderr bytes.Buffer
			cmd := shCmd(hint, env)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%q: %v\n%s", hint, err, stderr.String())
			}
			authenticate(t, addr, strings.TrimSpace(stdout.String()))
		})
	}
}

// startHintNode runs a node in embedded mode with a JSON log and returns
// the log once it serves, its client address and a stop function.
func startHintNode(t *testing.T, args []string, env map[string]string) (string, string, func()) {
	t.Helper()
	var log syncBuffer
	ready := make(chan string, 1)
	m := &Main{Stdout: &log, Stderr: &log, Ready: func(client, _ string) { ready <- client }}
	args = append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	if err := m.ParseFlags(args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	}
	select {
	case addr := <-ready:
		return log.String(), addr, stop
	case err := <-done:
		cancel()
		t.Fatalf("node stopped: %v\n%s", err, log.String())
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("node not serving after 10 s:\n%s", log.String())
	}
	return "", "", nil
}

// servingField is a field of the "wsnode serving" record.
func servingField(t *testing.T, log, field string) string {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == "wsnode serving" {
			if s, ok := r[field].(string); ok {
				return s
			}
		}
	}
	t.Fatalf("no %q in a \"wsnode serving\" record:\n%s", field, log)
	return ""
}

// shellEnv is this process's environment without any WS_ variable, plus
// what makes the test binary act as wsnode (see TestMain).
func shellEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WS_") {
			env = append(env, kv)
		}
	}
	return append(env, "WSNODE_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
}

func shCmd(command string, env []string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = env
	return cmd
}

// authenticate connects to the node and authenticates with tok.
func authenticate(t *testing.T, addr, tok string) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteJSON(map[string]string{"type": "auth", "token": tok}); err != nil {
		t.Fatal(err)
	}
	for {
		var f struct{ Type, User, Code string }
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("token %q: %v", tok, err)
		}
		switch f.Type {
		case "authenticated":
			if f.User != "alice" {
				t.Fatalf("authenticated as %q, want alice", f.User)
			}
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return
		case "error":
			t.Fatalf("token %q rejected: %s", tok, f.Code)
		}
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
