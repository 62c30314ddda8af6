package counter

import (
	"slices"
	"testing"

	"github.com/wsnode/wsnode/protocol"
)

// Every frame type a client may send has a counter of its own under the
// protocol's name, and no label is counted twice: a protocol type named
// like a fallback would merge two counters.
func TestMessageNamesCoverRequestTypes(t *testing.T) {
	names := MessageNames()
	for _, typ := range append(protocol.RequestTypes(), MsgUnknown, MsgInvalid) {
		if !slices.Contains(names, typ) {
			t.Errorf("%q is not counted: %v", typ, names)
		}
	}
	assertDistinct(t, "message", names)
}

func TestErrorAndCounterNamesDistinct(t *testing.T) {
	if !slices.Contains(ErrorNames(), ErrOther) {
		t.Errorf("ErrOther is missing from %v", ErrorNames())
	}
	assertDistinct(t, "error", ErrorNames())
	assertDistinct(t, "counter", CounterNames())
}

// The lists are copies: a caller cannot change what is counted.
func TestNamesAreCopies(t *testing.T) {
	ErrorNames()[0] = "x"
	CounterNames()[0] = "x"
	if ErrorNames()[0] == "x" || CounterNames()[0] == "x" {
		t.Fatal("a caller changed the package's name list")
	}
}

func assertDistinct(t *testing.T, what string, names []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s name %q listed twice", what, n)
		}
		seen[n] = true
	}
}
