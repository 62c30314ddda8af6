package node

import (
	"encoding/json"

	"github.com/wsnode/wsnode/stats"
)

// handle processes one text frame from the client (readFrame checks the
// rate limit before it reads the payload, then calls serve).
func (c *Conn) handle(data []byte) {
	if !c.limited() {
		c.serve(data)
	}
}

// limited takes a token from the connection's rate limit and reports
// whether there was none: the frame is then rejected with a rate_limited
// error and a strike, whatever it holds.
func (c *Conn) limited() bool {
	if c.limiter == nil || c.limiter.Allow() {
		return false
	}
	c.n.stats.Error(stats.ErrRateLimited)
	c.strike(CloseRateLimited, "rate limit exceeded")
	c.sendError(nil, "rate_limited", "too many messages; slow down")
	return true
}

// serve decodes and runs one text frame that the rate limit let through.
func (c *Conn) serve(data []byte) {
	req, err := decodeRequest(data)
	if err != nil {
		c.n.stats.Message(stats.MsgInvalid)
		c.reject(req.ID, "bad_request", err.Error(), stats.ErrBadRequest)
		return
	}
	c.n.stats.Message(req.Type)
	if c.dispatch(req) {
		c.strikes = 0
	}
}

// dispatch runs one request and reports whether it was accepted.
func (c *Conn) dispatch(req request) bool {
	switch req.Type {
	case typeAuth:
		return c.handleAuth(req)
	case typeJoin:
		return c.handleJoin(req)
	case typeLeave:
		return c.handleLeave(req)
	case typeMessage:
		return c.handleMessage(req)
	case typeDirect:
		return c.handleDirect(req)
	case typeBroadcast:
		return c.handleBroadcast(req)
	case typeHistory:
		return c.handleHistory(req)
	case typePing:
		c.sendBytes(mustJSON(replyFrame{Type: typePong, Ref: req.ID, TS: nowMS()}))
		return true
	case typePong:
		return true // answer to our application ping
	default:
		c.reject(req.ID, "unknown_type", "unknown frame type", stats.ErrBadRequest)
		return false
	}
}

// reject sends an error frame for a malformed or disallowed request and
// counts a strike; too many in a row close the connection with ClosePolicy.
func (c *Conn) reject(ref json.RawMessage, code, msg, kind string) {
	c.n.stats.Error(kind)
	c.sendError(ref, code, msg)
	c.strike(ClosePolicy, "too many invalid frames")
}

func (c *Conn) strike(code int, reason string) {
	c.strikes++
	if c.strikes > c.n.cfg.MaxStrikes {
		c.closeWith(code, reason)
	}
}

func (c *Conn) sendError(ref json.RawMessage, code, msg string) {
	c.sendBytes(mustJSON(errorFrame{Type: typeError, Code: code, Message: msg, Ref: ref}))
}

func (c *Conn) reply(typ string, ref json.RawMessage, room string) {
	c.sendBytes(mustJSON(replyFrame{Type: typ, Ref: ref, Room: room}))
}

// fail sends an error frame for a well-formed request that could not be
// served (no strike: the client did nothing wrong).
func (c *Conn) fail(ref json.RawMessage, code, msg, kind string) bool {
	c.n.stats.Error(kind)
	c.sendError(ref, code, msg)
	return true
}

// may reports whether the connection may perform an action; it answers the
// client with a forbidden error when it may not.
func (c *Conn) may(act action, ref json.RawMessage) bool {
	_, typ, state := c.snapshot()
	if allowed(typ, state, act, c.n.cfg.Guests) {
		return true
	}
	if state == StateConnected && c.n.cfg.Guests == GuestsOff {
		c.reject(ref, "unauthorized", "authenticate first", stats.ErrUnauthorized)
		return false
	}
	c.reject(ref, "forbidden", "connection type "+string(typ)+" may not "+string(act), stats.ErrForbidden)
	return false
}
