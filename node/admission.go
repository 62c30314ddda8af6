package node

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/wsnode/wsnode/counter"
)

// admission bounds the connects a node has in flight: from the upgrade
// request until the new socket is registered in Redis (and, with a header
// token, authenticated). In a reconnect storm, every connect beyond
// Config.MaxPendingConnects gets HTTP 503 with Retry-After at once, before
// any work, so the node's CPU and its Redis round trips go to the
// connects it admitted and to the sockets it already serves.
type admission struct {
	max     int64 // <= 0: unlimited
	pending atomic.Int64
}

// enter takes a slot; it reports false when the node is at its bound.
func (a *admission) enter() bool {
	if a.max <= 0 {
		return true
	}
	if a.pending.Add(1) > a.max {
		a.pending.Add(-1)
		return false
	}
	return true
}

// leave returns a slot taken by enter.
func (a *admission) leave() {
	if a.max > 0 {
		a.pending.Add(-1)
	}
}

// busyRetryAfter is the Retry-After of a refused connect, in seconds:
// clients add their own jitter (docs/protocol.md, "HTTP refusals").
const busyRetryAfter = 1

// busy refuses a connect over the admission bound.
func (n *Node) busy(w http.ResponseWriter) {
	n.stats.Add(counter.CtrAdmissionRefused, 1)
	w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
	n.refuse(w, http.StatusServiceUnavailable, "node is busy accepting connections; retry")
}
