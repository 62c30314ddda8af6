package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Position is a point in a room's history as the protocol carries it (a
// request's "since"; "offset" and "epoch" in joined, history and ack
// frames): an offset, per room and strictly increasing, and the epoch it
// belongs to. A new epoch means earlier offsets mean nothing.
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// MaxEpochLen bounds an epoch id: 1 to MaxEpochLen letters or digits.
const MaxEpochLen = 64

// ErrBadSince reports a malformed "since" object.
var ErrBadSince = errors.New(`"since" must be {"offset":<integer >= 0>,"epoch":"<1-64 letters or digits>"}`)

// ParseSince decodes a request's "since" object strictly: both fields
// present, the offset an integer >= 0, the epoch valid (ValidEpoch).
func ParseSince(raw json.RawMessage) (Position, error) {
	var s struct {
		Offset *json.Number `json:"offset"`
		Epoch  *string      `json:"epoch"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&s); err != nil || s.Offset == nil || s.Epoch == nil {
		return Position{}, ErrBadSince
	}
	off, err := strconv.ParseUint(s.Offset.String(), 10, 64)
	if err != nil {
		return Position{}, ErrBadSince
	}
	if !ValidEpoch(*s.Epoch) {
		return Position{}, ErrBadSince
	}
	return Position{Offset: off, Epoch: *s.Epoch}, nil
}

// ValidEpoch reports whether e is a well-formed epoch id.
func ValidEpoch(e string) bool {
	if len(e) == 0 || len(e) > MaxEpochLen {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
