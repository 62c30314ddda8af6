package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// recConn records each Write call; it fails them once failWith is set.
type recConn struct {
	net.Conn
	mu       sync.Mutex
	writes   [][]byte
	failWith error
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failWith != nil {
		return 0, r.failWith
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recConn) calls() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

func TestCorkGathersIntoOneWrite(t *testing.T) {
	rc := &recConn{}
	c := &corkConn{Conn: rc}
	if _, err := c.Write([]byte("a")); err != nil { // not corked: straight through
		t.Fatal(err)
	}
	c.cork()
	for _, s := range []string{"b", "cd", "e"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if got := len(rc.calls()); got != 1 {
		t.Fatalf("%d writes reached the socket while corked, want only the first", got)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if err := c.uncork(); err != nil { // not corked: nothing to do
		t.Fatal(err)
	}
	got := fmt.Sprintf("%q", rc.calls())
	if want := `["a" "bcde"]`; got != want {
		t.Fatalf("socket writes %s, want %s", got, want)
	}
}

func TestCorkUncorkReportsWriteError(t *testing.T) {
	boom := errors.New("boom")
	rc := &recConn{failWith: boom}
	c := &corkConn{Conn: rc}
	c.cork()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("corked Write = %v; errors belong to uncork", err)
	}
	if err := c.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork = %v, want %v", err, boom)
	}
}

// A frame written by another goroutine while the writer is corked (the
// close frame) must reach the socket after the gathered frames.
func TestCorkKeepsOrderWithConcurrentWrite(t *testing.T) {
	for range 200 {
		rc := &recConn{}
		c := &corkConn{Conn: rc}
		c.cork()
		_, _ = c.Write([]byte("data"))
		done := make(chan struct{})
		go func() { defer close(done); _, _ = c.Write([]byte("close")) }()
		if err := c.uncork(); err != nil {
			t.Fatal(err)
		}
		<-done
		var all []byte
		for _, w := range rc.calls() {
			all = append(all, w...)
		}
		if string(all) != "dataclose" {
			t.Fatalf("socket got %q, want the close frame last", all)
		}
	}
}

// A batch larger than maxCork is written in several gathered writes, and
// the client reads every frame, in order.
func TestWriteBatchLargerThanCork(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	defer ws.Close()
	var welcome welcomeFrame
	if err := ws.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	c := n.idx.get(welcome.ConnID)
	if c == nil || c.cork == nil {
		t.Fatalf("server conn %v, cork %v", c, c != nil && c.cork != nil)
	}
	const frames = 300
	payload := bytes.Repeat([]byte("x"), 1000) // 300 KB in all: five gathered writes
	var batch []outFrame
	for i := range frames {
		data := fmt.Appendf(nil, `{"i":%d,"p":"%s"}`, i, payload)
		batch = append(batch, outFrame{data: data, size: int64(len(data))})
	}
	// Queue the whole batch at once, as enqueue would frame by frame, so the
	// writer takes it in one round.
	for deadline := time.Now().Add(readerTestTimeout); ; time.Sleep(time.Millisecond) {
		c.qmu.Lock()
		if !c.writing || time.Now().After(deadline) {
			break // the welcome frame's writer is done
		}
		c.qmu.Unlock()
	}
	for _, f := range batch {
		c.queue = append(c.queue, f)
		c.queued += f.size
	}
	c.writing = true
	c.qmu.Unlock()
	n.workers.goF(c.writer)
	_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
	for i := range frames {
		var f struct{ I int }
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.I != i {
			t.Fatalf("frame %d carries %d", i, f.I)
		}
	}
}
