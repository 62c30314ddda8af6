package socket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/wsnode/wsnode/internal/wiretest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 5 * time.Second

func TestCorkGathersIntoOneWrite(t *testing.T) {
	rc := &wiretest.Recorder{}
	c := &Conn{Conn: rc}
	if _, err := c.Write([]byte("a")); err != nil { // not corked: straight through
		t.Fatal(err)
	}
	c.Cork()
	for _, s := range []string{"b", "cd", "e"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if got := len(rc.Calls()); got != 1 {
		t.Fatalf("%d writes reached the socket while corked, want only the first", got)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if err := c.Uncork(); err != nil { // not corked: nothing to do
		t.Fatal(err)
	}
	got := fmt.Sprintf("%q", rc.Calls())
	if want := `["a" "bcde"]`; got != want {
		t.Fatalf("socket writes %s, want %s", got, want)
	}
}

func TestCorkUncorkReportsWriteError(t *testing.T) {
	boom := errors.New("boom")
	rc := &wiretest.Recorder{FailWith: boom}
	c := &Conn{Conn: rc}
	c.Cork()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("corked Write = %v; errors belong to Uncork", err)
	}
	if err := c.Uncork(); !errors.Is(err, boom) {
		t.Fatalf("Uncork = %v, want %v", err, boom)
	}
}

// gateConn blocks its first Write until gate is closed, and tells entered
// when that Write has begun; later writes are recorded at once.
type gateConn struct {
	wiretest.Recorder
	gate, entered chan struct{}
	started       atomic.Bool
}

func (g *gateConn) Write(p []byte) (int, error) {
	if g.started.CompareAndSwap(false, true) {
		close(g.entered)
		<-g.gate
	}
	return g.Recorder.Write(p)
}

// A frame written by another goroutine while the gathered frames are on
// their way to the socket (the close frame) must wait for them: Uncork
// holds the lock across its write.
func TestCorkKeepsOrderWithConcurrentWrite(t *testing.T) {
	g := &gateConn{gate: make(chan struct{}), entered: make(chan struct{})}
	c := &Conn{Conn: g}
	c.Cork()
	_, _ = c.Write([]byte("data"))
	uncorked := make(chan error, 1)
	go func() { uncorked <- c.Uncork() }()
	<-g.entered // Uncork is inside the socket write, holding the lock
	wrote := make(chan struct{})
	go func() { defer close(wrote); _, _ = c.Write([]byte("next")) }()
	select {
	case <-wrote:
		t.Fatal("a concurrent Write reached the socket while the gathered frames were being written")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	if err := <-uncorked; err != nil {
		t.Fatal(err)
	}
	<-wrote
	if got := fmt.Sprintf("%q", g.Calls()); got != `["data" "next"]` {
		t.Fatalf("socket writes %s, want the gathered frames first", got)
	}
}

// closeFrame is a close frame as gorilla's WriteControl writes it.
var closeFrame = AppendFrame(nil, OpClose, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))

// Nothing may follow a close frame (RFC 6455 5.5.1): once gorilla has
// written or gathered one, the writer's frames are refused.
func TestCorkNothingAfterClose(t *testing.T) {
	for _, corked := range []bool{true, false} {
		rc := &wiretest.Recorder{}
		c := &Conn{Conn: rc}
		if corked {
			c.Cork()
		}
		if err := c.WriteFrame(OpText, []byte("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(closeFrame); err != nil { // gorilla's close
			t.Fatal(err)
		}
		if err := c.WriteFrame(OpText, []byte("b")); !errors.Is(err, ErrCloseSent) {
			t.Fatalf("corked %v: data frame after the close frame: err %v, want ErrCloseSent", corked, err)
		}
		if err := c.Uncork(); err != nil {
			t.Fatal(err)
		}
		var all []byte
		for _, w := range rc.Calls() {
			all = append(all, w...)
		}
		if want := append(AppendFrame(nil, OpText, []byte("a")), closeFrame...); !bytes.Equal(all, want) {
			t.Fatalf("corked %v: socket got % x, want % x", corked, all, want)
		}
	}
}

// mustTCPPair returns both ends of a loopback TCP connection; both are
// closed when the test ends.
func mustTCPPair(tb testing.TB) (server, client *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String()) // the kernel completes the handshake
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cc.Close() })
	sc, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sc.Close() })
	return sc.(*net.TCPConn), cc.(*net.TCPConn)
}

