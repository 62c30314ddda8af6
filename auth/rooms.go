package auth

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Limits of the "rooms" claim: a token is signed by the application, but a
// claim this large is a bug, and every join matches against all of it.
const (
	MaxRoomPatterns   = 256
	MaxRoomPatternLen = 128
)

// AllowsRoom reports whether the "rooms" claim lets the connection join
// room: room equals one of the names or matches one of the patterns. A
// token without the claim allows nothing.
func (c Claims) AllowsRoom(room string) bool {
	for _, p := range c.Rooms {
		if p == room {
			return true
		}
		if ok, _ := path.Match(p, room); ok { // patterns were checked by Verify
			return true
		}
	}
	return false
}

// CheckRoomPatterns checks a "rooms" claim: at most MaxRoomPatterns
// patterns, each 1-MaxRoomPatternLen bytes of valid path.Match syntax
// without "/" (room names never contain one, so "*" matches any name).
func CheckRoomPatterns(patterns []string) error {
	if len(patterns) > MaxRoomPatterns {
		return fmt.Errorf("%w: rooms claim has %d entries (at most %d)", ErrInvalidToken, len(patterns), MaxRoomPatterns)
	}
	for _, p := range patterns {
		if p == "" || len(p) > MaxRoomPatternLen || strings.Contains(p, "/") {
			return fmt.Errorf("%w: rooms claim entry %.64q must be 1-%d bytes without /", ErrInvalidToken, p, MaxRoomPatternLen)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: rooms claim entry %.64q is not a valid pattern", ErrInvalidToken, p)
		}
	}
	return nil
}

// parseRooms decodes a raw "rooms" claim: absent means nil, anything but a
// list of valid patterns is an invalid token.
func parseRooms(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var rooms []string
	if err := json.Unmarshal(raw, &rooms); err != nil || rooms == nil {
		return nil, fmt.Errorf("%w: rooms claim must be a list of strings", ErrInvalidToken)
	}
	if err := CheckRoomPatterns(rooms); err != nil {
		return nil, err
	}
	return rooms, nil
}
