package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
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

// craft builds a token with the given header, claims and signature without
// signing it, for algorithms the jwt package would need real keys for.
func craft(header, claims, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte(sig))
}

func TestVerify(t *testing.T) {
	v := mustVerifier(t, "secret", "rotated")
	exp := time.Now().Add(time.Hour).Unix()
	hs256 := func(key string, c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(key), c) }
	ok := jwt.MapClaims{"sub": "alice", "exp": exp, "conn_type": "ai_assistant"}
	rs256 := craft(`{"alg":"RS256","typ":"JWT"}`, fmt.Sprintf(`{"sub":"alice","exp":%d}`, exp), "not an RSA signature")
	tests := []struct {
		name    string
		token   string
		wantErr error
		reason  string // the end of the error message
	}{
		{"valid", hs256("secret", ok), nil, ""},
		{"rotated secret", hs256("rotated", ok), nil, ""},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ok), ErrInvalidToken, "unsupported algorithm"},
		{"HS512 right secret", sign(t, jwt.SigningMethodHS512, []byte("secret"), ok), ErrInvalidToken, "unsupported algorithm"},
		{"RS256 header", rs256, ErrInvalidToken, "unsupported algorithm"},
		{"bad signature", hs256("other", ok), ErrInvalidToken, "bad signature"},
		{"missing sub", hs256("secret", jwt.MapClaims{"exp": exp}), ErrInvalidToken, "missing sub"},
		{"missing exp", hs256("secret", jwt.MapClaims{"sub": "a"}), ErrInvalidToken, "missing exp"},
		{"expired", hs256("secret", jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()}), ErrExpired, "expired"},
		{"bad type", hs256("secret", jwt.MapClaims{"sub": "a", "exp": exp, "conn_type": "guest"}), ErrInvalidToken, "unknown conn_type"},
		{"garbage", "not.a.token", ErrInvalidToken, "malformed or unsupported algorithm"},
		{"empty", "", ErrInvalidToken, "malformed or unsupported algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.User != "alice" || c.ConnType != TypeAIAssistant {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			// The whole reason: "unsupported algorithm" must not pass for
			// "malformed or unsupported algorithm".
			if !errors.Is(err, tt.wantErr) || !strings.HasSuffix(err.Error(), ": "+tt.reason) {
				t.Fatalf("err = %v, want %v with %q", err, tt.wantErr, tt.reason)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatal("error leaks the token")
			}
		})
	}
}

// TestVerifyParsesOnce checks that a token signed with the last of three
// secrets is decoded once: the two extra keys must cost fewer allocations
// than a whole verification does.
func TestVerifyParsesOnce(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	allocs := func(secrets ...string) float64 {
		v := mustVerifier(t, secrets...)
		tok := sign(t, jwt.SigningMethodHS256, []byte(secrets[len(secrets)-1]), jwt.MapClaims{"sub": "a", "exp": exp})
		return testing.AllocsPerRun(100, func() {
			if _, err := v.Verify(tok); err != nil {
				t.Fatal(err)
			}
		})
	}
	one, three := allocs("s1"), allocs("s1", "s2", "s3")
	if three-one >= one {
		t.Fatalf("allocs: 1 secret %v, 3 secrets %v: token parsed once per secret", one, three)
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

func BenchmarkVerify(b *testing.B) {
	exp := time.Now().Add(time.Hour).Unix()
	for _, secrets := range [][]string{{"s1"}, {"s1", "s2", "s3"}} {
		b.Run(fmt.Sprintf("secrets=%d", len(secrets)), func(b *testing.B) {
			v := mustVerifier(b, secrets...)
			last := []byte(secrets[len(secrets)-1])
			tok := sign(b, jwt.SigningMethodHS256, last, jwt.MapClaims{"sub": "alice", "exp": exp})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
