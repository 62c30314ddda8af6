package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func mustVerifier(tb testing.TB, secrets ...string) *Verifier {
	tb.Helper()
	v, err := NewVerifier(time.Second, secrets...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func sign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	v := mustVerifier(t, "secret")
	exp := time.Now().Add(time.Hour).Unix()
	good := sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"sub": "alice", "exp": exp, "conn_type": "ai_assistant"})
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "alice", "exp": exp})
	hs512 := sign(t, jwt.SigningMethodHS512, []byte("secret"), jwt.MapClaims{"sub": "alice", "exp": exp})
	tests := []struct {
		name    string
		token   string
		wantErr error
		user    string
	}{
		{"valid", good, nil, "alice"},
		{"alg none", none, ErrInvalidToken, ""},
		{"other alg", hs512, ErrInvalidToken, ""},
		{"bad signature", sign(t, jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"sub": "a", "exp": exp}), ErrInvalidToken, ""},
		{"missing sub", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"exp": exp}), ErrInvalidToken, ""},
		{"missing exp", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"sub": "a"}), ErrInvalidToken, ""},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()}), ErrExpired, ""},
		{"bad type", sign(t, jwt.SigningMethodHS256, []byte("secret"), jwt.MapClaims{"sub": "a", "exp": exp, "conn_type": "guest"}), ErrInvalidToken, ""},
		{"garbage", "not.a.token", ErrInvalidToken, ""},
		{"empty", "", ErrInvalidToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.User != tt.user || c.ConnType != TypeAIAssistant {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatal("error leaks the token")
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old := mustVerifier(t, "old")
	tok, err := old.Mint("bob", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustVerifier(t, "new", "old")
	c, err := rotated.Verify(tok)
	if err != nil || c.User != "bob" || c.ConnType != TypeUser {
		t.Fatalf("rotated verify = %+v, %v", c, err)
	}
	if _, err := mustVerifier(t, "new").Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old token accepted without old key: %v", err)
	}
}

func TestMintRejectsBadInput(t *testing.T) {
	v := mustVerifier(t, "s")
	if _, err := v.Mint("", "user", time.Minute); err == nil {
		t.Fatal("empty user accepted")
	}
	if _, err := v.Mint("a", "guest", time.Minute); err == nil {
		t.Fatal("guest type minted")
	}
	if _, err := NewVerifier(0); err == nil {
		t.Fatal("verifier without secret")
	}
}

func TestBearer(t *testing.T) {
	for _, tt := range []struct {
		in, tok string
		ok      bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"", "", false},
	} {
		tok, ok := BearerToken(tt.in)
		if tok != tt.tok || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v", tt.in, tok, ok)
		}
	}
}
