package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Connection types a token may carry in "conn_type". Guests have no token.
const (
	TypeUser        = "user"
	TypeAIAssistant = "ai_assistant"
	TypeSystem      = "system"
	TypeGuest       = "guest"
)

// DefaultLeeway is the clock skew tolerated on "exp", "nbf" and "iat".
const DefaultLeeway = 5 * time.Second

// Errors callers branch on. Every verification failure wraps ErrInvalidToken;
// ErrExpired additionally marks an expired token so the client can be told to
// fetch a fresh one.
var (
	ErrInvalidToken = errors.New("auth: invalid token")
	ErrExpired      = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrNoVerifier is returned by a nil *Verifier: no secret is configured,
	// so no token is valid.
	ErrNoVerifier = fmt.Errorf("%w: no token secret is configured", ErrInvalidToken)
)

// Claims is what wsnode reads from a verified token.
type Claims struct {
	User      string
	ConnType  string
	ExpiresAt time.Time
	// Rooms is the token's "rooms" claim: room names or glob patterns
	// (path.Match syntax, e.g. "dm.alice.*") the connection may join under
	// --rooms-policy claim. Nil means the token has no such claim; an empty
	// list allows no room.
	Rooms []string
}

type tokenClaims struct {
	ConnType string          `json:"conn_type,omitempty"`
	Rooms    json.RawMessage `json:"rooms,omitempty"`
	jwt.RegisteredClaims
}

// Verifier checks HS256 tokens against one or more secrets.
type Verifier struct {
	secrets [][]byte
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc // returns a jwt.VerificationKeySet of every secret
}

// NewVerifier returns a Verifier for the given secrets; the first is the
// primary one used by Mint. Empty secrets are ignored; at least one is needed.
// leeway <= 0 means DefaultLeeway.
func NewVerifier(leeway time.Duration, secrets ...string) (*Verifier, error) {
	if leeway <= 0 {
		leeway = DefaultLeeway
	}
	v := &Verifier{parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	)}
	for _, s := range secrets {
		if s != "" {
			v.secrets = append(v.secrets, []byte(s))
		}
	}
	if len(v.secrets) == 0 {
		return nil, errors.New("auth: no secret configured")
	}
	v.keyfunc = keySet(v.secrets)
	return v, nil
}

// keySet returns a Keyfunc handing the parser every secret, primary first,
// so that one parse tries them all.
func keySet(secrets [][]byte) jwt.Keyfunc {
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(secrets))}
	for i, s := range secrets {
		set.Keys[i] = s
	}
	var keys any = set // boxed once, so Verify does not allocate for it
	return func(*jwt.Token) (any, error) { return keys, nil }
}

// Verify parses and validates a token. The token is parsed once and its
// signature checked against each secret in turn. The error wraps
// ErrInvalidToken (and ErrExpired for an expired token) and never contains
// the token itself. A nil *Verifier refuses every token (ErrNoVerifier):
// an application that authenticates clients itself needs none.
func (v *Verifier) Verify(token string) (Claims, error) {
	if v == nil {
		return Claims{}, ErrNoVerifier
	}
	var tc tokenClaims
	t, err := v.parser.ParseWithClaims(token, &tc, v.keyfunc)
	if err != nil {
		return Claims{}, classify(t, err)
	}
	if tc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: missing sub", ErrInvalidToken)
	}
	typ := tc.ConnType
	if typ == "" {
		typ = TypeUser
	}
	if !validMintedType(typ) {
		return Claims{}, fmt.Errorf("%w: unknown conn_type", ErrInvalidToken)
	}
	rooms, err := parseRooms(tc.Rooms)
	if err != nil {
		return Claims{}, err
	}
	return Claims{User: tc.Subject, ConnType: typ, ExpiresAt: tc.ExpiresAt.Time, Rooms: rooms}, nil
}

// classify maps a parse error to one wrapping ErrInvalidToken. t is the
// partially parsed token ParseWithClaims returns with the error, possibly nil.
func classify(t *jwt.Token, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: missing exp", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && otherAlg(t):
		// jwt reports a method outside WithValidMethods as a bad signature.
		return fmt.Errorf("%w: unsupported algorithm", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: bad signature", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: malformed or unsupported algorithm", ErrInvalidToken)
	default:
		return fmt.Errorf("%w: rejected", ErrInvalidToken)
	}
}

// otherAlg reports whether t's header names a known algorithm other than
// HS256. It only reads what the failed parse already decoded.
func otherAlg(t *jwt.Token) bool {
	return t != nil && t.Method != nil && t.Method.Alg() != jwt.SigningMethodHS256.Alg()
}

func validMintedType(t string) bool {
	return t == TypeUser || t == TypeAIAssistant || t == TypeSystem
}

// Mint signs a token for user with the primary secret. It is meant for
// development ("wsnode token") and tests; production tokens come from the
// application's own auth service.
func (v *Verifier) Mint(user, connType string, ttl time.Duration) (string, error) {
	return v.MintClaims(Claims{User: user, ConnType: connType}, ttl)
}

// MintClaims is Mint with every claim: c.Rooms, when not nil, becomes the
// "rooms" claim (checked as Verify checks it). c.ExpiresAt is ignored; the
// token expires after ttl.
func (v *Verifier) MintClaims(c Claims, ttl time.Duration) (string, error) {
	user, connType := c.User, c.ConnType
	if user == "" {
		return "", errors.New("auth: empty user")
	}
	if connType == "" {
		connType = TypeUser
	}
	if !validMintedType(connType) {
		return "", fmt.Errorf("auth: conn_type %q is not one of user, ai_assistant, system", connType)
	}
	var rooms json.RawMessage
	if c.Rooms != nil {
		if err := CheckRoomPatterns(c.Rooms); err != nil {
			return "", err
		}
		rooms, _ = json.Marshal(c.Rooms) // a []string always marshals
	}
	now := time.Now()
	tc := tokenClaims{ConnType: connType, Rooms: rooms, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(v.secrets[0])
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header value; the scheme is matched case-insensitively (RFC 9110,
// section 11.1). It reports false for any other value.
func BearerToken(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return h[len(scheme):], true
}
