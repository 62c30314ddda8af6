package main

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one open socket of a worker and its receive-side state.
type conn struct {
	ws   *websocket.Conn
	slot Slot
	seen seenSet // nil for publishers
}

// recvState is what all reader goroutines of one worker share.
type recvState struct {
	measureFrom atomic.Int64 // stamps scheduled earlier are warm-up
	closing     atomic.Bool  // set before our own teardown
	lat         *Histogram
	timeline    atomic.Pointer[Timeline] // set with measureFrom
	keyOf       func(Stamp) int64

	received, dups, strays, warmup, echoes, errFrames atomic.Int64

	mu          sync.Mutex
	disconnects map[string]int64
	errSamples  []string
}

func newRecvState(keyOf func(Stamp) int64) *recvState {
	r := &recvState{lat: NewHistogram(), keyOf: keyOf, disconnects: map[string]int64{}}
	r.measureFrom.Store(math.MaxInt64)
	return r
}

// activity is a counter that moves whenever a stamped frame arrives.
func (r *recvState) activity() int64 {
	return r.received.Load() + r.dups.Load() + r.strays.Load() + r.warmup.Load() + r.echoes.Load()
}

// bufPool holds read buffers; a connection borrows one only while a frame
// is being read, so idle sockets hold none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readLoop reads frames from c until the socket fails or is closed.
func (r *recvState) readLoop(c *conn, done func()) {
	defer done()
	for {
		_, rd, err := c.ws.NextReader()
		if err != nil {
			r.noteClose(err)
			return
		}
		bp := bufPool.Get().(*[]byte)
		frame, err := readFrame(rd, (*bp)[:0])
		if err == nil {
			r.onFrame(c, frame, time.Now().UnixNano())
		}
		*bp = frame[:0]
		bufPool.Put(bp)
		if err != nil {
			r.noteClose(err)
			return
		}
	}
}

// readFrame reads one whole message into b, growing it if needed.
func readFrame(rd io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

var errType = []byte("error")

// onFrame classifies one frame and updates the counters.
func (r *recvState) onFrame(c *conn, frame []byte, now int64) {
	st, ok := ScanStamp(frame)
	switch {
	case !ok:
		if bytes.Equal(FrameType(frame), errType) {
			r.errFrames.Add(1)
			r.sampleErr(frame)
		}
	case c.slot.Role == rolePublisher:
		r.echoes.Add(1)
	case st.Sched < r.measureFrom.Load():
		r.warmup.Add(1)
	case st.Target != int64(c.slot.Target):
		r.strays.Add(1)
	default:
		r.deliver(c, st, now)
	}
}

func (r *recvState) deliver(c *conn, st Stamp, now int64) {
	dup, ok := c.seen.testAndSet(r.keyOf(st))
	switch {
	case !ok:
		r.strays.Add(1)
	case dup:
		r.dups.Add(1)
	default:
		r.received.Add(1)
		r.lat.Record(now - st.Sched)
		r.timeline.Load().Record(st.Sched, now-st.Sched)
	}
}

func (r *recvState) sampleErr(frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errSamples) < 5 {
		r.errSamples = append(r.errSamples, truncate(frame, 200))
	}
}

// noteClose counts a socket that ended while we were not closing it.
func (r *recvState) noteClose(err error) {
	if r.closing.Load() {
		return
	}
	r.mu.Lock()
	r.disconnects[closeReason(err)]++
	r.mu.Unlock()
}

// closeReason names a read error: the close code when the server sent
// one, otherwise a short class.
func closeReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return "close_" + strconv.Itoa(ce.Code)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "eof"
	}
	return "read_error"
}
