package node

import (
	"errors"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/stats"
)

func (c *Conn) readDeadline() time.Time {
	return time.Now().Add(c.n.cfg.PingInterval + c.n.cfg.PongTimeout)
}

// readPump is the connection's only reader. It runs on the goroutine that
// upgraded the socket and returns when the socket is done.
func (c *Conn) readPump() {
	c.ws.SetReadLimit(c.n.cfg.MaxMessageSize)
	_ = c.ws.SetReadDeadline(c.readDeadline())
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(c.readDeadline()) })
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		_ = c.ws.SetReadDeadline(c.readDeadline())
		if c.closing() {
			continue // keep reading until the peer answers our close frame
		}
		c.touch()
		if typ != websocket.TextMessage {
			c.reject(nil, "unsupported_frame", "only JSON text frames are accepted", stats.ErrBadRequest)
			continue
		}
		if !utf8.Valid(data) {
			c.n.stats.Error(stats.ErrInvalidUTF8)
			c.closeWith(CloseInvalidUTF8, "invalid UTF-8")
			continue
		}
		c.handle(data)
	}
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

// writeLoop is the connection's only data writer. It runs while the queue
// is not empty and takes the whole queue per round, so a burst costs one
// goroutine wake-up. Frames queued before a close are still written (an
// error frame explaining the close must precede the close frame), except for
// a slow consumer, whose queue is dropped: its socket is the problem.
func (c *Conn) writeLoop() {
	failed := false
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 || failed || (c.closing() && c.closeCode == CloseSlowConsumer) {
			c.exitWriter()
			c.qmu.Unlock()
			return
		}
		c.queue, c.spare = c.spare, nil
		c.qmu.Unlock()
		var sent int64
		for _, f := range batch {
			if !c.writeFrame(f) {
				failed = true
				break
			}
			sent += f.size
		}
		clear(batch)
		c.qmu.Lock()
		c.queued -= sent
		if cap(batch) <= maxSpare {
			c.spare = batch[:0]
		}
		c.qmu.Unlock()
	}
}

// exitWriter is called with qmu held by the writer that is about to return.
func (c *Conn) exitWriter() {
	clear(c.queue) // a dropped queue must not pin its messages
	if cap(c.queue) > maxSpare {
		c.queue = nil
	}
	c.queue, c.queued, c.writing = c.queue[:0], 0, false
	if c.sealed {
		close(c.flushed)
	}
}

// writeFrame writes one frame with a deadline; on failure it starts the close.
func (c *Conn) writeFrame(f outFrame) bool {
	deadline := time.Now().Add(c.n.cfg.WriteTimeout)
	var err error
	if f.ping {
		err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	}
	if err == nil {
		_ = c.ws.SetWriteDeadline(deadline)
		err = c.ws.WriteMessage(websocket.TextMessage, f.data)
	}
	if err != nil {
		if !c.closing() {
			c.n.stats.Error(stats.ErrWriteFailed)
		}
		c.closeWith(CloseNormal, "")
		return false
	}
	if !f.ping {
		c.msgsOut.Add(1)
	}
	return true
}

func appPing() []byte {
	return mustJSON(replyFrame{Type: typePing, TS: nowMS()})
}