// mustNoWaitConn wraps nc as the upgrade does (New) and uncorks it.
// It skips the test where sockets have no non-blocking write path.
func mustNoWaitConn(tb testing.TB, nc net.Conn) *Conn {
	tb.Helper()
	cc := New(nc)
	if !cc.NoWait() {
		tb.Skip("no non-blocking write path on this platform")
	}
	if err := cc.Uncork(); err != nil {
		tb.Fatal(err)
	}
	return cc
}

// mustShrinkBuffers makes a loopback pair hold little unread: the sender
// takes 32 KiB at a time (on Linux; megabytes by default) and the receive
// window is bounded whatever the system defaults, so a large frame fills
// the pair while the receiver does not read. restore grows the send buffer
// again, for the rest of the transfer not to crawl. (A receive buffer that
// small would make it crawl whatever the sender does.)
func mustShrinkBuffers(tb testing.TB, server, client *net.TCPConn) (restore func()) {
	tb.Helper()
	if err := server.SetWriteBuffer(4096); err != nil {
		tb.Fatal(err)
	}
	if err := client.SetReadBuffer(128 << 10); err != nil {
		tb.Fatal(err)
	}
	return func() {
		if err := server.SetWriteBuffer(4 << 20); err != nil {
			tb.Error(err)
		}
	}
}

// readAllAsync reads nc until EOF, or testTimeout, on another
// goroutine; wait returns what it read.
func readAllAsync(tb testing.TB, nc net.Conn) (wait func() []byte) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		_ = nc.SetReadDeadline(time.Now().Add(testTimeout))
		b, err := io.ReadAll(nc)
		ch <- result{b, err}
	}()
	return func() []byte {
		tb.Helper()
		r := <-ch
		if r.err != nil {
			tb.Fatalf("client read %d bytes, then %v", len(r.b), r.err)
		}
		return r.b
	}
}

func TestTryFrameWritesWholeFrame(t *testing.T) {
	server, client := mustTCPPair(t)
	cc := mustNoWaitConn(t, server)
	var want []byte
	for _, f := range []struct {
		op      byte
		payload []byte
	}{
		{OpText, []byte(`{"type":"message","n":1}`)},
		{OpPong, []byte("pong")},
		{OpText, bytes.Repeat([]byte("z"), 300)}, // a 16-bit length
	} {
		if res, err := cc.TryFrame(f.op, f.payload); res != TryWritten || err != nil {
			t.Fatalf("TryFrame(%#x, %d bytes) on an idle socket = %d, %v; want TryWritten", f.op, len(f.payload), res, err)
		}
		want = AppendFrame(want, f.op, f.payload)
	}
	wait := readAllAsync(t, client)
	_ = server.Close()
	if got := wait(); !bytes.Equal(got, want) {
		t.Fatalf("client read % x, want % x", got, want)
	}
}

