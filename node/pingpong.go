package node

import "github.com/wsnode/wsnode/socket"

// readControl consumes one well-formed ping or pong frame at the head of the
// node's read buffer and reports whether it did. A ping is answered with a
// pong carrying its payload (as gorilla's default handler does); either
// frame proves the peer alive and extends the read deadline. Anything else
// (a data or close frame, a malformed control frame) is left to gorilla,
// whose checks and close codes then apply.
func (c *conn) readControl() bool {
	if c.br == nil {
		return false
	}
	h, err := c.br.Peek(2)
	if err != nil {
		return false
	}
	op := h[0] & socket.Opcode
	if h[0]&socket.Fin == 0 || h[0]&socket.RSV != 0 || (op != socket.OpPing && op != socket.OpPong) ||
		h[1]&socket.Masked == 0 || int(h[1]&socket.Len7) > socket.MaxControlBytes {
		return false
	}
	n := int(h[1] & socket.Len7)
	f, err := c.br.Peek(socket.ControlHeader + n) // waits for the rest, under the read deadline
	if err != nil {
		return false // gorilla's read then reports the error
	}
	var payload []byte
	if op == socket.OpPing {
		payload = make([]byte, n)
		key := f[2:socket.ControlHeader]
		for i := range payload {
			payload[i] = f[socket.ControlHeader+i] ^ key[i&3]
		}
	}
	_, _ = c.br.Discard(socket.ControlHeader + n)
	c.extendRead()
	if op == socket.OpPing {
		c.pong(payload)
	}
	return true
}

// pong queues the answer to a client's ping. Through the queue, so a client
// flooding pings meets the send-queue limits and only the writer writes.
func (c *conn) pong(payload []byte) {
	if !c.closing() {
		c.enqueue(outFrame{data: payload, pong: true, size: int64(len(payload))})
	}
}
