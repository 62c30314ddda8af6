package stats

import (
	"slices"
	"testing"

	"github.com/wsnode/wsnode/protocol"
)

// Every frame type a client may send has a counter of its own, and the
// labels are the protocol's names.
func TestMessageNamesCoverRequestTypes(t *testing.T) {
	for _, typ := range protocol.RequestTypes() {
		if !slices.Contains(messageNames, typ) {
			t.Errorf("frame type %q is counted as %q", typ, MsgUnknown)
		}
	}
	if want := len(protocol.RequestTypes()) + 2; len(messageNames) != want { // + unknown, invalid
		t.Errorf("%d message names, want %d: %v", len(messageNames), want, messageNames)
	}
}
