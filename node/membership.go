package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// authenticate binds the connection to a verified identity: it subscribes
// the user's channel, records the binding in Redis (checking the per-user
// limit there) and updates the local index, in that order, undoing the
// subscription if Redis refuses.
func (c *conn) authenticate(ctx context.Context, cl auth.Claims) error {
	if err := cluster.ValidateName("user", cl.User); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if _, _, st := c.snapshot(); st == StateAuthenticated {
		return ErrAuthed
	} else if c.closing() {
		return ErrClosed
	}
	n := c.n
	if err := n.broker.Subscribe(ctx, envelope.KindUser, cl.User); err != nil {
		return fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	now := time.Now()
	if err := c.registerAuth(ctx, cl.User, cl.ConnType, now); err != nil {
		n.unsubscribe(envelope.KindUser, cl.User)
		if errors.Is(err, cluster.ErrUserLimit) {
			return ErrUserLimit
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.mu.Lock()
	c.user, c.typ, c.state, c.authAt, c.allowed = cl.User, ConnType(cl.ConnType), StateAuthenticated, now, cl.Rooms
	if !cl.ExpiresAt.IsZero() {
		c.expiresAt.Store(cl.ExpiresAt.UnixMilli()) // enforced by the node's sweep
	}
	c.mu.Unlock()
	n.idx.addUser(c, cl.User)
	n.emit(evConnect, c.event(cluster.EventConnect))
	return nil
}

// tokenExpired closes a connection whose token ran out. Re-authentication
// on an open connection is not supported: the client reconnects with a
// fresh token (4005 is in the reconnect range).
func (c *conn) tokenExpired() {
	c.sendError(nil, protocol.CodeTokenExpired, "token expired; reconnect with a fresh token")
	c.closeWith(protocol.CloseTokenExpired, "token expired")
}

// join adds the connection to a room: subscription first (confirmed by
// Redis), then the registry, then the local index.
func (c *conn) join(ctx context.Context, room string) error {
	if err := cluster.ValidateName("room", room); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.closing() {
		return ErrClosed
	}
	if c.inRoom(room) {
		return nil
	}
	if c.roomCount() >= c.n.cfg.MaxRoomsPerConn {
		return ErrRoomLimit
	}
	n := c.n
	if err := n.broker.Subscribe(ctx, envelope.KindRoom, room); err != nil {
		return fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	err := n.setup.do(ctx, func() error { return n.reg.Join(ctx, c.id, room, time.Now()) })
	if err != nil {
		n.unsubscribe(envelope.KindRoom, room)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.mu.Lock()
	c.rooms = append(c.rooms, room)
	c.mu.Unlock()
	n.idx.addRoom(c, room)
	c.joinedOrLeft(room, protocol.PresenceJoin, evJoin, cluster.EventJoin)
	return nil
}

// joinedOrLeft tells the room's members (presence) and the event stream
// that c joined or left room.
func (c *conn) joinedOrLeft(room, presence string, bit eventSet, typ string) {
	n := c.n
	if len(n.cfg.PresenceRooms) == 0 && !n.emits(bit) {
		return // the common case: nobody to tell
	}
	user, ct, _ := c.snapshot()
	n.presence(room, presence, user, c.id, string(ct))
	if n.emits(bit) {
		e := c.event(typ)
		e.Room = room
		n.emit(bit, e)
	}
}

// leave removes the connection from a room in the reverse order of join.
func (c *conn) leave(ctx context.Context, room string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.inRoom(room) {
		return ErrNotMember
	}
	n := c.n
	c.mu.Lock()
	c.rooms = slices.DeleteFunc(c.rooms, func(r string) bool { return r == room })
	c.mu.Unlock()
	n.idx.removeRoom(c, room)
	c.recovs.stop(room)
	n.forgetEmptyRooms(room)
	err := n.reg.Leave(ctx, c.id, room, time.Now())
	n.unsubscribe(envelope.KindRoom, room)
	c.joinedOrLeft(room, protocol.PresenceLeave, evLeave, cluster.EventLeave)
	if err != nil {
		n.retryUnregister(c.id, room)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// unsubscribe drops one interest reference; failures are logged because the
// broker keeps its reference count regardless and re-syncs on reconnect.
func (n *Node) unsubscribe(kind envelope.Kind, target string) {
	ctx := n.opCtx()
	if err := n.broker.Unsubscribe(ctx, kind, target); err != nil {
		n.log.Warn("unsubscribe failed", "kind", kind, "err", err)
	}
}
