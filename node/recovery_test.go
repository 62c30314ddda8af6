package node

import (
	"fmt"
	"slices"
	"testing"
)

// TestRecoverySwitch: the replay/live switch of one connection. Live
// messages that arrive while the stream is read are held; after the replay
// (up to cur) only those past cur go out, in order; live messages still in
// flight at or before cur are dropped afterwards until one past cur shows
// the live stream caught up; other rooms are never touched.
func TestRecoverySwitch(t *testing.T) {
	const epoch = "e1"
	frame := func(off uint64) outFrame {
		b := []byte(fmt.Sprint(off))
		return outFrame{data: b, size: int64(len(b))}
	}
	at := func(off uint64) position { return position{offset: off, epoch: epoch} }
	var rs recoveries
	var out []string
	send := func(f outFrame) bool { out = append(out, string(f.data)); return true }

	if rs.intercept("r", frame(1), at(1)) {
		t.Fatal("intercepted without a recovery")
	}
	r := rs.start("r")
	// Live 9 and 10 arrive while the stream is being read (it will say cur=9).
	for _, off := range []uint64{9, 10} {
		if !rs.intercept("r", frame(off), at(off)) {
			t.Fatalf("live %d during the read was not held", off)
		}
	}
	if rs.intercept("other", frame(3), at(3)) {
		t.Fatal("a message of another room was held")
	}
	// The replay (6..9) is queued by the caller, then finish.
	out = append(out, "6", "7", "8", "9")
	rs.finish(send, r, at(9))
	if want := []string{"6", "7", "8", "9", "10"}; !slices.Equal(out, want) {
		t.Fatalf("queued %v, want %v", out, want)
	}
	// A live 9 still in flight is dropped; 11 passes and ends the recovery.
	if !rs.intercept("r", frame(9), at(9)) {
		t.Fatal("duplicate 9 went through after the replay")
	}
	if rs.intercept("r", frame(11), at(11)) {
		t.Fatal("11 was intercepted")
	}
	if rs.n.Load() != 0 {
		t.Fatalf("%d recoveries left after the live stream passed the replay", rs.n.Load())
	}
	// A new epoch is never mistaken for a duplicate.
	r = rs.start("r")
	rs.finish(send, r, at(50))
	if rs.intercept("r", frame(1), position{offset: 1, epoch: "e2"}) {
		t.Fatal("offset 1 of a new epoch was dropped")
	}
	// Leaving ends a recovery.
	rs.start("x")
	rs.stop("x")
	if rs.n.Load() != 0 {
		t.Fatal("stop left a recovery")
	}
}
