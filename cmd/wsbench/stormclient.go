package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// stormHarness is the shared state of one storm run's clients.
type stormHarness struct {
	cfg       *stormConfig
	dialer    *websocket.Dialer
	survivors []string // the URLs of the nodes that are not drained

	drainAt    atomic.Int64 // unix ns of the SIGTERM; 0 before
	recordFrom atomic.Int64 // deliveries scheduled earlier are not kept

	mu         sync.Mutex
	deliveries []delivery
	rejoins    []int64 // unix ns of each "joined" after a reconnect
	refused    []int64 // unix ns of each 503

	errKinds map[string]int64 // the other errors of reconnects, by errKind

	n503, retries, otherErrs, undisturbedCloses, setupErrs atomic.Int64 // undisturbedCloses: unexpected closes
	rejoined, closed1001                                   atomic.Int64
}

func newStormHarness(cfg *stormConfig) *stormHarness {
	h := &stormHarness{cfg: cfg, errKinds: map[string]int64{}, dialer: &websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}).DialContext,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  512,
		WriteBufferPool:  &writeBufPool{},
	}}
	for i, u := range cfg.urls {
		if i != cfg.drain {
			h.survivors = append(h.survivors, u)
		}
	}
	return h
}

func (h *stormHarness) note(list *[]int64, t int64) {
	h.mu.Lock()
	*list = append(*list, t)
	h.mu.Unlock()
}

// stormClient is one receiver in one room.
type stormClient struct {
	h        *stormHarness
	i, node  int
	auth     []byte
	join     []byte
	rng      *rand.Rand
	rejoinAt atomic.Int64 // unix ns of the "joined" after the reconnect; 0 before
	closedAt atomic.Int64 // unix ns at which the first socket ended after the drain signal
}

// refusedError is a dial answered with HTTP 503; wait is Retry-After plus
// the jitter.
type refusedError struct{ wait time.Duration }

func (e *refusedError) Error() string { return fmt.Sprintf("503, retry in %v", e.wait) }

// connect dials url, authenticates and joins, and returns once joined.
func (c *stormClient) connect(ctx context.Context, url string) (*websocket.Conn, error) {
	ws, resp, err := c.h.dialer.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			c.h.n503.Add(1)
			c.h.note(&c.h.refused, time.Now().UnixNano())
			return nil, &refusedError{wait: retryAfter(resp, c.rng)}
		}
		if resp != nil {
			return nil, fmt.Errorf("http %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	if ws.WriteMessage(websocket.TextMessage, c.auth) != nil || ws.WriteMessage(websocket.TextMessage, c.join) != nil {
		_ = ws.Close()
		return nil, errors.New("write auth/join failed")
	}
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			_ = ws.Close()
			return nil, err
		}
		switch {
		case bytes.Contains(b, []byte(`"type":"joined"`)):
			_ = ws.SetReadDeadline(time.Time{})
			return ws, nil
		case bytes.Contains(b, []byte(`"type":"error"`)):
			_ = ws.Close()
			return nil, fmt.Errorf("error frame: %s", b)
		}
	}
}

// run connects to the client's own node (retrying until setupDeadline),
// reports joined on ready, reads until the socket ends and then, if the
// run is in its storm, reconnects to a survivor.
func (c *stormClient) run(ctx context.Context, ready func(ok bool), setupDeadline time.Time) {
	url := c.h.cfg.urls[c.node]
	var ws *websocket.Conn
	for {
		var err error
		if ws, err = c.connect(ctx, url); err == nil {
			break
		}
		c.h.setupErrs.Add(1)
		if ctx.Err() != nil || time.Now().After(setupDeadline) {
			ready(false)
			return
		}
		sleepCtx(ctx, retryAfter(nil, c.rng))
	}
	ready(true)
	undisturbed := c.node != c.h.cfg.drain
	err := c.read(ctx, ws, undisturbed)
	if ctx.Err() != nil {
		return
	}
	if undisturbed || c.h.drainAt.Load() == 0 {
		c.h.undisturbedCloses.Add(1) // not expected
		if c.h.drainAt.Load() == 0 {
			return // before the storm: gone (counted as not back if on the drained node)
		}
	}
	c.closedAt.Store(time.Now().UnixNano())
	if websocket.IsCloseError(err, websocket.CloseGoingAway) {
		c.h.closed1001.Add(1)
	}
	sleepCtx(ctx, fullJitter(c.h.cfg.jitter, c.rng))
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			c.h.retries.Add(1)
		}
		ws, err := c.connect(ctx, c.h.survivors[(c.i+attempt)%len(c.h.survivors)])
		if err == nil {
			now := time.Now().UnixNano()
			c.rejoinAt.Store(now)
			c.h.note(&c.h.rejoins, now)
			c.h.rejoined.Add(1)
			_ = c.read(ctx, ws, false)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if re, ok := errors.AsType[*refusedError](err); ok {
			sleepCtx(ctx, re.wait)
			continue
		}
		c.h.otherErrs.Add(1)
		c.h.mu.Lock()
		c.h.errKinds[errKind(err)]++
		c.h.mu.Unlock()
		sleepCtx(ctx, retryAfter(nil, c.rng))
	}
}

