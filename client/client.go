package client

import (
	"context"
	"sync"
	"sync/atomic"
)

// Client is a connection to a wsnode cluster that reconnects by itself
// (see the package documentation). Create it with New and Start, or with
// Dial; stop it with Close.
type Client struct {
	url  string
	cfg  Config
	disp *dispatcher
	ids  atomic.Uint64

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the reconnect loop has ended

	startOnce sync.Once
	closeOnce sync.Once

	mu      sync.Mutex
	state   State
	session Session
	live    *conn         // the socket, while connected
	liveCh  chan struct{} // closed when live is set or the client stops
	rooms   map[string]*Room
	order   []*Room // wanted rooms, in the order they were first joined
	stopped bool
	err     error // why the client stopped
}

// New returns a client for the node (or load balancer) at url, e.g.
// "ws://host:8080/ws". It does not connect until Start.
func New(url string, cfg Config) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{url: url, cfg: cfg.withDefaults(), disp: newDispatcher(), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), liveCh: make(chan struct{}), rooms: map[string]*Room{}}
}

// Dial creates a client, starts it and waits until it is connected (and
// authenticated) or ctx ends. On error the client is closed.
func Dial(ctx context.Context, url string, cfg Config) (*Client, error) {
	c := New(url, cfg)
	c.Start()
	if err := c.WaitConnected(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Start begins connecting in the background; it is idempotent.
func (c *Client) Start() {
	c.startOnce.Do(func() { go c.run() })
}

// Close stops the client for good: it closes the socket with 1000, ends
// every goroutine of the client and fails waiting calls with ErrClosed. It
// is idempotent and returns nil. Called from a callback it does not wait
// for the callback goroutine, which ends once the callback returns.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.startOnce.Do(func() { c.stop(CodeNormal, "", ErrClosed) })
		<-c.done
		c.disp.close()
		if !c.disp.inCallback.Load() {
			<-c.disp.done
		}
	})
	return nil
}

// Done is closed when the client has stopped, by Close or by a close code
// that means "do not reconnect".
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped: nil while it runs, ErrClosed after
// Close, a *CloseError after a close code that means "do not reconnect".
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Session describes the current (or last) connection.
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// WaitConnected waits until the client is connected, ctx ends (ctx.Err())
// or the client stops (Err()).
func (c *Client) WaitConnected(ctx context.Context) error {
	_, err := c.waitLive(ctx)
	return err
}

// waitLive returns the live socket, waiting for one if need be.
func (c *Client) waitLive(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		s, ch, stopped, err := c.live, c.liveCh, c.stopped, c.err
		c.mu.Unlock()
		switch {
		case stopped:
			return nil, err
		case s != nil:
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *Client) setState(ev StateEvent) {
	c.mu.Lock()
	c.state = ev.State
	c.mu.Unlock()
	c.emitState(ev)
}

func (c *Client) emitState(ev StateEvent) {
	if fn := c.cfg.OnState; fn != nil {
		c.disp.post(func() { fn(ev) })
	}
}

// stop ends the client with err as its reason; the reconnect loop calls it
// once, as it returns.
func (c *Client) stop(code int, reason string, err error) {
	c.mu.Lock()
	c.stopped, c.err, c.state = true, err, StateStopped
	close(c.liveCh)
	c.mu.Unlock()
	c.emitState(StateEvent{State: StateStopped, Code: code, Reason: reason, Err: err})
	close(c.done)
}

// goLive makes s the live socket and asks for every wanted room, in the
// order they were first joined.
func (c *Client) goLive(s *conn, sess Session) {
	c.mu.Lock()
	c.live, c.session, c.state = s, sess, StateConnected
	for _, r := range c.order {
		r.sendJoin(s)
	}
	close(c.liveCh)
	c.mu.Unlock()
	c.emitState(StateEvent{State: StateConnected, Session: sess})
}

// goDead forgets the live socket; the rooms are not joined until the
// next connection rejoins them.
func (c *Client) goDead() {
	c.mu.Lock()
	c.live = nil
	c.liveCh = make(chan struct{})
	for _, r := range c.rooms {
		r.setJoined(false)
	}
	c.mu.Unlock()
}

// route handles a frame that answers no request; it runs on the reader.
func (c *Client) route(f Frame) {
	var fn func(Frame)
	switch f.Type {
	case "message", "presence":
		c.mu.Lock()
		r := c.rooms[f.Room]
		c.mu.Unlock()
		if r != nil {
			r.deliver(f)
		}
		return
	case "direct":
		fn = c.cfg.OnDirect
	case "broadcast":
		fn = c.cfg.OnBroadcast
	case "error":
		fn = c.cfg.OnError
	case "ack", "pong", "authenticated", "joined", "left", "history":
		return // an answer nobody waits for any more
	default:
		fn = c.cfg.OnFrame
	}
	if fn != nil {
		c.disp.post(func() { fn(f) })
	}
}

// errStopped is what calls on a stopped client return.
func (c *Client) errStopped() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}
