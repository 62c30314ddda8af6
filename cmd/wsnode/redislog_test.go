package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsnode/wsnode/internal/freeport"
)

// TestRedisLoggerLevels: a go-redis line arrives as one slog record, at
// Warn (Error for a panic), filtered by the node's level.
func TestRedisLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := redisLogger{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "refused")
	l.Printf(context.Background(), "addIdleConn panic: %+v\n", "boom")
	//lint:ignore SA1012 a nil context must not crash the adapter
	l.Printf(nil, "sentinel: new master=%q addr=%q", "m", "a")
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not one JSON record per line: %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	want := []struct{ level, msg string }{
		{"WARN", "connection pool: failed to dial after 5 attempts: refused"},
		{"ERROR", "addIdleConn panic: boom"},
		{"WARN", `sentinel: new master="m" addr="a"`},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(recs), len(want), buf.String())
	}
	for i, w := range want {
		if recs[i]["level"] != w.level || recs[i]["msg"] != w.msg || recs[i]["component"] != "go-redis" {
			t.Errorf("record %d = %v, want level %s msg %q component go-redis", i, recs[i], w.level, w.msg)
		}
	}
	buf.Reset()
	quiet := redisLogger{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))}
	quiet.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "refused")
	if buf.Len() != 0 {
		t.Errorf("a Warn passed --log-level error: %s", buf.String())
	}
}

// TestJSONLogsWithRedisDown runs wsnode with --log-format json against a
// Redis port nobody listens on: go-redis' dial failures, the node's own
// warnings and its exit error are all JSON lines, on stderr and stdout.
func TestJSONLogsWithRedisDown(t *testing.T) {
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := mainCmd(t, "--log-format", "json", "--redis-url", fmt.Sprintf("redis://127.0.0.1:%d/0?max_retries=-1", ports[0]),
		"--jwt-secret", "s", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--shutdown-timeout", "1s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one stream, in order
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { _ = cmd.Process.Kill(); <-done }()
	lines := make(chan string, 1000)
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var all []string
	timeout := time.After(20 * time.Second)
	signalled := false
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				checkJSONLines(t, all)
				if err := cmd.Wait(); err == nil {
					t.Error("exit 0 although the drain could not reach Redis; want 1")
				}
				return
			}
			all = append(all, line)
			if !signalled && strings.Contains(line, `"msg":"wsnode serving"`) {
				signalled = true
				_ = cmd.Process.Signal(syscall.SIGINT)
			}
		case <-timeout:
			t.Fatalf("wsnode did not serve and stop within 20 s; output:\n%s", strings.Join(all, "\n"))
		}
	}
}

func checkJSONLines(t *testing.T, lines []string) {
	t.Helper()
	fromRedis := 0
	for _, line := range lines {
		if strings.HasPrefix(line, "SCHED ") {
			continue // the Go runtime's own trace line, on hosts up for 24.8 days or more (sysmon.go)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if r["component"] == "go-redis" {
			fromRedis++
		}
	}
	if fromRedis == 0 {
		t.Errorf("no line from go-redis (component go-redis) although Redis was down:\n%s", strings.Join(lines, "\n"))
	}
}