// errKind names an error's kind for the report: "timeout", "refused",
// "reset", "eof", "http 429", "close 1013", "error frame", or the message.
func errKind(err error) string {
	var ne net.Error
	var ce *websocket.CloseError
	switch msg := err.Error(); {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d", ce.Code)
	case strings.HasPrefix(msg, "http "), strings.HasPrefix(msg, "error frame"):
		if i := strings.Index(msg, ":"); i > 0 {
			return msg[:i]
		}
		return msg
	default:
		return msg
	}
}

// read records the latency of every stamped message until ws ends, and
// returns the error that ended it.
func (c *stormClient) read(ctx context.Context, ws *websocket.Conn, undisturbed bool) error {
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	defer ws.Close()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if st, ok := ScanStamp(b); ok && st.Sched >= c.h.recordFrom.Load() {
			d := delivery{sched: st.Sched, lat: now - st.Sched, undisturbed: undisturbed, node: int8(c.node), fromNode: -1}
			if ts, ok := scanTS(b); ok {
				d.fromNode = now - ts*int64(time.Millisecond)
			}
			c.h.mu.Lock()
			c.h.deliveries = append(c.h.deliveries, d)
			c.h.mu.Unlock()
		}
	}
}

// stormPublishers are the sending connections, on the survivors: each
// joins the rooms r with r % pubs == its index (a member may publish).
type stormPublishers struct {
	ws    []*websocket.Conn
	rooms int
	lags  []sendLag // written by pace only
}

// sendLag is how late one publish left the generator.
type sendLag struct{ sched, lag int64 }

// scanTS reads the node's "ts" (unix ms, the time the node accepted the
// message) from a message frame.
func scanTS(frame []byte) (int64, bool) {
	i := bytes.LastIndex(frame, []byte(`"ts":`))
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i + len(`"ts":`)
	for ; j < len(frame) && frame[j] >= '0' && frame[j] <= '9'; j++ {
		v = v*10 + int64(frame[j]-'0')
	}
	return v, j > i+len(`"ts":`)
}

func dialPublishers(ctx context.Context, h *stormHarness, auths [][]byte, rooms int, roomName func(int) string) (*stormPublishers, error) {
	p := &stormPublishers{rooms: rooms}
	for k, auth := range auths {
		ws, _, err := h.dialer.DialContext(ctx, h.survivors[k%len(h.survivors)], nil)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("publisher %d: %w", k, err)
		}
		p.ws = append(p.ws, ws)
		if err := ws.WriteMessage(websocket.TextMessage, auth); err != nil {
			p.close()
			return nil, err
		}
		want := 0
		for r := k; r < rooms; r += len(auths) {
			want++
			if err := ws.WriteJSON(map[string]any{"type": "join", "room": roomName(r)}); err != nil {
				p.close()
				return nil, err
			}
		}
		_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		for want > 0 {
			_, b, err := ws.ReadMessage()
			if err != nil || bytes.Contains(b, []byte(`"type":"error"`)) {
				p.close()
				return nil, fmt.Errorf("publisher %d join: %v %s", k, err, b)
			}
			if bytes.Contains(b, []byte(`"type":"joined"`)) {
				want--
			}
		}
		_ = ws.SetReadDeadline(time.Time{})
		go func() { // discard acks and pings' frames
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	return p, nil
}

func (p *stormPublishers) close() {
	for _, ws := range p.ws {
		_ = ws.Close()
	}
}

// pace sends message k at start + k*every to room k % rooms from its
// owner, on one locked OS thread (as the rooms scenario's pacer), each
// stamped with its scheduled time, until ctx ends. It returns the number
// of failed writes, and records each send's lag behind its schedule (the
// write's return minus the scheduled time) in p.lags, read after it
// returned.
func (p *stormPublishers) pace(ctx context.Context, start int64, every time.Duration, payload int, roomName func(int) string) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setTimerSlack(timerSlackNs)
	names := make([]string, p.rooms)
	for r := range names {
		names[r] = roomName(r)
	}
	buf := make([]byte, 0, payload+256)
	errs := 0
	for k := int64(0); ; k++ {
		at := start + k*int64(every)
		if !preciseSleepUntil(ctx, at) {
			return errs
		}
		r := int(k % int64(p.rooms))
		buf = append(buf[:0], `{"type":"message","echo":false,"room":"`...)
		buf = append(buf, names[r]...)
		buf = append(buf, `","data":`...)
		buf = AppendData(buf, Stamp{Pub: int64(r % len(p.ws)), Seq: k, Sched: at, Target: int64(r)}, payload)
		buf = append(buf, '}')
		if p.ws[r%len(p.ws)].WriteMessage(websocket.TextMessage, buf) != nil {
			errs++
		}
		p.lags = append(p.lags, sendLag{sched: at, lag: time.Now().UnixNano() - at})
	}
}
