package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRequestMatching: answers are matched by ref, not by order; an error
// frame answering a request is an *Error; an unanswered request ends at
// its context deadline, and its late answer confuses nobody.
func TestRequestMatching(t *testing.T) {
	_, c, _, _, fc := startFake(t, Config{})
	ctx := context.Background()
	type res struct {
		f   Frame
		err error
	}
	r1, r2 := make(chan res, 1), make(chan res, 1)
	go func() { f, err := c.Request(ctx, map[string]any{"type": "history", "room": "a"}); r1 <- res{f, err} }()
	q1 := fc.expect("history")
	go func() { f, err := c.Request(ctx, map[string]any{"type": "history", "room": "b"}); r2 <- res{f, err} }()
	q2 := fc.expect("history")
	if q1["id"] == q2["id"] {
		t.Fatalf("two requests with one id %v", q1["id"])
	}
	// Answer the second first.
	fc.send(map[string]any{"type": "history", "room": "b", "ref": q2["id"]})
	fc.send(map[string]any{"type": "error", "code": "not_member", "message": "no", "ref": q1["id"]})
	if a := <-r2; a.err != nil || a.f.Room != "b" {
		t.Fatalf("second request got %+v", a)
	}
	var e *Error
	if a := <-r1; !errors.As(a.err, &e) || e.Code != "not_member" || e.Frame.Type != "error" {
		t.Fatalf("first request got %+v, want *Error not_member", a)
	}

	// No answer: the context's deadline ends the wait.
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	go func() { _, err := c.Ping(tctx); r1 <- res{err: err} }()
	late := fc.expect("ping")
	if a := <-r1; !errors.Is(a.err, context.DeadlineExceeded) {
		t.Fatalf("unanswered ping: %v", a.err)
	}
	// Its late answer arrives before the next request's: ignored.
	go func() { f, err := c.Ping(ctx); r2 <- res{f, err} }()
	next := fc.expect("ping")
	fc.send(map[string]any{"type": "pong", "ref": late["id"], "ts": 1})
	fc.send(map[string]any{"type": "pong", "ref": next["id"], "ts": 2})
	if a := <-r2; a.err != nil || a.f.TS != 2 {
		t.Fatalf("next ping got %+v, want the pong with ts 2", a)
	}
}

// TestRequestDefaultTimeout: without a deadline, RequestTimeout applies.
func TestRequestDefaultTimeout(t *testing.T) {
	_, c, _, _, fc := startFake(t, Config{RequestTimeout: 300 * time.Millisecond})
	errc := make(chan error, 1)
	go func() { _, err := c.Ping(context.Background()); errc <- err }()
	fc.expect("ping")
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Ping: %v", err)
		}
	case <-time.After(fakeWait):
		t.Fatal("RequestTimeout not applied")
	}
}

// TestRequestConnectionLost: a socket that ends before the answer fails
// the request with ErrConnectionLost (not a timeout).
func TestRequestConnectionLost(t *testing.T) {
	_, c, _, ev, fc := startFake(t, Config{})
	errc := make(chan error, 1)
	go func() { _, err := c.Ping(context.Background()); errc <- err }()
	fc.expect("ping")
	fc.kill()
	if err := <-errc; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Ping: %v, want ErrConnectionLost", err)
	}
	ev.waitFor(t, StateDisconnected)
}

// TestApplicationPingIsAnswered: the node's {"type":"ping"} gets a pong,
// and unsolicited frames reach their callbacks.
func TestApplicationPingIsAnswered(t *testing.T) {
	got := make(chan Frame, 3)
	_, _, _, _, fc := startFake(t, Config{
		OnDirect: func(f Frame) { got <- f }, OnError: func(f Frame) { got <- f }, OnBroadcast: func(f Frame) { got <- f }})
	fc.send(map[string]any{"type": "ping", "ts": 5})
	if p := fc.expect("pong"); p["id"] != nil {
		t.Fatalf("pong %v", p)
	}
	fc.send(map[string]any{"type": "direct", "data": "d", "from": map[string]any{"user": "bob"}})
	fc.send(map[string]any{"type": "broadcast", "data": "b"})
	fc.send(map[string]any{"type": "error", "code": "rate_limited", "message": "slow down"})
	for _, want := range []string{"direct", "broadcast", "error"} {
		select {
		case f := <-got:
			if f.Type != want {
				t.Fatalf("callback got %s, want %s", f.Raw, want)
			}
		case <-time.After(fakeWait):
			t.Fatalf("no %s callback", want)
		}
	}
}

// TestDeadConnectionDetected: nothing for ping_interval_ms + PingMargin
// means the socket is dead: the client drops it (1006) and reconnects.
func TestDeadConnectionDetected(t *testing.T) {
	f := newFakeServer(t)
	ev := newEvents()
	c := New(f.url(), Config{Token: "tok", PingMargin: 100 * time.Millisecond, Clock: &fakeClock{}, Rand: half, OnState: ev.on})
	c.Start()
	defer c.Close()
	fc := f.accept()
	fc.welcome(100) // then silence, though the socket stays open
	a := fc.expect("auth")
	fc.send(map[string]any{"type": "authenticated", "ref": a["id"], "user": "alice"})
	ev.waitFor(t, StateConnected)
	e := ev.waitFor(t, StateDisconnected)
	if e.Code != CodeAbnormal || e.Err == nil {
		t.Fatalf("disconnected %+v, want 1006 with a reason", e)
	}
	f.accept().handshake()
	ev.waitFor(t, StateConnected)
}
