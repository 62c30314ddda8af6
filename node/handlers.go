package node

import (
	"errors"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/pubsub"
	"github.com/wsnode/wsnode/registry"
	"github.com/wsnode/wsnode/stats"
)

func (c *Conn) handleAuth(req request) bool {
	cl, err := c.n.verifier.Verify(req.Token)
	if err != nil {
		c.n.stats.Error(stats.ErrAuthFailed)
		msg := "invalid token"
		if errors.Is(err, auth.ErrExpired) {
			msg = "token expired"
		}
		c.sendError(req.ID, "auth_failed", msg)
		c.closeWith(CloseAuthFailed, msg)
		return false
	}
	return c.finishAuth(req, cl)
}

// finishAuth binds verified claims and answers the client.
func (c *Conn) finishAuth(req request, cl auth.Claims) bool {
	ctx := c.n.opCtx()
	switch err := c.authenticate(ctx, cl); {
	case err == nil:
		c.sendBytes(mustJSON(replyFrame{Type: typeAuthenticated, Ref: req.ID, User: cl.User, ConnType: cl.ConnType}))
		return true
	case errors.Is(err, ErrAuthed):
		c.reject(req.ID, "already_authenticated", "connection is already authenticated", stats.ErrBadRequest)
		return false
	case errors.Is(err, ErrInvalidInput):
		c.n.stats.Error(stats.ErrAuthFailed)
		c.sendError(req.ID, "auth_failed", err.Error())
		c.closeWith(CloseAuthFailed, "invalid user name")
		return false
	case errors.Is(err, ErrUserLimit):
		c.n.stats.Error(stats.ErrLimit)
		c.sendError(req.ID, "connection_limit", "too many connections for this user")
		c.closeWith(CloseUserLimit, "connection limit")
		return false
	default:
		return c.unavailable(req, err)
	}
}

func (c *Conn) unavailable(req request, err error) bool {
	c.logger().Warn("request failed", "type", req.Type, "err", err)
	return c.fail(req.ID, "unavailable", "cluster state temporarily unavailable; retry", stats.ErrRegistryFailed)
}

func (c *Conn) handleJoin(req request) bool {
	if !c.may(actJoin, req.ID) {
		return false
	}
	since, ok := c.since(req)
	if !ok {
		return false
	}
	if since != nil || c.n.historyRoom(req.Room) {
		return c.joinHistory(req, since)
	}
	if err := c.join(c.n.opCtx(), req.Room); err != nil {
		return c.joinFailed(req, err)
	}
	c.reply(typeJoined, req.ID, req.Room)
	return true
}

// joinFailed answers a join that failed with err and returns the handler's
// result.
func (c *Conn) joinFailed(req request, err error) bool {
	switch {
	case errors.Is(err, ErrInvalidInput):
		c.reject(req.ID, "invalid_name", inputMessage(err), stats.ErrInvalidName)
		return false
	case errors.Is(err, ErrRoomLimit):
		return c.fail(req.ID, "room_limit", "too many rooms for this connection", stats.ErrLimit)
	case errors.Is(err, ErrClosed):
		return true
	default:
		return c.unavailable(req, err)
	}
}

func (c *Conn) handleLeave(req request) bool {
	if !c.may(actJoin, req.ID) {
		return false
	}
	ctx := c.n.opCtx()
	switch err := c.leave(ctx, req.Room); {
	case err == nil:
		c.reply(typeLeft, req.ID, req.Room)
		return true
	case errors.Is(err, ErrNotMember):
		c.reject(req.ID, "not_member", "not a member of this room", stats.ErrBadRequest)
		return false
	default:
		c.reply(typeLeft, req.ID, req.Room) // left locally; Redis is repaired later
		return c.unavailable(req, err)
	}
}

func (c *Conn) handleMessage(req request) bool {
	if !c.may(actSend, req.ID) {
		return false
	}
	if !c.inRoom(req.Room) {
		c.reject(req.ID, "not_member", "join the room before sending to it", stats.ErrForbidden)
		return false
	}
	return c.publish(req, pubsub.Envelope{Kind: pubsub.KindRoom, Target: req.Room, Exclude: c.echoExclude(req)}, typeMessage, req.Room)
}

func (c *Conn) handleDirect(req request) bool {
	if !c.may(actSend, req.ID) {
		return false
	}
	if (req.ToUser == "") == (req.ToConn == "") {
		c.reject(req.ID, "bad_request", `give exactly one of "to_user" or "to_conn"`, stats.ErrBadRequest)
		return false
	}
	ctx := c.n.opCtx()
	env, err := c.n.directEnvelope(ctx, req.ToUser, req.ToConn)
	switch {
	case errors.Is(err, ErrInvalidInput):
		c.reject(req.ID, "invalid_name", inputMessage(err), stats.ErrInvalidName)
		return false
	case errors.Is(err, ErrNotFound):
		return c.fail(req.ID, "not_found", "no such connection", stats.ErrNotFound)
	case err != nil:
		return c.unavailable(req, err)
	}
	return c.publish(req, env, typeDirect, "")
}

func (c *Conn) handleBroadcast(req request) bool {
	if !c.may(actBroadcast, req.ID) {
		return false
	}
	return c.publish(req, pubsub.Envelope{Kind: pubsub.KindAll, Exclude: c.echoExclude(req)}, typeBroadcast, "")
}

// echoExclude is the connection to leave out of the sender's own message:
// itself when it asked for "echo":false.
func (c *Conn) echoExclude(req request) string {
	if req.Echo != nil && !*req.Echo {
		return c.id
	}
	return ""
}

// publish encodes the client's message once and routes it. The sender hears
// back once the PUBLISH completed: an ack when it carried an "id", an error
// frame whenever the message may not have reached everyone (ack.go).
func (c *Conn) publish(req request, env pubsub.Envelope, typ, room string) bool {
	user, ct, _ := c.snapshot()
	env, msgID, err := newMessageID(env, typ, room, From{User: user, ConnID: c.id, Type: string(ct)}, req.Data)
	if err != nil {
		c.reject(req.ID, "bad_request", `"data" is not valid JSON`, stats.ErrBadRequest)
		return false
	}
	ref, kind := req.ID, env.Kind
	c.n.routeAsync(env, func(r pubsub.Result) { c.confirm(ref, msgID, kind, r) })
	return true
}

// inputMessage names the rule an invalid name broke.
func inputMessage(err error) string {
	var ne *registry.NameError
	if errors.As(err, &ne) {
		return ne.Error()
	}
	return err.Error()
}
