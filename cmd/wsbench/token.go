package main

import (
	"time"

	"github.com/wsnode/wsnode/auth"
)

// authFrames pre-builds the auth frame of every slot, so that signing is
// not part of any measured window. Tokens come from wsnode's own minting
// (auth.Verifier.Mint), so they are what a node expects.
func authFrames(secret string, slots []Slot, ttl time.Duration) ([][]byte, error) {
	v, err := auth.NewVerifier(0, secret)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(slots))
	for i, s := range slots {
		tok, err := v.Mint(s.User, auth.TypeUser, ttl)
		if err != nil {
			return nil, err
		}
		out[i] = []byte(`{"type":"auth","token":"` + tok + `"}`)
	}
	return out, nil
}
