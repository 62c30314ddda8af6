// Package integration holds multi-process tests of a wsnode cluster: the
// built wsnode binary, a real redis-server started by the tests, several
// node processes, a fault-injecting TCP proxy and a real haproxy.
//
// Run them with plain "go test ./integration/". Without redis-server on
// PATH the Redis-backed tests skip with a message, unless WS_REQUIRE_REDIS=1
// is set, in which case they fail; the same holds for haproxy. See
// the README section "Run a 3-node cluster locally" for running one by hand.
package integration
