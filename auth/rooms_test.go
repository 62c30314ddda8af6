package auth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestRoomsClaimRoundTripAndMatching(t *testing.T) {
	v, err := NewVerifier(0, "rooms-secret")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.MintClaims(Claims{User: "alice", Rooms: []string{"team-42", "dm.alice.*", "room-[0-9]"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	for room, want := range map[string]bool{
		"team-42": true, "team-43": false, "dm.alice.bob": true, "dm.alice.": true, "dm.bob.alice": false,
		"room-7": true, "room-77": false, "team-42x": false,
	} {
		if got := c.AllowsRoom(room); got != want {
			t.Errorf("AllowsRoom(%q) = %v, want %v", room, got, want)
		}
	}

	// No claim: nil, allows nothing. An empty claim: not nil, allows nothing.
	tok, _ = v.Mint("bob", TypeUser, time.Hour)
	if c, err := v.Verify(tok); err != nil || c.Rooms != nil || c.AllowsRoom("x") {
		t.Fatalf("token without rooms: %+v, %v", c, err)
	}
	tok, _ = v.MintClaims(Claims{User: "bob", Rooms: []string{}}, time.Hour)
	if c, err := v.Verify(tok); err != nil || c.Rooms == nil || c.AllowsRoom("x") {
		t.Fatalf("token with empty rooms: %+v, %v", c, err)
	}
}

// A malformed "rooms" claim makes the whole token invalid (the node then
// answers auth_failed and closes with 4500).
func TestMalformedRoomsClaimRejectsToken(t *testing.T) {
	v, err := NewVerifier(0, "rooms-secret")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(rooms any) string {
		raw, _ := json.Marshal(rooms)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{Rooms: raw, RegisteredClaims: jwt.RegisteredClaims{
			Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString([]byte("rooms-secret"))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	many := make([]string, MaxRoomPatterns+1)
	for i := range many {
		many[i] = "r"
	}
	for name, rooms := range map[string]any{
		"a string":        "team-42",
		"a number":        42,
		"null":            nil,
		"an object":       map[string]any{"team-42": true},
		"mixed list":      []any{"team-42", 7},
		"bad pattern":     []string{"team-[42"},
		"empty entry":     []string{""},
		"slash":           []string{"a/b"},
		"too long":        []string{strings.Repeat("r", MaxRoomPatternLen+1)},
		"too many":        many,
		"nested list":     []any{[]string{"a"}},
		"pattern escapes": []string{`team\`},
	} {
		if _, err := v.Verify(sign(rooms)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := v.MintClaims(Claims{User: "a", Rooms: []string{"[x"}}, time.Hour); err == nil {
		t.Error("MintClaims accepted a bad pattern")
	}
}
