package node

import (
	"encoding/json"
	"time"

	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
)

// handle processes one text frame from the client (readFrame checks the
// rate limit before it reads the payload, then calls serve).
func (c *conn) handle(data []byte) {
	if !c.limited() {
		c.serve(data)
	}
}

// limited takes a token from the connection's rate limit and reports
// whether there was none: the frame is then rejected with a rate_limited
// error and a strike, whatever it holds.
func (c *conn) limited() bool {
	if c.limiter == nil || c.limiter.Allow() {
		return false
	}
	c.n.stats.Error(counter.ErrRateLimited)
	c.strike(protocol.CloseRateLimited, "rate limit exceeded")
	c.sendError(nil, protocol.CodeRateLimited, "too many messages; slow down")
	return true
}

// serve decodes and runs one text frame that the rate limit let through.
// It reports whether data is free once it returns (readFrame then reuses
// its buffer): true for the frames whose handlers copy what they keep of
// the request (freesFrame), and for a frame that does not decode, whose
// error frame is encoded before reject returns.
func (c *conn) serve(data []byte) (free bool) {
	req, err := protocol.Decode(data)
	if err != nil {
		c.n.stats.Message(counter.MsgInvalid)
		c.reject(req.ID, protocol.CodeBadRequest, err.Error(), counter.ErrBadRequest)
		return true
	}
	c.n.stats.Message(req.Type)
	if c.dispatch(req) {
		c.strikes = 0
	}
	return freesFrame(req.Type)
}

// freesFrame reports whether the handler of a frame of type typ keeps no
// reference to the frame's bytes (the request's raw ID, Data and Since
// alias them; its strings are copies) once it returns. Routed messages
// copy Data into the frame they publish (protocol.MessageFrame) and the
// event (messageEvent), and clone the ID that their completion answers
// later (publish); pings answer at once, and every error or reply frame is
// encoded before the call that queues it returns. Other types (auth,
// joins, history, whose replay may answer later) are left alone.
func freesFrame(typ string) bool {
	switch typ {
	case protocol.TypeMessage, protocol.TypeDirect, protocol.TypeBroadcast, protocol.TypePing, protocol.TypePong:
		return true
	}
	return false
}

// dispatch runs one request and reports whether it was accepted.
func (c *conn) dispatch(req protocol.Request) bool {
	switch req.Type {
	case protocol.TypeAuth:
		return c.handleAuth(req)
	case protocol.TypeJoin:
		return c.handleJoin(req)
	case protocol.TypeLeave:
		return c.handleLeave(req)
	case protocol.TypeMessage:
		return c.handleMessage(req)
	case protocol.TypeDirect:
		return c.handleDirect(req)
	case protocol.TypeBroadcast:
		return c.handleBroadcast(req)
	case protocol.TypeHistory:
		return c.handleHistory(req)
	case protocol.TypePing:
		c.sendBytes(protocol.PongFrame(req.ID, time.Now()))
		return true
	case protocol.TypePong:
		return true // answer to our application ping
	default:
		c.reject(req.ID, protocol.CodeUnknownType, "unknown frame type", counter.ErrBadRequest)
		return false
	}
}

// reject sends an error frame for a malformed or disallowed request and
// counts a strike; too many in a row close the connection with
// protocol.ClosePolicy.
func (c *conn) reject(ref json.RawMessage, code, msg, kind string) {
	c.n.stats.Error(kind)
	c.sendError(ref, code, msg)
	c.strike(protocol.ClosePolicy, "too many invalid frames")
}

func (c *conn) strike(code int, reason string) {
	c.strikes++
	if c.strikes > c.n.cfg.MaxStrikes {
		c.closeWith(code, reason)
	}
}

func (c *conn) sendError(ref json.RawMessage, code, msg string) {
	c.sendBytes(protocol.ErrorFrame(ref, code, msg))
}

func (c *conn) reply(typ string, ref json.RawMessage, room string) {
	c.sendBytes(protocol.ReplyFrame(typ, ref, room))
}

// fail sends an error frame for a well-formed request that could not be
// served (no strike: the client did nothing wrong).
func (c *conn) fail(ref json.RawMessage, code, msg, kind string) bool {
	c.n.stats.Error(kind)
	c.sendError(ref, code, msg)
	return true
}

// may reports whether the connection may perform an action; it answers the
// client with a forbidden error when it may not.
func (c *conn) may(act protocol.Action, ref json.RawMessage) bool {
	_, typ, state := c.snapshot()
	if protocol.Allowed(string(typ), state == StateAuthenticated, act, string(c.n.cfg.Guests)) {
		return true
	}
	if state == StateConnected && c.n.cfg.Guests == GuestsOff {
		c.reject(ref, protocol.CodeUnauthorized, "authenticate first", counter.ErrUnauthorized)
		return false
	}
	c.reject(ref, protocol.CodeForbidden, "connection type "+string(typ)+" may not "+string(act), counter.ErrForbidden)
	return false
}
