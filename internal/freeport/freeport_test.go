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
	// A window of minSpan ports of which all but five are held: every pick
	// must be one of the five, and a sixth pick finds none.
	lo := ephemeralLow() - minSpan
	if ephemeralLow() == 0 || lo < 1024 {
		t.Skip("no ephemeral range known here")
	}
	free := map[int]bool{lo + 7: true, lo + 300: true, lo + 901: true, lo + 1500: true, lo + minSpan - 1: true}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for p := lo; p < lo+minSpan; p++ {
		if free[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			delete(free, p) // someone else holds it: fine, it is not free either
			continue
		}
		held = append(held, l)
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
		if !free[p] || got[p] {
			t.Fatalf("picked port %d: held or picked twice (free: %v)", p, free)
		}
		got[p] = true
		handed[p] = true
	}
	if p, err := pickOneExhaustive(lo, lo+minSpan); err == nil {
		t.Fatalf("picked port %d from a window with no free port left", p)
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
