package integration

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Noisy neighbours: a client flooding a node with frames it rejects must
// cost the node little, or every other client on it waits (bench/ab.sh -s
// noisy measures by how much). These tests check the mechanism, not the
// timing: the node stops reading a socket it closes for abuse, and decides
// about a frame it rejects from its header, before the payload is there.

// rawClient is a WebSocket client driven by hand from one goroutine: frames
// are written raw to the socket and read with gorilla, and a close frame
// from the node is not answered (like a flooding client that never reads
// its close).
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
	nc net.Conn
}

// dialRaw connects with a 64 KiB send buffer (no autotuning) and reads the
// welcome frame.
func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 64<<10)
		})
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: nd.DialContext}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	ws.SetCloseHandler(func(int, string) error { return nil })
	c := &rawClient{t: t, ws: ws, nc: ws.NetConn()}
	if f := c.read(); f.Type != "welcome" {
		t.Fatalf("first frame %s, want welcome", f.raw)
	}
	return c
}

// read returns the next frame other than the node's application pings; it
// fails the test on a close or after 10 s.
func (c *rawClient) read() frame {
	c.t.Helper()
	f, err := c.tryRead()
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

func (c *rawClient) tryRead() (frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return frame{}, err
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			return frame{}, fmt.Errorf("undecodable frame %q", b)
		}
		f.raw = b
		if f.Type != "ping" {
			return f, nil
		}
	}
}

// write writes raw bytes (whole frames or pieces of one).
func (c *rawClient) write(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frameHeader is the header of a client frame (FIN set) of type op that
// declares a payload of n bytes, masked with the all-zero key, so the
// payload goes on the wire as it is.
func frameHeader(op int, n int) []byte {
	b := []byte{0x80 | byte(op)}
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, 0, 0, 0, 0)
}

func rawText(s string) []byte { return append(frameHeader(websocket.TextMessage, len(s)), s...) }

// TestAbusiveSocketIsNotRead: once the node closes a socket for abuse (here
// 1008, after more than --max-strikes malformed frames in a row), it reads
// nothing more from it. The client, which does not answer the close and
// keeps writing, can then write no more than the kernel buffers hold before
// its writes block, until the node tears the socket down after its close
// grace (2 s). A node that kept reading and discarding for the grace took
// tens of MB in that time (hundreds of frames); the bound here is 8 MB,
// about ten times what the socket buffers of an unread socket can take.
func TestAbusiveSocketIsNotRead(t *testing.T) {
	t.Parallel()
	n := startNode(t, "noisy-n0", startRedis(t, 0), nodeOpts{fast: true, args: []string{"--max-strikes", "20"}})
	c := dialRaw(t, n.wsURL())

	var burst []byte
	for range 21 {
		burst = append(burst, rawText("not json")...)
	}
	c.write(burst)
	errs := 0
	for {
		f, err := c.tryRead()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 1008 {
				t.Fatalf("closed with %d, want 1008", ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatalf("after %d error frames: %v", errs, err)
		}
		if f.Type != "error" || f.Code != "bad_request" {
			t.Fatalf("got %s, want bad_request errors and then close 1008", f.raw)
		}
		errs++
	}
	if errs != 21 {
		t.Errorf("%d bad_request errors before the close, want 21", errs)
	}

	// The close decision is behind us: flood. Frames of 32 KiB; the node's
	// close grace is 2 s, so a deadline of 6 s only ends a write that
	// neither the node nor its teardown ever answers.
	frame := rawText(`{"type":"ping","data":"` + strings.Repeat("x", 32<<10) + `"}`)
	const limit = 8 << 20
	start := time.Now()
	_ = c.nc.SetWriteDeadline(start.Add(6 * time.Second))
	written := 0
	var werr error
	for written < 64<<20 {
		var k int
		k, werr = c.nc.Write(frame)
		written += k
		if werr != nil {
			break
		}
	}
	t.Logf("after the close frame the client wrote %d KiB in %s before %v", written>>10, time.Since(start).Round(time.Millisecond), werr)
	if written >= limit {
		t.Fatalf("the client wrote %d MiB after the node closed it for abuse: the node kept reading it (want < %d MiB)",
			written>>20, limit>>20)
	}
	if werr == nil {
		t.Fatal("the client's writes never failed: the node did not tear the socket down")
	}
	waitFor(t, wait, "the closed socket to be cleaned up", func() error {
		var s statsDoc
		if err := n.getJSON("/stats?scope=node", &s); err != nil {
			return err
		}
		if s.ActiveConnections != 0 {
			return fmt.Errorf("%d active connections", s.ActiveConnections)
		}
		return nil
	})
}

// TestRejectedFramesAreNotRead: the node rejects a binary frame, and a frame
// over the rate limit, from the header: the error frame arrives while the
// client still holds back most of the payload (a node that read the whole
// frame first would answer only after it). The rest of the payload is then
// skipped and the socket stays usable; a frame declaring more than
// --max-message-size closes the socket with 1009 without its payload.
func TestRejectedFramesAreNotRead(t *testing.T) {
	t.Parallel()
	// One frame per 100 s after a burst of one: the rate-limited frame
	// below is over the limit whatever the machine's speed.
	n := startNode(t, "noisy-n1", startRedis(t, 0), nodeOpts{fast: true, args: []string{"--msg-rate", "0.01", "--msg-burst", "1"}})
	c := dialRaw(t, n.wsURL())
	payload := []byte(`{"type":"ping","data":"` + strings.Repeat("y", 60000) + `"}`)
	size := len(payload)

	// A binary frame: rejected at its header.
	c.write(append(frameHeader(websocket.BinaryMessage, size), payload[:1000]...))
	if f := c.read(); f.Type != "error" || f.Code != "unsupported_frame" {
		t.Fatalf("binary frame, 1000 of its %d bytes sent: got %s, want an unsupported_frame error", size, f.raw)
	}
	c.write(payload[1000:]) // skipped by the node, not taken for a frame
	c.write(rawText(`{"type":"ping","id":"p1"}`))
	if f := c.read(); f.Type != "pong" || string(f.Ref) != `"p1"` {
		t.Fatalf("ping after the binary frame: got %s, want pong p1", f.raw)
	}

	// A text frame over the rate limit (the ping took the only token).
	c.write(append(frameHeader(websocket.TextMessage, size), payload[:1000]...))
	if f := c.read(); f.Type != "error" || f.Code != "rate_limited" {
		t.Fatalf("frame over the rate limit, 1000 of its %d bytes sent: got %s, want a rate_limited error", size, f.raw)
	}
	c.write(payload[1000:])

	// A frame over --max-message-size (64 KiB): 1009 from the header alone.
	c.write(frameHeader(websocket.TextMessage, 1<<20))
	_, err := c.tryRead()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("1 MiB frame header: got %v, want close 1009", err)
	}
}
