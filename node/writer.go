package node

import (
	"errors"
	"time"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// writeLoop is the connection's only data writer. It runs while the queue
// is not empty and takes the whole queue per round, so a burst costs one
// goroutine wake-up. Frames queued before a close are still written (an
// error frame explaining the close must precede the close frame), except for
// a slow consumer, whose queue is dropped: its socket is the problem.
func (c *conn) writeLoop() {
	failed := !c.flushRest()
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 || failed || (c.closing() && c.closeCode == protocol.CloseSlowConsumer) {
			c.exitWriter()
			c.qmu.Unlock()
			return
		}
		c.queue, c.spare = c.spare, nil
		c.qmu.Unlock()
		sent, ok := c.writeBatch(batch)
		failed = !ok
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
func (c *conn) exitWriter() {
	clear(c.queue) // a dropped queue must not pin its messages
	if cap(c.queue) > maxSpare {
		c.queue = nil
	}
	c.queue, c.queued, c.writing = c.queue[:0], 0, false
	if c.sealed {
		close(c.flushed)
	}
}

// writeBatch writes the frames of one round and returns the bytes written
// and whether every write succeeded. Frames are gathered into socket writes
// of at most socket.MaxCork bytes (socket.Conn); a frame that large goes
// out alone.
func (c *conn) writeBatch(batch []outFrame) (sent int64, ok bool) {
	cork := c.cork
	if len(batch) < 2 {
		cork = nil
	}
	gathered := 0 // bytes gathered since the last cork
	for _, f := range batch {
		n := f.wireSize()
		if cork != nil && gathered > 0 && gathered+n > socket.MaxCork {
			if !c.uncork(cork) {
				return sent, false
			}
			gathered = 0
		}
		small := cork != nil && n < socket.MaxCork
		if small && gathered == 0 {
			cork.Cork()
		}
		if !c.writeFrame(f) {
			c.uncork(cork) // whatever it returns, the connection is closing
			return sent, false
		}
		sent += f.size
		if small {
			gathered += n
		}
	}
	return sent, c.uncork(cork)
}

// uncork writes the gathered frames, if any, and reports success; a failure
// starts the close like any failed write.
func (c *conn) uncork(cork *socket.Conn) bool {
	if cork == nil {
		return true
	}
	c.writeSince.Store(time.Now().UnixNano())
	err := cork.Uncork()
	c.writeSince.Store(0)
	if err != nil {
		c.writeFailed()
		return false
	}
	return true
}

// writeFrame writes one frame (the sweep bounds how long: writeStuck); on
// failure it starts the close.
func (c *conn) writeFrame(f outFrame) bool {
	c.writeSince.Store(time.Now().UnixNano())
	err := c.sendFrame(f)
	c.writeSince.Store(0)
	return c.wrote(f, err)
}

// wrote accounts for a write of f that ended with err and reports success:
// a data frame is counted, a failure starts the close. After the close
// frame (socket.ErrCloseSent) the writer just stops: the socket is closing already
// (by finishClose or the peer), not failing.
func (c *conn) wrote(f outFrame, err error) bool {
	if err != nil {
		if !errors.Is(err, socket.ErrCloseSent) {
			c.writeFailed()
		}
		return false
	}
	if !f.ping && !f.pong {
		c.msgsOut.Add(1)
		if !c.outDirty.Load() {
			c.outDirty.Store(true)
		}
	}
	return true
}

// sendFrame writes f's frames to the socket through its socket.Conn: a pong,
// or a ping followed by its data, or just data. Every connection with a
// socket has one (socket.Hijacker sets it up in the upgrade).
func (c *conn) sendFrame(f outFrame) error {
	if f.ping {
		if err := c.cork.WriteFrame(socket.OpPing, nil); err != nil {
			return err
		}
	}
	return c.cork.WriteFrame(f.opcode(), f.data)
}

// writeStuck aborts a data write that has run longer than WriteTimeout
// (the sweep calls it): a past deadline fails the blocked write, and the
// connection closes as after any failed write.
//
// Data frames carry no per-frame deadline: gorilla re-arms the socket's
// deadline timer on every write that has one, which cost 10-15% of node CPU
// in the fan-out benchmark. Instead the writer stamps writeSince around each
// write and the node-wide sweep enforces WriteTimeout, with its resolution.
func (c *conn) writeStuck() {
	c.writeFailed()
	_ = c.ws.NetConn().SetWriteDeadline(time.Unix(1, 0))
}

// writeFailed closes the connection after a failed or stuck write and
// counts it once, unless it was already closing.
func (c *conn) writeFailed() {
	if c.closeWith(protocol.CloseNormal, "") {
		c.n.stats.Error(counter.ErrWriteFailed)
	}
}
