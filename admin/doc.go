// Package admin serves wsnode's admin HTTP API: cluster and node stats,
// rooms, users, connections, nodes, publishing, remote disconnects, health,
// readiness and Prometheus metrics. Every answer other than /metrics is
// JSON; errors are {"error":{"code":"...","message":"..."}} with a fitting
// status.
//
// When a key is configured every route except /healthz and /readyz requires
// "Authorization: Bearer <key>", compared in constant time.
//
// # Concurrency
//
// The handler is safe for concurrent use; it holds no state of its own.
package admin
