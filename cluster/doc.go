// Package cluster holds the records of the cluster-wide state as every
// package sees them: a connection, a node's heartbeat, a room, a user, the
// totals, a batched activity update, the name rules and the errors of the
// registry that stores them in Redis (package registry).
//
// It is pure: no Redis, no sockets. Package node speaks in these types, so
// it does not depend on the store behind them. Everything here is a value
// type or a pure function and safe for concurrent use.
package cluster
