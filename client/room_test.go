package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// joinAnswer answers a join frame the fake node read.
func answerJoin(fc *fakeConn, j map[string]any, extra map[string]any) {
	m := map[string]any{"type": "joined", "room": j["room"], "ref": j["id"]}
	for k, v := range extra {
		m[k] = v
	}
	fc.send(m)
}

// TestRejoinOrderAndSince: after a reconnect the wanted rooms are joined
// again in the order they were first joined (a left room is not), with
// since for the room whose position is known; the outcome of each rejoin
// reaches OnJoined and OnMissed.
func TestRejoinOrderAndSince(t *testing.T) {
	srv, c, _, ev, fc := startFake(t, Config{})
	ctx := context.Background()
	missed := make(chan Missed, 8)
	joined := make(chan Frame, 16)
	opts := RoomOptions{OnMissed: func(m Missed) { missed <- m }, OnJoined: func(f Frame) { joined <- f }}
	names := []string{"zeta", "alpha", "hist", "gone", "mid"}
	for _, name := range names {
		r := c.Room(name, opts)
		done := make(chan error, 1)
		go func() { _, err := r.Join(ctx); done <- err }()
		j := fc.expect("join")
		if j["room"] != name || j["since"] != nil {
			t.Fatalf("first join %v", j)
		}
		extra := map[string]any{}
		if name == "hist" {
			extra = map[string]any{"offset": 7, "epoch": "e1"}
		}
		answerJoin(fc, j, extra)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if c.Room("hist", RoomOptions{}) != c.Room("hist", opts) {
		t.Fatal("Room returned two objects for one name")
	}
	if p, ok := c.Room("hist", opts).Position(); !ok || p != (Position{7, "e1"}) {
		t.Fatalf("position after join %v %v", p, ok)
	}
	// Leave "gone": it must not come back.
	lc := make(chan error, 1)
	go func() { lc <- c.Room("gone", opts).Leave(ctx) }()
	l := fc.expect("leave")
	fc.send(map[string]any{"type": "left", "room": "gone", "ref": l["id"]})
	if err := <-lc; err != nil {
		t.Fatal(err)
	}

	fc.closeWith(1001, "draining")
	ev.waitFor(t, StateDisconnected)
	fc2 := srv.accept()
	fc2.handshake()
	var order []string
	for range 4 {
		j := fc2.expect("join")
		order = append(order, j["room"].(string))
		switch j["room"] {
		case "hist":
			if jsonString(j["since"]) != `{"epoch":"e1","offset":7}` {
				t.Fatalf("rejoin of hist: since %v", j["since"])
			}
			answerJoin(fc2, j, map[string]any{"offset": 9, "epoch": "e2", "recovered": false})
		default:
			if j["since"] != nil {
				t.Fatalf("rejoin of %v with since", j)
			}
			answerJoin(fc2, j, nil)
		}
	}
	if fmt.Sprint(order) != "[zeta alpha hist mid]" {
		t.Fatalf("rejoin order %v, want first-join order without the left room", order)
	}
	reasons := map[string]string{}
	for range 4 {
		select {
		case m := <-missed:
			reasons[m.Room] = m.Reason
		case <-time.After(fakeWait):
			t.Fatalf("missed reports: %v", reasons)
		}
	}
	if want := map[string]string{"zeta": MissedNoHistory, "alpha": MissedNoHistory, "hist": MissedEpochChanged, "mid": MissedNoHistory}; fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Fatalf("missed %v, want %v", reasons, want)
	}
	// Each OnMissed is posted after its OnJoined: all 9 joined frames are in.
	if n := len(joined); n != 5+4 {
		t.Fatalf("OnJoined called %d times, want 9", n)
	}
	if p, _ := c.Room("hist", opts).Position(); p != (Position{9, "e2"}) {
		t.Fatalf("position after a non-recovered rejoin: %v", p)
	}
}

// TestRecoveryDedup: a recovered rejoin replays from the known position;
// a replayed message the room already saw is dropped and counted, the
// rest arrive once and in order.
func TestRecoveryDedup(t *testing.T) {
	srv, c, _, ev, fc := startFake(t, Config{})
	got := make(chan Frame, 16)
	missed := make(chan Missed, 4)
	r := c.Room("h", RoomOptions{OnMessage: func(f Frame) { got <- f }, OnMissed: func(m Missed) { missed <- m }})
	done := make(chan error, 1)
	go func() { _, err := r.Join(context.Background()); done <- err }()
	answerJoin(fc, fc.expect("join"), map[string]any{"offset": 0, "epoch": ""})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	msg := func(fc *fakeConn, off int) {
		fc.send(map[string]any{"type": "message", "room": "h", "data": off, "offset": off, "epoch": "E"})
	}
	msg(fc, 1)
	msg(fc, 2)
	for want := 1; want <= 2; want++ {
		if f := <-got; f.Offset != uint64(want) {
			t.Fatalf("got offset %d, want %d", f.Offset, want)
		}
	}
	fc.kill()
	ev.waitFor(t, StateDisconnected)
	fc2 := srv.accept()
	fc2.handshake()
	j := fc2.expect("join")
	if jsonString(j["since"]) != `{"epoch":"E","offset":2}` {
		t.Fatalf("rejoin since %v", j["since"])
	}
	answerJoin(fc2, j, map[string]any{"offset": 4, "epoch": "E", "recovered": true})
	msg(fc2, 2) // overlaps what was seen
	msg(fc2, 3)
	msg(fc2, 4)
	msg(fc2, 3) // a duplicate after the replay
	msg(fc2, 5)
	for want := 3; want <= 5; want++ {
		select {
		case f := <-got:
			if f.Offset != uint64(want) {
				t.Fatalf("got offset %d, want %d", f.Offset, want)
			}
		case <-time.After(fakeWait):
			t.Fatalf("no message %d", want)
		}
	}
	if n := r.Duplicates(); n != 2 {
		t.Fatalf("Duplicates() = %d, want 2", n)
	}
	if len(missed) != 0 {
		t.Fatalf("a recovered rejoin reported missed: %v", <-missed)
	}
	if p, _ := r.Position(); p != (Position{5, "E"}) {
		t.Fatalf("position %v", p)
	}
}

// TestJoinRefused: an error answer to a join fails Join and leaves the
// room unwanted (it is not rejoined).
func TestJoinRefused(t *testing.T) {
	srv, c, _, ev, fc := startFake(t, Config{})
	done := make(chan error, 1)
	go func() { _, err := c.Room("bad:name", RoomOptions{}).Join(context.Background()); done <- err }()
	j := fc.expect("join")
	fc.send(map[string]any{"type": "error", "code": "invalid_name", "message": "no colons", "ref": j["id"]})
	var e *Error
	if err := <-done; !errors.As(err, &e) || e.Code != "invalid_name" {
		t.Fatalf("Join: %v", err)
	}
	go func() { _, err := c.Room("ok", RoomOptions{}).Join(context.Background()); done <- err }()
	answerJoin(fc, fc.expect("join"), nil)
	<-done
	fc.closeWith(1001, "")
	ev.waitFor(t, StateDisconnected)
	fc2 := srv.accept()
	fc2.handshake()
	if j := fc2.expect("join"); j["room"] != "ok" {
		t.Fatalf("rejoined %v", j)
	}
}
