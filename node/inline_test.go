package node

import (
	"testing"
	"time"
)

// TestServesInline: a connection is served on its reader once hotStreak
// wake-ups in a row came within hotGap of each other, and goes back to the
// workers after a longer pause.
func TestServesInline(t *testing.T) {
	c := &conn{}
	now := time.Now().UnixNano()
	step := func(gap time.Duration) bool {
		now += int64(gap)
		return c.servesInline(now)
	}
	if step(0) {
		t.Fatal("the first wake-up is served inline")
	}
	for i := 1; i < hotStreak; i++ {
		if step(hotGap / 2) {
			t.Fatalf("served inline after %d wake-ups in a row, want %d", i+1, hotStreak+1)
		}
	}
	if !step(hotGap) {
		t.Fatalf("not served inline after %d wake-ups within hotGap", hotStreak+1)
	}
	if !step(time.Millisecond) {
		t.Fatal("a hot connection cooled down within hotGap")
	}
	if step(hotGap + time.Millisecond) {
		t.Fatal("served inline after a pause longer than hotGap")
	}
	if step(hotGap / 2) {
		t.Fatal("the streak did not start again after the pause")
	}
}
