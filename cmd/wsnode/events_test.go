package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/events"
)

// addEvent appends an entry to ws:events with the event field set to v.
func addEvent(t *testing.T, rdb *redis.Client, v string) string {
	t.Helper()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "ws:events",
		Values: []any{events.Field, v}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wsnode events prints one JSON line per event with its entry id, skips a
// malformed entry, acknowledges what it printed, and returns nil when its
// context is canceled.
func TestEventsPrintsAndAcks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after miniredis' cleanup
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	id1 := addEvent(t, rdb, `{"type":"join","ts":1,"node_id":"n1","conn_id":"c1","user":"alice","conn_type":"user","room":"lobby"}`)
	addEvent(t, rdb, `{not json`)
	id2 := addEvent(t, rdb, `{"type":"message","ts":2,"node_id":"n1","conn_id":"c1","conn_type":"user","room":"lobby","data":{"text":"hi"},"msg_id":"m1"}`)

	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := func(name string) (string, bool) {
		if name == "WS_REDIS_URL" {
			return "redis://" + mr.Addr() + "/0", true
		}
		return "", false
	}
	go func() {
		done <- eventsMain(ctx, []string{"--group", "tail", "--consumer", "w1", "--block", "50ms"}, &stdout, &stderr, env)
	}()
	waitUntil(t, "two lines", func() bool { return strings.Count(stdout.String(), "\n") >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("eventsMain: %v\n%s", err, stderr.String())
	}
	want := fmt.Sprintf(`{"id":%q,"event":{"type":"join","ts":1,"node_id":"n1","conn_id":"c1","user":"alice","conn_type":"user","room":"lobby"}}
{"id":%q,"event":{"type":"message","ts":2,"node_id":"n1","conn_id":"c1","conn_type":"user","room":"lobby","data":{"text":"hi"},"msg_id":"m1"}}
`, id1, id2)
	if stdout.String() != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	p, err := rdb.XPending(context.Background(), "ws:events", "tail").Result()
	if err != nil || p.Count != 0 {
		t.Fatalf("pending %+v, %v", p, err)
	}
	if l := stderr.String(); !strings.Contains(l, "malformed") || !strings.Contains(l, "handled=2 malformed=1") {
		t.Errorf("log:\n%s", l)
	}
}

func TestEventsFlagErrors(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--group", "g"}, "--redis-url"},
		{[]string{"--redis-url", "redis://127.0.0.1:1/0"}, "--group"},
		{[]string{"--redis-url", "redis://127.0.0.1:1/0", "--group", "g", "--claim-idle", "-1s"}, "ClaimMinIdle"},
		{[]string{"--redis-url", "redis://127.0.0.1:1/0", "--group", "g", "--key-prefix", "a:b"}, "prefix"},
		{[]string{"--redis-url", "nope://x", "--group", "g"}, "--redis-url"},
		{[]string{"--redis-url", "redis://127.0.0.1:1/0", "--group", "g", "extra"}, "unexpected argument"},
	} {
		var out syncBuffer
		err := eventsMain(context.Background(), tc.args, &out, &out, none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("wsnode events %s: %v, want an error about %s", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// The process prints events until SIGTERM, then exits 0.
func TestEventsProcessStopsOnSIGTERM(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ids := []string{
		addEvent(t, rdb, `{"type":"connect","conn_id":"c1","conn_type":"user"}`),
		addEvent(t, rdb, `{"type":"disconnect","conn_id":"c1","conn_type":"user","code":1000}`),
	}
	cmd := mainCmd(t, "events", "--group", "g", "--consumer", "w1", "--block", "100ms")
	cmd.Env = append(cmd.Env, "WS_REDIS_URL=redis://"+mr.Addr()+"/0", "WS_GROUP=ignored")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for _, id := range ids {
		if !sc.Scan() {
			t.Fatalf("no line for %s: %v\n%s", id, sc.Err(), stderr.String())
		}
		var l eventLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.ID != id {
			t.Fatalf("line %s: %v, want id %s", sc.Bytes(), err, id)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // until the process closes stdout
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
}
