// Package auth verifies and mints the HS256 JSON Web Tokens that wsnode
// clients present, either in their first "auth" frame or as an
// "Authorization: Bearer" header on the upgrade request.
//
// A token carries the user in "sub", an expiry in "exp" (required) and an
// optional connection type in "conn_type" (user, ai_assistant or system).
// Only HS256 is accepted: "alg":"none" and every other algorithm are
// rejected before the signature is looked at, with an error that says
// "unsupported algorithm" rather than "bad signature".
//
// # Key rotation
//
// A Verifier holds one or more secrets. Tokens are minted with the first. A
// token is parsed once and its signature checked against each secret in turn,
// so a new secret can be rolled out first as the second key, then promoted.
//
// # Concurrency
//
// Verifier is immutable after NewVerifier and safe for concurrent use.
package auth