func TestTryFrameWritesNothing(t *testing.T) {
	t.Run("corked", func(t *testing.T) {
		server, client := mustTCPPair(t)
		cc := New(server) // corked, as after the upgrade
		if res, err := cc.TryFrame(OpText, []byte("corked")); res != TryNot || err != nil {
			t.Fatalf("TryFrame while corked = %d, %v; want TryNot, nil", res, err)
		}
		if err := cc.Uncork(); err != nil {
			t.Fatal(err)
		}
		if _, err := cc.Write(closeFrame); err != nil { // gorilla's close
			t.Fatal(err)
		}
		if res, err := cc.TryFrame(OpText, []byte("late")); res != TryNot || !errors.Is(err, ErrCloseSent) {
			t.Fatalf("TryFrame after the close frame = %d, %v; want TryNot, ErrCloseSent", res, err)
		}
		wait := readAllAsync(t, client)
		_ = server.Close()
		if got := wait(); !bytes.Equal(got, closeFrame) {
			t.Fatalf("client read % x, want only the close frame % x", got, closeFrame)
		}
	})
	t.Run("no non-blocking path", func(t *testing.T) {
		rc := &wiretest.Recorder{}
		cc := New(rc)
		if err := cc.Uncork(); err != nil {
			t.Fatal(err)
		}
		if res, err := cc.TryFrame(OpText, []byte("x")); res != TryNot || err != nil {
			t.Fatalf("TryFrame on a %T = %d, %v; want TryNot, nil", rc, res, err)
		}
		if w := rc.Calls(); len(w) != 0 {
			t.Fatalf("TryFrame wrote %q to a socket without a non-blocking path", w)
		}
	})
}

// A frame the socket takes in part is finished before whatever is written
// next: a frame (WriteFrame), gathered frames (Uncork) or gorilla's close
// frame (Write). The client reads every frame whole, in order, the close
// frame last.
func TestTryFramePartialKeepsFramesWhole(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(*Conn) (wire []byte, err error) // what it adds to the wire
	}{
		{"WriteFrame", func(cc *Conn) ([]byte, error) {
			p := []byte("next")
			return AppendFrame(nil, OpText, p), cc.WriteFrame(OpText, p)
		}},
		{"uncork", func(cc *Conn) ([]byte, error) {
			cc.Cork()
			var wire []byte
			for _, p := range [][]byte{[]byte("gathered-1"), bytes.Repeat([]byte("g"), 1000)} {
				if err := cc.WriteFrame(OpText, p); err != nil {
					return nil, err
				}
				wire = AppendFrame(wire, OpText, p)
			}
			return wire, cc.Uncork()
		}},
		{"close", func(*Conn) ([]byte, error) { return nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := mustTCPPair(t)
			cc := mustNoWaitConn(t, server)
			restore := mustShrinkBuffers(t, server, client)
			first := []byte(`{"n":0}`) // an idle socket takes it whole
			if res, err := cc.TryFrame(OpText, first); res != TryWritten || err != nil {
				t.Fatalf("TryFrame on an idle socket = %d, %v; want TryWritten", res, err)
			}
			// The client does not read: a 1 MiB frame, far more than the
			// socket takes at once, goes out in part.
			big := bytes.Repeat([]byte("b"), 1<<20)
			if res, err := cc.TryFrame(OpText, big); res != TryPartial || err != nil {
				t.Fatalf("TryFrame(1 MiB) on a small socket buffer = %d, %v; want TryPartial", res, err)
			}
			want := AppendFrame(AppendFrame(nil, OpText, first), OpText, big)
			if res, err := cc.TryFrame(OpText, []byte("x")); res != TryNot || err != nil {
				t.Fatalf("TryFrame with a rest pending = %d, %v; want TryNot, nil", res, err)
			}
			restore()
			wait := readAllAsync(t, client)
			wire, err := tc.next(cc)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, wire...)
			if _, err := cc.Write(closeFrame); err != nil {
				t.Fatal(err)
			}
			want = append(want, closeFrame...)
			if res, err := cc.TryFrame(OpText, []byte("late")); res != TryNot || !errors.Is(err, ErrCloseSent) {
				t.Fatalf("TryFrame after the close frame = %d, %v; want TryNot, ErrCloseSent", res, err)
			}
			_ = server.Close()
			if all := wait(); !bytes.Equal(all, want) {
				ops, sizes, rest := wiretest.SplitFrames(all)
				wops, wsizes, _ := wiretest.SplitFrames(want)
				t.Fatalf("client read %d bytes: ops %v, sizes %v, %d stray bytes;\nwant %d bytes: ops %v, sizes %v",
					len(all), ops, sizes, len(rest), len(want), wops, wsizes)
			}
		})
	}
}
