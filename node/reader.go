package node

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
)

// The reader of a connection is split in two so that an idle socket pins
// only a minimal goroutine stack (see BENCHMARKS.md, idle memory):
//
//   - readPump lives as long as the socket. It only waits until the socket
//     (or the node's read buffer) has bytes, through a call chain shallow
//     enough for the smallest goroutine stack (2 KiB).
//   - readFrames runs on another goroutine per wake-up (a pooled one, see
//     workers.go). It reads and serves the frames that are buffered, up to
//     the end of the reader's turn, including any Redis round trip, so the deep
//     stack that needs is never the reader's. Only a connection that keeps
//     sending is served on the reader itself (inline.go). readFrame (readframe.go)
//     looks at a frame's type and the connection's rate limit before it
//     reads the payload, so a frame it rejects is never copied.
//
// Control frames are consumed by readControl before gorilla sees them:
// gorilla's NextReader handles a ping or pong and then blocks for the next
// data frame, which would keep the deep goroutine parked on an idle socket.

func (c *conn) readDeadline() time.Time {
	return time.Now().Add(c.n.cfg.PingInterval + c.n.cfg.PongTimeout)
}

// prepareRead sets the read limit, the first read deadline and the pong
// handler. It runs before readPump starts, so readPump's stack stays small.
func (c *conn) prepareRead() {
	c.ws.SetReadLimit(c.n.cfg.MaxMessageSize)
	c.extendRead()
	c.ws.SetPongHandler(func(string) error { c.extendRead(); return nil })
	// Pings gorilla still sees (between the fragments of a message) are
	// answered like those readControl consumes: through the send queue.
	c.ws.SetPingHandler(func(p string) error { c.extendRead(); c.pong([]byte(p)); return nil })
}

// extendRead moves the read deadline to a full ping interval plus pong
// timeout from now; any frame from the peer proves it alive.
func (c *conn) extendRead() {
	_ = c.ws.SetReadDeadline(c.readDeadline())
}

// readPump is the connection's only reader. It returns when the socket is
// done: a read error, the read deadline (no frame, not even a pong, for
// PingInterval+PongTimeout), the socket torn down by finishClose, or a close
// for abuse (stopsReading), after which nothing more is read: it then waits
// for finishClose to tear the socket down, so the socket keeps its slot
// under the node's and the address's limits until it is really gone.
//
// Once a turn's frames have been served (turnFrames, turnBytes) the reader
// yields the processor, so a client sending as fast as it can queues behind
// the other runnable goroutines instead of monopolising a processor.
func (c *conn) readPump() {
	for {
		err := c.awaitReadable()
		switch {
		case err != nil:
		case c.servesInline(time.Now().UnixNano()):
			err = c.readFrames()
		default:
			err = c.serveFrames()
		}
		if err != nil {
			c.readFailed(err)
			if stopsReading(c.closeCode) { // set by readFailed's closeWith at the latest
				<-c.torn
			}
			return
		}
		c.yieldIfSpent()
	}
}

// frameRun hands one wake-up's frames from a reader to a worker. Pooled, so
// a wake-up allocates nothing: no closure, no escaped error, no channel.
type frameRun struct {
	c    *conn
	err  error
	done chan struct{} // capacity 1: the worker never waits on the reader
	fn   func()        // bound once: serves c's frames, then signals done
}

var frameRuns = sync.Pool{New: func() any {
	r := &frameRun{done: make(chan struct{}, 1)}
	r.fn = func() {
		r.err = r.c.readFrames()
		r.done <- struct{}{}
	}
	return r
}}

// serveFrames runs readFrames on a pooled worker and waits for it.
func (c *conn) serveFrames() error {
	r := frameRuns.Get().(*frameRun)
	r.c = c
	c.n.workers.goF(r.fn)
	<-r.done
	err := r.err
	r.c, r.err = nil, nil
	frameRuns.Put(r)
	return err
}

// A reader's turn is at most turnFrames frames or turnBytes payload bytes
// (whichever comes first; a frame is never split), over one wake-up or
// several in a row: a wake-up ends there, and the reader yields the
// processor before the next (yieldIfSpent), queueing behind the other
// runnable goroutines. Without that, a client that keeps the socket full
// keeps its reader and worker handing the processor to each other (a
// hand-off inherits the time slice), so they held it for the scheduler's
// whole 10 ms slice: with 50 such clients, a quiet connection's frame
// waited 100-400 ms for its turn (bench/analysis.md, noisy neighbours).
// Ordinary traffic pays one yield per 16 frames.
const (
	turnFrames = 16
	turnBytes  = 64 << 10
)

// turnSpent reports whether the reader's turn is over.
func (c *conn) turnSpent() bool {
	return c.turn.frames >= turnFrames || c.turn.bytes >= turnBytes
}

// yieldIfSpent starts a new turn, yielding the processor first, once the
// current one is spent. Only readPump calls it, between wake-ups.
func (c *conn) yieldIfSpent() {
	if c.turnSpent() {
		c.turn.frames, c.turn.bytes = 0, 0
		runtime.Gosched()
	}
}

// readFrames serves frames until the node's read buffer is empty or the
// reader's turn is spent. A connection without a buffer of its own (only
// test connections) reads until the socket fails or the turn is spent.
// Once the connection is closing for abuse it returns errReadStopped and
// reads nothing more.
func (c *conn) readFrames() error {
	for {
		if c.readStopped() {
			return errReadStopped
		}
		n, err := c.readFrame()
		if err != nil {
			return err
		}
		c.turn.frames++
		c.turn.bytes += n
		switch {
		case c.readStopped():
			return errReadStopped
		case c.br != nil && c.br.Buffered() == 0, c.turnSpent():
			return nil
		}
	}
}

// readFailed maps the reader's terminal error to a close code and counters.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errReadStopped):
		// The close that stopped the reader is under way.
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent 1009.
		c.n.stats.Error(counter.ErrTooBig)
		c.closeWith(protocol.CloseTooBig, "message too big")
	case errors.As(err, &ne) && ne.Timeout():
		c.closeWith(protocol.ClosePingTimeout, "ping timeout")
	default:
		code := protocol.CloseNormal
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			code = ce.Code
		}
		c.closeWith(code, "")
	}
}
