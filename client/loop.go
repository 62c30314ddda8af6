package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// run is the reconnect loop: connect, wait for the socket to end, apply
// the close-code policy, back off, again. It is the only goroutine that
// opens or tears down sockets.
func (c *Client) run() {
	attempt := 0
	for {
		if c.ctx.Err() != nil {
			c.stop(CodeNormal, "", ErrClosed)
			return
		}
		c.setState(StateEvent{State: StateConnecting})
		s, sess, err := c.connect(c.ctx)
		code, reason := CodeAbnormal, ""
		switch {
		case err == nil:
			up := c.cfg.Clock.Now()
			c.goLive(s, sess)
			select {
			case <-s.readDone:
				s.finish(0)
			case <-c.ctx.Done():
				s.finish(CodeNormal)
			}
			c.goDead()
			code, reason, err = s.code, s.reason, s.err
			if c.cfg.Clock.Now().Sub(up) >= c.cfg.StableAfter {
				attempt = 0
			}
		case s != nil: // the socket opened, then ended during the handshake
			code, reason = s.code, s.reason
			if s.err != nil {
				err = s.err
			}
		}
		if c.ctx.Err() != nil {
			c.stop(CodeNormal, "", ErrClosed)
			return
		}
		var ce *CloseError
		if errors.As(err, &ce) {
			c.stop(ce.Code, ce.Reason, ce)
			return
		}
		var delay time.Duration
		switch policyFor(code) {
		case stop:
			c.stop(code, reason, &CloseError{Code: code, Reason: reason})
			return
		case reconnectBackoff:
			delay = c.cfg.Backoff.Delay(attempt, c.cfg.Rand())
			attempt++
		}
		var busy *busyError
		if errors.As(err, &busy) {
			// The node refused the connect with 503 and Retry-After (a
			// reconnect storm): not before that, plus full jitter of 1 s so
			// that the refused clients do not return together.
			delay = max(delay, busy.after+time.Duration(c.cfg.Rand()*float64(time.Second)))
		}
		c.setState(StateEvent{State: StateDisconnected, Code: code, Reason: reason, Err: err, Delay: delay})
		if delay > 0 {
			select {
			case <-c.cfg.Clock.After(delay):
			case <-c.ctx.Done():
			}
		}
	}
}

// connect opens a socket, waits for welcome and authenticates. On error
// after the socket opened, it returns the finished socket too, whose close
// code tells the loop what happened.
func (c *Client) connect(ctx context.Context) (*conn, Session, error) {
	var token string
	if p := c.cfg.TokenProvider; p != nil {
		tctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		tok, err := p(tctx)
		cancel()
		if err != nil {
			return nil, Session{}, fmt.Errorf("wsnode client: token: %w", err)
		}
		token = tok
	}
	ws, resp, err := c.cfg.Dialer.DialContext(ctx, c.url, c.cfg.Header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, Session{}, &CloseError{Status: resp.StatusCode}
		}
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
				return nil, Session{}, &busyError{after: time.Duration(min(secs, 60)) * time.Second, err: err}
			}
		}
		return nil, Session{}, fmt.Errorf("wsnode client: dial: %w", err)
	}
	s := newConn(c, ws)
	fail := func(code int, err error) (*conn, Session, error) {
		s.finish(code)
		return s, Session{}, err
	}
	timer := time.NewTimer(c.cfg.RequestTimeout)
	defer timer.Stop()
	var sess Session
	select {
	case w := <-s.welcome:
		sess = Session{ConnID: w.ConnID, NodeID: w.NodeID, PingInterval: time.Duration(w.PingIntervalMS) * time.Millisecond}
	case <-s.readDone:
		return fail(0, errors.New("wsnode client: socket closed before welcome"))
	case <-timer.C:
		return fail(CodeNormal, errors.New("wsnode client: no welcome frame"))
	case <-ctx.Done():
		return fail(CodeNormal, ctx.Err())
	}
	if token == "" {
		return s, sess, nil
	}
	type answer struct {
		f   Frame
		err error
	}
	ch := make(chan answer, 1)
	if _, err := s.call(map[string]any{"type": "auth", "token": token}, func(f Frame, err error) { ch <- answer{f, err} }); err != nil {
		return fail(0, err)
	}
	select {
	case a := <-ch:
		if a.err == nil {
			sess.User, sess.ConnType = a.f.User, a.f.ConnType
			return s, sess, nil
		}
		// Refused: the node closes the socket (4500); wait for its code.
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-s.readDone:
			return fail(0, a.err)
		case <-t.C:
			s.finish(CodeNormal)
			return s, Session{}, &CloseError{Code: 4500, Reason: a.err.Error()}
		}
	case <-s.readDone:
		return fail(0, errors.New("wsnode client: socket closed before authenticated"))
	case <-timer.C:
		return fail(CodeNormal, errors.New("wsnode client: no authenticated frame"))
	case <-ctx.Done():
		return fail(CodeNormal, ctx.Err())
	}
}

// busyError is a handshake refused with 503 and Retry-After: the node has
// too many connects in flight, or is starting or draining.
type busyError struct {
	after time.Duration
	err   error
}

func (e *busyError) Error() string {
	return fmt.Sprintf("wsnode client: node busy, retry after %v: %v", e.after, e.err)
}

func (e *busyError) Unwrap() error { return e.err }
