package node

import (
	"bytes"
	"strconv"

	"github.com/wsnode/wsnode/protocol"
)

// position is a message's place in its room's history (see package
// history): its offset and the epoch of that offset.
type position struct {
	offset uint64
	epoch  string
}

// tailOffset and tailEpoch open the fields that the history script appends
// to a stored message's payload: ...,"offset":<n>,"epoch":"<id>"}.
var (
	tailOffset = []byte(`,"offset":`)
	tailEpoch  = []byte(`,"epoch":"`)
)

// payloadPosition reads the position that the history script appended to
// the end of a message payload; ok is false for a message of a room
// without history. It reads the fixed tail from the end only, so whatever a
// client put in "data" cannot be mistaken for it. Epoch ids are at most
// protocol.MaxEpochLen bytes (history makes 16).
func payloadPosition(p []byte) (pos position, ok bool) {
	if len(p) < 2 || p[len(p)-1] != '}' || p[len(p)-2] != '"' {
		return position{}, false
	}
	body := p[:len(p)-2] // ...,"offset":<n>,"epoch":"<id>
	q := bytes.LastIndexByte(body, '"')
	if q < 0 || len(body)-q-1 > protocol.MaxEpochLen || !bytes.HasSuffix(body[:q+1], tailEpoch) {
		return position{}, false
	}
	epoch := body[q+1:]
	body = body[:q+1-len(tailEpoch)] // ...,"offset":<n>
	d := len(body)
	for d > 0 && body[d-1] >= '0' && body[d-1] <= '9' {
		d--
	}
	if d == len(body) || !bytes.HasSuffix(body[:d], tailOffset) {
		return position{}, false
	}
	off, err := strconv.ParseUint(string(body[d:]), 10, 64)
	if err != nil || off == 0 || len(epoch) == 0 {
		return position{}, false
	}
	return position{offset: off, epoch: string(epoch)}, true
}
