package node

import (
	"context"

	"github.com/wsnode/wsnode/auth"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/internal/settings"
	"github.com/wsnode/wsnode/protocol"
)

// RoomsPolicy says who may join which room.
type RoomsPolicy string

// Rooms policies. System connections, and the Go and admin APIs, may join
// any room under each of them.
const (
	// RoomsOpen lets every connection that may join at all join any room.
	RoomsOpen RoomsPolicy = "open"
	// RoomsClaim lets a connection join the rooms its token's "rooms" claim
	// names or matches (auth.Claims.AllowsRoom); a token without the claim,
	// and a guest, may join none.
	RoomsClaim RoomsPolicy = "claim"
	// RoomsHook asks Config.JoinAuthorizer (the backend's join hook) about
	// every join.
	RoomsHook RoomsPolicy = "hook"
)

// JoinAuthorizer decides joins under RoomsHook (package joinhook asks the
// backend over HTTP). It is called on the joining connection's reader, so
// it must return within its own timeout; it must be safe for concurrent use.
type JoinAuthorizer interface {
	// AuthorizeJoin reports whether the connection may join room. An error
	// means no decision (the hook is down or slow): the join fails closed
	// with "unavailable". user is empty for a guest.
	AuthorizeJoin(ctx context.Context, user, connType, connID, room string) (bool, error)
}

func (c *Config) checkRoomsPolicy() *settings.Error {
	switch c.RoomsPolicy {
	case RoomsOpen, RoomsClaim:
	case RoomsHook:
		if c.JoinAuthorizer == nil {
			return settings.Conflict("RoomsPolicy", c.RoomsPolicy, "JoinAuthorizer", "nil",
				"%[1]s %[2]q needs a %[3]s (the join hook's URL)")
		}
	default:
		return settings.Range("RoomsPolicy", c.RoomsPolicy, "%[1]s (%[2]q) must be open, claim or hook")
	}
	return nil
}

// mayJoinRoom applies the rooms policy to a join request and answers a
// refusal itself. It runs before anything is written to Redis, so a refused
// join leaves no trace there. A join of a room the connection is already in
// is a no-op and always allowed; an invalid name is left to join's check.
func (c *conn) mayJoinRoom(req protocol.Request) bool {
	n := c.n
	if n.cfg.RoomsPolicy == RoomsOpen || c.inRoom(req.Room) || cluster.ValidateName("room", req.Room) != nil {
		return true
	}
	user, typ, _ := c.snapshot()
	if typ == TypeSystem {
		return true
	}
	if n.cfg.RoomsPolicy == RoomsClaim {
		if c.claimAllows(req.Room) {
			return true
		}
		c.reject(req.ID, protocol.CodeForbidden, "the token does not allow this room", counter.ErrForbidden)
		return false
	}
	ok, err := n.cfg.JoinAuthorizer.AuthorizeJoin(n.opCtx(), user, string(typ), c.id, req.Room)
	switch {
	case err != nil:
		c.logger().Warn("join hook failed", "room", req.Room, "err", err)
		c.fail(req.ID, protocol.CodeUnavailable, "join authorization unavailable; retry", counter.ErrJoinHookFailed)
		return false
	case !ok:
		c.reject(req.ID, protocol.CodeForbidden, "the backend does not allow this room", counter.ErrForbidden)
		return false
	}
	return true
}

// claimAllows reports whether the token's "rooms" claim allows room.
func (c *conn) claimAllows(room string) bool {
	c.mu.Lock()
	allowed := c.allowed
	c.mu.Unlock()
	return auth.Claims{Rooms: allowed}.AllowsRoom(room)
}
