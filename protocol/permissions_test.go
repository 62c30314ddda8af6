package protocol

import "testing"

func TestAllowed(t *testing.T) {
	type row struct {
		typ    string
		authed bool
		guests string
		join   bool
		send   bool
		bcast  bool
	}
	rows := []row{
		{ConnTypeUser, true, GuestsOff, true, true, false},
		{ConnTypeAIAssistant, true, GuestsOff, true, true, false},
		{ConnTypeSystem, true, GuestsOff, true, true, true},
		{ConnTypeGuest, false, GuestsOff, false, false, false},
		{ConnTypeGuest, false, GuestsRead, true, false, false},
		{ConnTypeGuest, false, GuestsWrite, true, true, false},
	}
	for _, r := range rows {
		got := [3]bool{Allowed(r.typ, r.authed, ActJoin, r.guests), Allowed(r.typ, r.authed, ActSend, r.guests), Allowed(r.typ, r.authed, ActBroadcast, r.guests)}
		if got != [3]bool{r.join, r.send, r.bcast} {
			t.Errorf("%s/%v/%s: got %v", r.typ, r.authed, r.guests, got)
		}
	}
}
