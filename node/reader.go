package node

import (
	"errors"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/stats"
)

// The reader of a connection is split in two so that an idle socket pins
// only a minimal goroutine stack (see BENCHMARKS.md, idle memory):
//
//   - readPump lives as long as the socket. It only waits until the socket
//     (or the node's read buffer) has bytes, through a call chain shallow
//     enough for the smallest goroutine stack (2 KiB).
//   - readFrames runs on another goroutine per wake-up (a pooled one, see
//     workers.go). It reads and serves every frame that is buffered,
//     including any Redis round trip, so the deep stack that needs is never
//     the reader's.
//
// Control frames are consumed by readControl before gorilla sees them:
// gorilla's NextReader handles a ping or pong and then blocks for the next
// data frame, which would keep the deep goroutine parked on an idle socket.

func (c *Conn) readDeadline() time.Time {
	return time.Now().Add(c.n.cfg.PingInterval + c.n.cfg.PongTimeout)
}

// prepareRead sets the read limit, the first read deadline and the pong
// handler. It runs before readPump starts, so readPump's stack stays small.
func (c *Conn) prepareRead() {
	c.ws.SetReadLimit(c.n.cfg.MaxMessageSize)
	c.extendRead()
	c.ws.SetPongHandler(func(string) error { c.extendRead(); return nil })
	// Pings gorilla still sees (between the fragments of a message) are
	// answered like those readControl consumes: through the send queue.
	c.ws.SetPingHandler(func(p string) error { c.extendRead(); c.pong([]byte(p)); return nil })
}

// extendRead moves the read deadline to a full ping interval plus pong
// timeout from now; any frame from the peer proves it alive.
func (c *Conn) extendRead() {
	_ = c.ws.SetReadDeadline(c.readDeadline())
}

// readPump is the connection's only reader. It returns when the socket is
// done: a read error, the read deadline (no frame, not even a pong, for
// PingInterval+PongTimeout), or the socket torn down by finishClose.
func (c *Conn) readPump() {
	for {
		if err := c.awaitReadable(); err != nil {
			c.readFailed(err)
			return
		}
		if err := c.serveFrames(); err != nil {
			c.readFailed(err)
			return
		}
	}
}

// frameRun hands one wake-up's frames from a reader to a worker. Pooled, so
// a wake-up allocates nothing: no closure, no escaped error, no channel.
type frameRun struct {
	c    *Conn
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
func (c *Conn) serveFrames() error {
	r := frameRuns.Get().(*frameRun)
	r.c = c
	c.n.workers.goF(r.fn)
	<-r.done
	err := r.err
	r.c, r.err = nil, nil
	frameRuns.Put(r)
	return err
}

// readFrames serves frames until the node's read buffer is empty. A
// connection without a buffer of its own (only test connections) reads until
// the socket fails.
func (c *Conn) readFrames() error {
	for {
		if err := c.readFrame(); err != nil {
			return err
		}
		if c.br != nil && c.br.Buffered() == 0 {
			return nil
		}
	}
}

// readFrame reads and serves one frame.
func (c *Conn) readFrame() error {
	if c.readControl() {
		return nil
	}
	typ, data, err := c.ws.ReadMessage()
	if err != nil {
		return err
	}
	c.extendRead()
	if c.closing() {
		return nil // keep reading until the peer answers our close frame
	}
	c.touch()
	if typ != websocket.TextMessage {
		c.reject(nil, "unsupported_frame", "only JSON text frames are accepted", stats.ErrBadRequest)
		return nil
	}
	if !utf8.Valid(data) {
		c.n.stats.Error(stats.ErrInvalidUTF8)
		c.closeWith(CloseInvalidUTF8, "invalid UTF-8")
		return nil
	}
	c.handle(data)
	return nil
}

// readFailed maps the reader's terminal error to a close code and counters.
func (c *Conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent 1009.
		c.n.stats.Error(stats.ErrTooBig)
		c.closeWith(CloseTooBig, "message too big")
	case errors.As(err, &ne) && ne.Timeout():
		c.closeWith(ClosePingTimeout, "ping timeout")
	default:
		code := CloseNormal
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			code = ce.Code
		}
		c.closeWith(code, "")
	}
}
