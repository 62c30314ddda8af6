package client

import (
	"context"
	"maps"
)

// Request sends frame (a client frame such as {"type":"ping"}) with a fresh
// "id" and returns the node's answer, the frame whose "ref" is that id. An
// error frame is returned as *Error. It waits for a connection if there is
// none; ctx bounds the whole call, and without a deadline
// Config.RequestTimeout does. A socket that ends before the answer gives
// ErrConnectionLost: the node may or may not have acted on the frame.
func (c *Client) Request(ctx context.Context, frame map[string]any) (Frame, error) {
	return c.roundTrip(ctx, maps.Clone(frame))
}

// Send sends frame without an id and without waiting for anything but a
// connection; whatever the node answers goes to the callbacks.
func (c *Client) Send(ctx context.Context, frame any) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.waitLive(ctx)
	if err != nil {
		return err
	}
	return s.send(frame)
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// roundTrip sends m (which it may modify) as a request and waits for its
// answer.
func (c *Client) roundTrip(ctx context.Context, m map[string]any) (Frame, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.waitLive(ctx)
	if err != nil {
		return Frame{}, err
	}
	type answer struct {
		f   Frame
		err error
	}
	ch := make(chan answer, 1)
	key, err := s.call(m, func(f Frame, err error) { ch <- answer{f, err} })
	if err != nil {
		return Frame{}, err
	}
	select {
	case a := <-ch:
		return a.f, a.err
	case <-ctx.Done():
		s.forget(key)
		return Frame{}, ctx.Err()
	}
}

// Ping asks the node for a pong.
func (c *Client) Ping(ctx context.Context) (Frame, error) {
	return c.roundTrip(ctx, map[string]any{"type": "ping"})
}

// Target is the recipient of a direct message: every connection of User,
// or the one connection ConnID.
type Target struct {
	User   string
	ConnID string
}

// Direct sends data to a user or connection and returns the node's ack
// (an *Error with code "offline" when the user has no connection).
func (c *Client) Direct(ctx context.Context, to Target, data any) (Frame, error) {
	m := map[string]any{"type": "direct", "data": data}
	if to.ConnID != "" {
		m["to_conn"] = to.ConnID
	} else {
		m["to_user"] = to.User
	}
	return c.roundTrip(ctx, m)
}

// Broadcast sends data to every connection of the cluster (system
// connections only) and returns the ack.
func (c *Client) Broadcast(ctx context.Context, data any, opts ...PublishOption) (Frame, error) {
	m := map[string]any{"type": "broadcast", "data": data}
	applyPublish(m, opts)
	return c.roundTrip(ctx, m)
}

// PublishOption modifies a Publish or Broadcast.
type PublishOption func(map[string]any)

// NoEcho leaves the sender out of the delivery ("echo": false).
func NoEcho() PublishOption { return func(m map[string]any) { m["echo"] = false } }

func applyPublish(m map[string]any, opts []PublishOption) {
	for _, o := range opts {
		o(m)
	}
}
