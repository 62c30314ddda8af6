package node

import (
	"slices"
	"sync"
	"time"

	"github.com/wsnode/wsnode/socket"
)

// A writer starts when a frame is queued for a socket with none running.
// Handing every such frame to a writer goroutine cost a wake-up per
// delivery (a channel hand-off, the worker's select, a context switch):
// 2-4 µs, 11-20 % of the node CPU per delivery in the rooms 10k benchmark
// (bench/analysis.md). Most frames are the only one queued for their socket, and the
// socket's buffer takes them at once, so the goroutine that queued them
// writes them itself, without waiting (socket.Conn.TryFrame). Only a burst, a
// ping, a closing socket or a full socket buffer goes to a writer goroutine
// (writeLoop), which may wait.

// startWriter runs the writer role the caller took by queueing into an
// empty queue (push): it writes the frame at once if it can, and otherwise
// starts a writer goroutine.
func (c *conn) startWriter() {
	if c.cork == nil || !c.writeNow() {
		c.n.workers.goF(c.writer)
	}
}

// writeNow writes the queue's only frame if the socket takes it without
// waiting. It reports whether it dealt with the writer role: released it,
// or passed it to a writer goroutine (more frames arrived, or the socket
// took part of the frame). false leaves the queue untouched.
func (c *conn) writeNow() bool {
	c.qmu.Lock()
	if len(c.queue) != 1 || c.queue[0].ping || c.closing() {
		c.qmu.Unlock()
		return false
	}
	f := c.queue[0] // only the role holder takes frames out
	c.qmu.Unlock()
	res, err := c.cork.TryFrame(f.opcode(), f.data)
	if res == socket.TryNot && err == nil {
		return false
	}
	c.wrote(f, err)
	c.qmu.Lock()
	c.queue = slices.Delete(c.queue, 0, 1) // zeroes the freed slot: no payload stays pinned
	c.queued -= f.size
	if err != nil || (res == socket.TryWritten && len(c.queue) == 0) {
		c.exitWriter()
		c.qmu.Unlock()
		return true
	}
	c.qmu.Unlock()
	c.n.workers.goF(c.writer)
	return true
}

// flushRest writes what a short writeNow left before the writer goroutine
// writes anything else, and reports success; a failure starts the close.
func (c *conn) flushRest() bool {
	if c.cork == nil || !c.cork.HasRest() {
		return true
	}
	c.writeSince.Store(time.Now().UnixNano())
	err := c.cork.FlushRest()
	c.writeSince.Store(0)
	if err != nil {
		c.writeFailed()
		return false
	}
	return true
}

// inlineFanout is the most writers the delivering goroutine (the pub/sub
// receiver) starts itself instead of handing them to a worker: a room of a
// few members on this node, a user's few connections, or what is left of a
// large fan-out after its full chunks went to workers.
// Starting a writer there costs one non-blocking write per socket
// (writeNow); a socket that does not take its frame at once still gets a
// writer goroutine, so the receiver never waits for a socket. Handing such a
// fan-out to a worker readied a goroutine per message, and at light load with
// an idle processor the runtime woke a thread for it (runtime.wakep → futex),
// the same cost the inline reader removes on the sending side (inline.go).
// Larger fan-outs keep the workers, which write in parallel.
const inlineFanout = 4

// fanoutChunk is how many sockets one worker starts writers for in a
// fan-out: enough that a hand-off is rare, few enough that a large room is
// written by several workers in parallel when GOMAXPROCS allows.
const fanoutChunk = 64

// writerStarts carries the sockets of one fan-out whose writers must start
// (startWriter): on a worker, or, when they are few (inlineFanout), on the
// delivering goroutine, always after the index lock is released. Pooled, with
// its func bound once, so a fan-out allocates nothing for it.
type writerStarts struct {
	conns []*conn
	fn    func()
}

var writerStartsPool sync.Pool

func init() { writerStartsPool.New = newWriterStarts } // not in the declaration: fn refers to the pool

func newWriterStarts() any {
	s := &writerStarts{conns: make([]*conn, 0, fanoutChunk)}
	s.fn = func() {
		for _, c := range s.conns {
			c.startWriter()
		}
		clear(s.conns)
		s.conns = s.conns[:0]
		writerStartsPool.Put(s)
	}
	return s
}
