package node

// awaitReadable returns once the node's read buffer holds bytes, filling it
// with one read from the socket: the reader parks in Go's poller until the
// socket is readable, and the read that wakes it is the one that serves the
// frames, so a wake-up costs no extra system call. It obeys the read
// deadline and returns an error when the socket is closed or fails.
//
// The call chain (bufio, net, internal/poll) stays shallow enough for the
// smallest goroutine stack; TestIdleReaderKeepsMinimalStack checks that.
func (c *conn) awaitReadable() error {
	if !c.waitBytes || c.br == nil || c.br.Buffered() > 0 {
		return nil
	}
	_, err := c.br.Peek(1)
	return err
}
