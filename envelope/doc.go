// Package envelope is the message format between nodes: what one node
// publishes on a Redis channel and every subscribed node decodes, and the
// outcome of such a publish. It is pure (no Redis, no sockets), so package
// node can route messages without depending on the broker that carries them.
//
// Everything here is a value type or a pure function and safe for
// concurrent use.
package envelope
