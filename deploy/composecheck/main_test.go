package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComposeFile: the repository's docker-compose.yml passes.
func TestComposeFile(t *testing.T) {
	if err := check("../../docker-compose.yml"); err != nil {
		t.Fatal(err)
	}
}

// TestCheckFails: a file without the nodes' history, or with a service
// missing, is refused, so the check can fail.
func TestCheckFails(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"history off": func(s string) string { return strings.Replace(s, `WS_HISTORY_SIZE: "100"`, `WS_HISTORY_SIZE: "0"`, 1) },
		"no node3":    func(s string) string { return strings.Replace(s, "  node3:", "  nodeX:", 1) },
		"cnode2 in single mode": func(s string) string {
			return strings.Replace(s, "WS_NODE_ID: cnode2\n      WS_REDIS_MODE: cluster", "WS_NODE_ID: cnode2\n      WS_REDIS_MODE: single", 1)
		},
		"no cluster init": func(s string) string { return strings.Replace(s, "--cluster-replicas 1", "--cluster-replicas 0", 1) },
	} {
		dir := t.TempDir()
		for _, f := range []string{"Dockerfile"} {
			_ = os.WriteFile(filepath.Join(dir, f), nil, 0o600)
		}
		path := filepath.Join(dir, "docker-compose.yml")
		if err := os.WriteFile(path, []byte(edit(string(raw))), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := check(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
