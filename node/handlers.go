package node

import (
	"bytes"
	"errors"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

func (c *conn) handleAuth(req protocol.Request) bool {
	cl, err := c.n.verifier.Verify(req.Token)
	if err != nil {
		c.n.stats.Error(counter.ErrAuthFailed)
		msg := "invalid token"
		if errors.Is(err, auth.ErrExpired) {
			msg = "token expired"
		}
		c.sendError(req.ID, protocol.CodeAuthFailed, msg)
		c.closeWith(protocol.CloseAuthFailed, msg)
		return false
	}
	return c.finishAuth(req, cl)
}

// finishAuth binds verified claims and answers the client.
func (c *conn) finishAuth(req protocol.Request, cl auth.Claims) bool {
	ctx := c.n.opCtx()
	switch err := c.authenticate(ctx, cl); {
	case err == nil:
		c.sendBytes(protocol.AuthenticatedFrame(req.ID, cl.User, cl.ConnType))
		return true
	case errors.Is(err, ErrAuthed):
		c.reject(req.ID, protocol.CodeAlreadyAuthenticated, "connection is already authenticated", counter.ErrBadRequest)
		return false
	case errors.Is(err, ErrInvalidInput):
		c.n.stats.Error(counter.ErrAuthFailed)
		c.sendError(req.ID, protocol.CodeAuthFailed, err.Error())
		c.closeWith(protocol.CloseAuthFailed, "invalid user name")
		return false
	case errors.Is(err, ErrUserLimit):
		c.n.stats.Error(counter.ErrLimit)
		c.sendError(req.ID, protocol.CodeConnectionLimit, "too many connections for this user")
		c.closeWith(protocol.CloseUserLimit, "connection limit")
		return false
	default:
		return c.unavailable(req, err)
	}
}

func (c *conn) unavailable(req protocol.Request, err error) bool {
	c.logger().Warn("request failed", "type", req.Type, "err", err)
	return c.fail(req.ID, protocol.CodeUnavailable, "cluster state temporarily unavailable; retry", counter.ErrRegistryFailed)
}

func (c *conn) handleJoin(req protocol.Request) bool {
	if !c.may(protocol.ActJoin, req.ID) {
		return false
	}
	since, ok := c.since(req)
	if !ok || !c.mayJoinRoom(req) {
		return false
	}
	if since != nil || c.n.historyRoom(req.Room) {
		return c.joinHistory(req, since)
	}
	if err := c.join(c.n.opCtx(), req.Room); err != nil {
		return c.joinFailed(req, err)
	}
	c.reply(protocol.TypeJoined, req.ID, req.Room)
	return true
}

// joinFailed answers a join that failed with err and returns the handler's
// result.
func (c *conn) joinFailed(req protocol.Request, err error) bool {
	switch {
	case errors.Is(err, ErrInvalidInput):
		c.reject(req.ID, protocol.CodeInvalidName, inputMessage(err), counter.ErrInvalidName)
		return false
	case errors.Is(err, ErrRoomLimit):
		return c.fail(req.ID, protocol.CodeRoomLimit, "too many rooms for this connection", counter.ErrLimit)
	case errors.Is(err, ErrClosed):
		return true
	default:
		return c.unavailable(req, err)
	}
}

func (c *conn) handleLeave(req protocol.Request) bool {
	if !c.may(protocol.ActJoin, req.ID) {
		return false
	}
	ctx := c.n.opCtx()
	switch err := c.leave(ctx, req.Room); {
	case err == nil:
		c.reply(protocol.TypeLeft, req.ID, req.Room)
		return true
	case errors.Is(err, ErrNotMember):
		c.reject(req.ID, protocol.CodeNotMember, "not a member of this room", counter.ErrBadRequest)
		return false
	default:
		c.reply(protocol.TypeLeft, req.ID, req.Room) // left locally; Redis is repaired later
		return c.unavailable(req, err)
	}
}

func (c *conn) handleMessage(req protocol.Request) bool {
	if !c.may(protocol.ActSend, req.ID) {
		return false
	}
	if !c.inRoom(req.Room) {
		c.reject(req.ID, protocol.CodeNotMember, "join the room before sending to it", counter.ErrForbidden)
		return false
	}
	return c.publish(req, envelope.Envelope{Kind: envelope.KindRoom, Target: req.Room, Exclude: c.echoExclude(req)}, protocol.TypeMessage, req.Room)
}

func (c *conn) handleDirect(req protocol.Request) bool {
	if !c.may(protocol.ActSend, req.ID) {
		return false
	}
	if (req.ToUser == "") == (req.ToConn == "") {
		c.reject(req.ID, protocol.CodeBadRequest, `give exactly one of "to_user" or "to_conn"`, counter.ErrBadRequest)
		return false
	}
	ctx := c.n.opCtx()
	env, err := c.n.directEnvelope(ctx, req.ToUser, req.ToConn)
	switch {
	case errors.Is(err, ErrInvalidInput):
		c.reject(req.ID, protocol.CodeInvalidName, inputMessage(err), counter.ErrInvalidName)
		return false
	case errors.Is(err, ErrNotFound):
		return c.fail(req.ID, protocol.CodeNotFound, "no such connection", counter.ErrNotFound)
	case err != nil:
		return c.unavailable(req, err)
	}
	return c.publish(req, env, protocol.TypeDirect, "")
}

func (c *conn) handleBroadcast(req protocol.Request) bool {
	if !c.may(protocol.ActBroadcast, req.ID) {
		return false
	}
	return c.publish(req, envelope.Envelope{Kind: envelope.KindAll, Exclude: c.echoExclude(req)}, protocol.TypeBroadcast, "")
}

// echoExclude is the connection to leave out of the sender's own message:
// itself when it asked for "echo":false.
func (c *conn) echoExclude(req protocol.Request) string {
	if req.Echo != nil && !*req.Echo {
		return c.id
	}
	return ""
}

// publish encodes the client's message once and routes it. The sender hears
// back once the PUBLISH completed: an ack when it carried an "id", an error
// frame whenever the message may not have reached everyone (ack.go).
//
// When the broker copies the payload before PublishAsync returns
// (payloadCopier), the frame is encoded into a pooled buffer that goes
// back to the pool once routeAsync has returned: nothing else refers to
// it (the completion keeps the id, msg_id and kind; the event is a copy of
// the data). A message to a connection of this node is queued on its
// socket as it is (routeAsync), so it gets a buffer of its own.
func (c *conn) publish(req protocol.Request, env envelope.Envelope, typ, room string) bool {
	user, ct, _ := c.snapshot()
	var buf *[]byte
	if pc, ok := c.n.broker.(payloadCopier); ok && pc.CopiesPayload() && !c.n.toSelf(env) {
		buf = payloadBufs.Get().(*[]byte)
		defer putPayloadBuf(buf)
	}
	env, msgID, err := newMessageIn(buf, env, typ, room, protocol.From{User: user, ConnID: c.id, Type: string(ct)}, req.Data)
	if err != nil {
		c.reject(req.ID, protocol.CodeBadRequest, `"data" is not valid JSON`, counter.ErrBadRequest)
		return false
	}
	if typ == protocol.TypeMessage && c.n.emits(evMessage) || typ == protocol.TypeDirect && c.n.emits(evDirect) {
		env.Event = c.messageEvent(req, typ, msgID)
	}
	// The completion runs after the frame's buffer is reused (serve): it
	// keeps a copy of the id (nil stays nil: no id, no ack).
	ref, kind := bytes.Clone(req.ID), env.Kind
	c.n.routeAsync(env, c.lastBuffered(), func(r envelope.Result) { c.confirm(ref, msgID, kind, r) })
	return true
}

func putPayloadBuf(b *[]byte) {
	if cap(*b) <= maxPooledPayload {
		payloadBufs.Put(b)
	}
}

// inputMessage names the rule an invalid name broke.
func inputMessage(err error) string {
	var ne *cluster.NameError
	if errors.As(err, &ne) {
		return ne.Error()
	}
	return err.Error()
}
