package auth

import "context"

// claimsKey is the context key of NewContext; unexported, so only this
// package can set or read it.
type claimsKey struct{}

// NewContext returns a copy of ctx carrying c: an identity the embedding
// application established itself (a session cookie, mTLS, its own login),
// not a token. A node that finds it on an upgrade request authenticates the
// connection as c at once. c is not checked here; server.WithIdentity is the
// checked way in. A zero c.ExpiresAt means the identity does not expire.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the identity NewContext put into ctx, if any.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}
