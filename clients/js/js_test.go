package jsclient_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestJSClient runs the JavaScript client's own suite (test/*.test.js) with
// Node's test runner, so that `go test ./...` covers it: the unit tests against
// a fake WebSocket and the integration tests against a wsnode binary built
// here once. Without Node >= 20 it skips, unless WS_REQUIRE_NODE=1 (CI) makes
// that a failure.
func TestJSClient(t *testing.T) {
	node := findNode(t)
	bin := filepath.Join(t.TempDir(), "wsnode")
	// go test puts its own GOROOT/bin first in PATH, so "go" is this toolchain.
	build := exec.Command("go", "build", "-o", bin, "github.com/wsnode/wsnode/cmd/wsnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/wsnode: %v\n%s", err, out)
	}

	files, err := filepath.Glob(filepath.Join("test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test/*.test.js files (%v)", err)
	}
	sort.Strings(files)
	args := append(webSocketFlags(node), "--test")
	args = append(args, files...)

	// The suite takes ~10 s; the bound is for a hung node, not for speed.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "WSNODE_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("node --test: %s", summary(out))
}

// findNode returns the path of a node binary of version 20 or later, or skips
// (fails under WS_REQUIRE_NODE=1).
func findNode(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("WS_REQUIRE_NODE") == "1" {
			t.Fatalf("%s, and WS_REQUIRE_NODE=1", why)
		}
		t.Skipf("%s: the JS client's tests need Node >= 20 (set WS_REQUIRE_NODE=1 to make this a failure)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found in PATH")
	}
	out, err := exec.Command(node, "-p", "process.versions.node").Output()
	if err != nil {
		missing("node -p process.versions.node failed: " + err.Error())
	}
	version := strings.TrimSpace(string(out))
	major, err := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	if err != nil || major < 20 {
		missing("node " + version + " is older than 20")
	}
	return node
}

// webSocketFlags returns --experimental-websocket when this node has no global
// WebSocket without it (Node 20); Node 22 and later have it by default.
func webSocketFlags(node string) []string {
	err := exec.Command(node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)").Run()
	if err == nil {
		return nil
	}
	return []string{"--experimental-websocket"}
}

// summary picks the runner's totals ("# tests 69", "# pass 69", ...) from its output.
func summary(out []byte) string {
	var parts []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, key := range []string{"# tests ", "# pass ", "# fail ", "# skipped ", "# duration_ms "} {
			if strings.HasPrefix(line, key) {
				parts = append(parts, strings.TrimPrefix(line, "# "))
			}
		}
	}
	return strings.Join(parts, ", ")
}
