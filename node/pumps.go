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

// writePump is the connection's only data writer.
func (c *Conn) writePump() {
	defer close(c.writerDone)
	ticker := time.NewTicker(c.n.cfg.PingInterval)
	defer ticker.Stop()
	for {
		select {
		case f := <-c.send:
			if !c.write(f) {
				return
			}
		case <-ticker.C:
			if !c.ping() {
				return
			}
		case <-c.done:
			c.flush()
			return
		}
	}
}

// flush writes the frames queued before the close started, so that an
// error frame explaining the close reaches the client before the close
// frame. A slow consumer's queue is dropped: its socket is the problem.
func (c *Conn) flush() {
	if c.closeCode == CloseSlowConsumer {
		return
	}
	for {
		select {
		case f := <-c.send:
			if !c.write(f) {
				return
			}
		default:
			return
		}
	}
}

func (c *Conn) write(f outFrame) bool {
	c.queuedBytes.Add(-f.size)
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.n.cfg.WriteTimeout))
	if err := c.ws.WritePreparedMessage(f.pm); err != nil {
		if !c.closing() {
			c.n.stats.Error(stats.ErrWriteFailed)
		}
		c.closeWith(CloseNormal, "")
		return false
	}
	c.msgsOut.Add(1)
	return true
}

// ping sends a WebSocket ping and the application ping frame.
func (c *Conn) ping() bool {
	deadline := time.Now().Add(c.n.cfg.WriteTimeout)
	if err := c.ws.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
		c.closeWith(CloseNormal, "")
		return false
	}
	_ = c.ws.SetWriteDeadline(deadline)
	if err := c.ws.WriteMessage(websocket.TextMessage, appPing()); err != nil {
		c.closeWith(CloseNormal, "")
		return false
	}
	return true
}

func appPing() []byte {
	return mustJSON(replyFrame{Type: typePing, TS: nowMS()})
}
