package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickGivesDistinctFreePortsBelowEphemeral(t *testing.T) {
	hi := ephemeralLow()
	ports, err := Pick(50)
	if err != nil {
		t.Fatal(err)
	}
	more, err := Pick(50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range append(ports, more...) {
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if hi-low >= minSpan && (p < low || p >= hi) {
			t.Fatalf("port %d outside [%d, %d), below the ephemeral range", p, low, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		_ = l.Close()
	}
}

func TestPickOneSkipsPortsInUse(t *testing.T) {
	// A window of minSpan ports, all held by this test but five: no pick
	// may be a held port. (Another process may free a port of the window
	// meanwhile, so the picks are checked against what is held, not
	// against the five.) The window lies below the ports Pick hands out,
	// so holding it cannot fail a server that a test running in parallel
	// starts on a port it picked.
	lo := low - minSpan
	free := map[int]bool{lo + 7: true, lo + 300: true, lo + 901: true, lo + 1500: true, lo + minSpan - 1: true}
	held := map[int]net.Listener{}
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for p := lo; p < lo+minSpan; p++ {
		if free[p] {
			continue
		}
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			held[p] = l
		}
	}
	if len(held) < minSpan/2 {
		t.Skipf("only %d of %d ports could be held here", len(held), minSpan)
	}
	got := map[int]bool{}
	mu.Lock()
	defer func() {
		for p := range got {
			delete(handed, p) // leave the package as found, for -count > 1
		}
		mu.Unlock()
	}()
	for range len(free) {
		p, err := pickOneExhaustive(lo, lo+minSpan)
		if err != nil {
			t.Fatal(err)
		}
		if held[p] != nil || got[p] {
			t.Fatalf("picked port %d, which is held or was picked before", p)
		}
		got[p] = true
		handed[p] = true
	}
}

// pickOneExhaustive retries pickOne until it has seen every port of a
// small window, so the test does not depend on random luck.
func pickOneExhaustive(lo, hi int) (int, error) {
	var err error
	for range 100 {
		var p int
		if p, err = pickOne(lo, hi); err == nil {
			return p, nil
		}
	}
	return 0, err
}
