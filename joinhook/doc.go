// Package joinhook asks the application's backend whether a connection may
// join a room (wsnode's --rooms-policy hook): the node POSTs
// {"user","conn_type","conn_id","room","node_id"} as JSON to a URL and
// allows the join on a 2xx answer and refuses it on a 4xx. Anything else
// (a timeout, a 5xx, a refused connection, a malformed or over-long answer)
// is no decision, and the node fails the join closed with "unavailable".
//
// Allowed decisions are cached per (user, room) for Config.CacheTTL, so a
// client that reconnects and rejoins does not ask again; refusals are not
// cached, so a grant takes effect at once. At most Config.MaxConcurrent
// requests are in flight per node; a join that cannot get a slot within
// the timeout fails closed as well.
//
// A Hook is safe for concurrent use. It starts no goroutines of its own.
package joinhook
