package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one socket: a reader goroutine (the only reader) and a writer
// goroutine (the only writer; every other goroutine queues frames for it).
// The client's reconnect loop owns it: it starts it, waits for it to end
// and tears it down with finish.
type conn struct {
	c  *Client
	ws *websocket.Conn

	// outgoing queue, drained by the writer
	qmu   sync.Mutex
	queue []outFrame
	wake  chan struct{}

	// pending requests by their id as JSON; closed once the reader ended
	pmu     sync.Mutex
	pending map[string]func(Frame, error)
	ended   bool

	welcome   chan Frame // the welcome frame, once
	readDone  chan struct{}
	writeDone chan struct{}
	stopWrite chan struct{}
	stopOnce  sync.Once

	// set by the reader before readDone is closed
	code   int
	reason string
	err    error

	deadline time.Duration // read deadline after each frame; reader-owned
}

type outFrame struct {
	op   int // websocket.TextMessage, PongMessage or CloseMessage
	data []byte
}

func newConn(c *Client, ws *websocket.Conn) *conn {
	s := &conn{c: c, ws: ws, wake: make(chan struct{}, 1), pending: map[string]func(Frame, error){},
		welcome: make(chan Frame, 1), readDone: make(chan struct{}), writeDone: make(chan struct{}),
		stopWrite: make(chan struct{}), deadline: c.cfg.RequestTimeout}
	ws.SetPingHandler(func(data string) error {
		s.extendDeadline()
		s.enqueue(outFrame{op: websocket.PongMessage, data: []byte(data)})
		return nil
	})
	ws.SetPongHandler(func(string) error { s.extendDeadline(); return nil })
	ws.SetCloseHandler(func(code int, _ string) error {
		// Answer the close (the writer sends it); ReadMessage then
		// returns the *websocket.CloseError with code and reason.
		s.enqueue(outFrame{op: websocket.CloseMessage, data: websocket.FormatCloseMessage(code, "")})
		return nil
	})
	go s.read()
	go s.write()
	return s
}

func (s *conn) extendDeadline() { _ = s.ws.SetReadDeadline(time.Now().Add(s.deadline)) }

// enqueue hands a frame to the writer. It never blocks.
func (s *conn) enqueue(f outFrame) {
	s.qmu.Lock()
	s.queue = append(s.queue, f)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// send queues v, marshalled as JSON, for the writer.
func (s *conn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.enqueue(outFrame{op: websocket.TextMessage, data: b})
	return nil
}

func (s *conn) write() {
	defer close(s.writeDone)
	closeSent := false
	for {
		s.qmu.Lock()
		q := s.queue
		s.queue = nil
		s.qmu.Unlock()
		stopping := false
		select {
		case <-s.stopWrite:
			stopping = true
		default:
		}
		for _, f := range q {
			if stopping && f.op == websocket.TextMessage {
				continue // the socket is going away: only its close frame matters
			}
			if f.op == websocket.CloseMessage {
				if closeSent {
					continue
				}
				closeSent = true
			}
			if err := s.writeOne(f); err != nil {
				// A broken socket: make the reader notice at once.
				_ = s.ws.NetConn().Close()
				return
			}
		}
		if stopping {
			return
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.stopWrite:
		}
	}
}

func (s *conn) writeOne(f outFrame) error {
	deadline := time.Now().Add(s.c.cfg.WriteTimeout)
	if f.op == websocket.TextMessage {
		_ = s.ws.SetWriteDeadline(deadline)
		return s.ws.WriteMessage(f.op, f.data)
	}
	return s.ws.WriteControl(f.op, f.data, deadline)
}

func (s *conn) read() {
	defer close(s.readDone)
	s.extendDeadline()
	for {
		op, b, err := s.ws.ReadMessage()
		if err != nil {
			s.code, s.reason, s.err = CodeAbnormal, "", err
			var ce *websocket.CloseError
			var ne net.Error
			switch {
			case errors.As(err, &ce):
				s.code, s.reason, s.err = ce.Code, ce.Text, nil
			case errors.As(err, &ne) && ne.Timeout():
				s.err = fmt.Errorf("no frame for %s: connection presumed dead", s.deadline)
			}
			s.endPending()
			return
		}
		s.extendDeadline()
		if op != websocket.TextMessage {
			continue
		}
		f, err := decodeFrame(b)
		if err != nil {
			continue
		}
		s.handle(f)
	}
}

// handle routes one frame; it runs on the reader.
func (s *conn) handle(f Frame) {
	if f.Ref != nil && s.resolve(f) {
		return
	}
	switch f.Type {
	case "welcome":
		if f.PingIntervalMS > 0 {
			s.deadline = time.Duration(f.PingIntervalMS)*time.Millisecond + s.c.cfg.PingMargin
			s.extendDeadline()
		}
		select {
		case s.welcome <- f:
		default:
		}
	case "ping":
		_ = s.send(map[string]string{"type": "pong"})
	default:
		s.c.route(f)
	}
}

// call queues frame m with a fresh id and registers cb for the answer
// (the frame with that ref, as an *Error for an error frame). cb runs on
// the reader, or with ErrConnectionLost when the socket ends first; it must
// not block. call fails when the socket already ended (cb is then not
// called).
func (s *conn) call(m map[string]any, cb func(Frame, error)) (string, error) {
	id := fmt.Sprintf("c%d", s.c.ids.Add(1))
	key := `"` + id + `"`
	s.pmu.Lock()
	if s.ended {
		s.pmu.Unlock()
		return "", ErrConnectionLost
	}
	s.pending[key] = cb
	s.pmu.Unlock()
	m["id"] = id
	if err := s.send(m); err != nil {
		s.forget(key)
		return "", err
	}
	return key, nil
}

// forget drops a pending request (its caller gave up waiting).
func (s *conn) forget(key string) {
	s.pmu.Lock()
	delete(s.pending, key)
	s.pmu.Unlock()
}

func (s *conn) resolve(f Frame) bool {
	s.pmu.Lock()
	cb, ok := s.pending[string(f.Ref)]
	delete(s.pending, string(f.Ref))
	s.pmu.Unlock()
	if !ok {
		return false
	}
	if f.Type == "error" {
		cb(f, &Error{Code: f.Code, Message: f.Message, Frame: f})
	} else {
		cb(f, nil)
	}
	return true
}

func (s *conn) endPending() {
	s.pmu.Lock()
	s.ended = true
	p := s.pending
	s.pending = nil
	s.pmu.Unlock()
	for _, cb := range p {
		cb(Frame{}, ErrConnectionLost)
	}
}

// finish ends the socket and waits for both goroutines. With code != 0
// and the reader still running, it first sends a close frame with code
// and waits up to closeWait for the node's answer.
func (s *conn) finish(code int) {
	const closeWait = 2 * time.Second
	if code != 0 {
		select {
		case <-s.readDone:
		default:
			s.enqueue(outFrame{op: websocket.CloseMessage, data: websocket.FormatCloseMessage(code, "")})
			t := time.NewTimer(closeWait)
			select {
			case <-s.readDone:
			case <-t.C:
			}
			t.Stop()
		}
	}
	s.stopOnce.Do(func() { close(s.stopWrite) })
	t := time.NewTimer(time.Second)
	select {
	case <-s.writeDone:
	case <-t.C:
	}
	t.Stop()
	_ = s.ws.Close()
	<-s.readDone
	<-s.writeDone
}
