package node

import (
	"testing"

	"github.com/wsnode/wsnode/protocol"
)

// The connection types and guest policies are the registry's and the
// config's, and the protocol sends them: the values must agree.
func TestVocabularyAgreesWithProtocol(t *testing.T) {
	for got, want := range map[string]string{
		string(TypeUser): protocol.ConnTypeUser, string(TypeAIAssistant): protocol.ConnTypeAIAssistant,
		string(TypeSystem): protocol.ConnTypeSystem, string(TypeGuest): protocol.ConnTypeGuest,
		string(GuestsOff): protocol.GuestsOff, string(GuestsRead): protocol.GuestsRead, string(GuestsWrite): protocol.GuestsWrite,
	} {
		if got != want {
			t.Errorf("node has %q where the protocol has %q", got, want)
		}
	}
}
