package node

import "time"

// A connection that keeps sending is served on its reader's own goroutine
// instead of a pooled worker (reader.go). Handing a wake-up to a worker
// readies a goroutine, and when the node has an idle processor
// (GOMAXPROCS > 1 at light load) the runtime wakes another thread to run it
// (runtime.ready → wakep → futex): in the small-rooms benchmark at Go's
// default GOMAXPROCS that was 30 % of a node's CPU (bench/analysis.md).
//
// The price is the reader's stack: serving frames grows it, and it stays
// grown while the connection is hot. Once the connection goes quiet it is
// back on the worker path, and the garbage collector shrinks the parked
// reader's stack again. A connection that only authenticates and joins, as
// most idle ones do, never gets hot, so idle sockets keep the smallest stack.
const (
	// hotGap is the longest pause between two wake-ups that keeps a
	// connection's streak going.
	hotGap = time.Second
	// hotStreak is the number of wake-ups in a row, each within hotGap of
	// the one before, after which a connection is served inline.
	hotStreak = 4
)

// servesInline records a wake-up of the reader at now (unix ns) and reports
// whether the connection is hot. Only readPump calls it.
func (c *conn) servesInline(now int64) bool {
	if now-c.lastWake <= int64(hotGap) {
		if c.wakeStreak < hotStreak {
			c.wakeStreak++
		}
	} else {
		c.wakeStreak = 0
	}
	c.lastWake = now
	return c.wakeStreak >= hotStreak
}

// lastBuffered reports whether the frame being served is the last one its
// connection has buffered, so that waiting for the frame's publish delays no
// other frame of the connection (routeAsync's mayWait): the client's next
// frame, if any, arrives meanwhile and is read after. Under load frames
// queue up in the buffer and publishes take the pipelined path. Only the
// goroutine serving the connection's frames calls it.
func (c *conn) lastBuffered() bool {
	return c.br != nil && c.br.Buffered() == 0
}
