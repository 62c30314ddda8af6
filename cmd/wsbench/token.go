package main

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// mintToken signs an HS256 JWT for user, valid for ttl, as wsnode expects:
// sub = user, exp required, conn_type = user.
func mintToken(secret, user string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":       user,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"conn_type": "user",
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// authFrames pre-builds the auth frame of every slot, so that signing is
// not part of any measured window.
func authFrames(secret string, slots []Slot, ttl time.Duration) ([][]byte, error) {
	out := make([][]byte, len(slots))
	for i, s := range slots {
		tok, err := mintToken(secret, s.User, ttl)
		if err != nil {
			return nil, err
		}
		out[i] = []byte(`{"type":"auth","token":"` + tok + `"}`)
	}
	return out, nil
}
