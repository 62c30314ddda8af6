package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/wsnode/wsnode/auth"
)

func Example() {
	// The first secret signs; every secret verifies, so a rotated-out secret
	// keeps working until the tokens it signed expire.
	v, err := auth.NewVerifier(0, "new-secret", "old-secret")
	if err != nil {
		panic(err)
	}

	token, err := v.Mint("alice", auth.TypeAIAssistant, time.Hour)
	if err != nil {
		panic(err)
	}
	claims, err := v.Verify(token)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.User, claims.ConnType)

	// An empty conn_type means a plain user.
	token, _ = v.Mint("bob", "", time.Hour)
	claims, _ = v.Verify(token)
	fmt.Println(claims.User, claims.ConnType)

	// A token signed with the old secret still verifies.
	old, _ := auth.NewVerifier(0, "old-secret")
	token, _ = old.Mint("carol", auth.TypeSystem, time.Hour)
	claims, err = v.Verify(token)
	fmt.Println(claims.User, claims.ConnType, err)

	// A token from an unknown secret is rejected.
	other, _ := auth.NewVerifier(0, "someone-else")
	token, _ = other.Mint("mallory", auth.TypeUser, time.Hour)
	_, err = v.Verify(token)
	fmt.Println(errors.Is(err, auth.ErrInvalidToken), err)

	// So is an expired one, beyond the leeway.
	token, _ = v.Mint("dave", auth.TypeUser, -time.Minute)
	_, err = v.Verify(token)
	fmt.Println(errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrInvalidToken))

	// Guests have no token, so Mint refuses that type.
	_, err = v.Mint("eve", auth.TypeGuest, time.Hour)
	fmt.Println(err)
	// Output:
	// alice ai_assistant
	// bob user
	// carol system <nil>
	// true auth: invalid token: bad signature
	// true true
	// auth: conn_type "guest" is not one of user, ai_assistant, system
}
