package registry

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

func validType(t string) bool {
	switch t {
	case TypeUser, TypeAIAssistant, TypeSystem, TypeGuest:
		return true
	}
	return false
}

func validState(s string) bool {
	switch s {
	case StateConnected, StateAuthenticated, StateInactive, StateDisconnected:
		return true
	}
	return false
}

// normalize fills Type and State defaults and validates every name in c.
func normalize(c *Conn) error {
	if c.Type == "" {
		c.Type = TypeGuest
		if c.User != "" {
			c.Type = TypeUser
		}
	}
	if c.State == "" {
		c.State = StateConnected
		if c.User != "" {
			c.State = StateAuthenticated
		}
	}
	if !validType(c.Type) {
		return fmt.Errorf("invalid connection type %q", c.Type)
	}
	if !validState(c.State) {
		return fmt.Errorf("invalid connection state %q", c.State)
	}
	if err := ValidateName("conn", c.ID); err != nil {
		return err
	}
	if c.User != "" {
		if err := ValidateName("user", c.User); err != nil {
			return err
		}
	}
	return validateNames("room", c.Rooms)
}

// registerArgs builds the ARGV of registerScript (see scripts.go).
func (r *Registry) registerArgs(c Conn, now time.Time) []any {
	args := make([]any, 0, 15+len(c.Rooms))
	args = append(args, r.cfg.Prefix, c.ID, r.cfg.NodeID, c.User, c.Type, c.State, c.IP,
		ms(c.ConnectedAt), ms(c.AuthenticatedAt), ms(c.LastActivity),
		c.MessagesIn, c.MessagesOut, ms(now), r.inc, len(c.Rooms))
	for _, room := range c.Rooms {
		args = append(args, room)
	}
	return args
}

// Register records a connection of this node (c.NodeID is ignored and set to
// NodeID()). It makes the record match c exactly: node, user (no limit check,
// so re-assertion always succeeds) and rooms (the connection leaves any room
// not in c.Rooms).
// Counters and connected_at are only set when the record is new; last_activity
// only moves forward. The node joins P:nodes, so call Heartbeat before the
// first Register or a peer may reap the registration. Updates the peak (in
// cluster mode the peak is sampled by Heartbeat and Counts instead).
// Idempotent. An empty Type/State defaults to guest/connected (user/
// authenticated when c.User is set).
func (r *Registry) Register(ctx context.Context, c Conn) error {
	if err := normalize(&c); err != nil {
		return wrap("register", err)
	}
	if r.cfg.Cluster {
		return wrap("register", r.cRegister(ctx, []Conn{c}, r.now()))
	}
	args := r.registerArgs(c, r.now())
	return wrap("register", r.run(ctx, registerScript, nil, args...).Err())
}

// Authenticate binds user and connType to the connection and marks it
// authenticated at at. With MaxConnsPerUser > 0 it returns ErrUserLimit,
// changing nothing, when the user already holds that many other connections.
// It returns ErrNotFound if the connection is not registered.
func (r *Registry) Authenticate(ctx context.Context, connID, user, connType string, at time.Time) error {
	if err := r.validConnAnd(connID, "user", user); err != nil {
		return wrap("authenticate", err)
	}
	if !validType(connType) {
		return wrap("authenticate", fmt.Errorf("invalid connection type %q", connType))
	}
	if r.cfg.Cluster {
		return wrap("authenticate", r.cAuthenticate(ctx, connID, user, connType, at))
	}
	code, err := r.run(ctx, authenticateScript, nil,
		r.cfg.Prefix, connID, user, connType, ms(at), r.cfg.MaxConnsPerUser).Int64()
	if err != nil {
		return wrap("authenticate", err)
	}
	return statusErr("authenticate", code)
}

// Join adds the connection to room, creating the room's metadata if needed
// and setting its last_activity to at. ErrNotFound if the connection is not
// registered. Idempotent.
func (r *Registry) Join(ctx context.Context, connID, room string, at time.Time) error {
	if err := r.validConnAnd(connID, "room", room); err != nil {
		return wrap("join", err)
	}
	if r.cfg.Cluster {
		return wrap("join", r.cJoin(ctx, connID, room, at))
	}
	code, err := r.run(ctx, joinScript, nil, r.cfg.Prefix, connID, room, ms(at)).Int64()
	if err != nil {
		return wrap("join", err)
	}
	return statusErr("join", code)
}

// Leave removes the connection from room. An emptied room loses its metadata
// and leaves the rooms index; otherwise its last_activity becomes at.
// Idempotent: leaving a room one is not in is not an error.
func (r *Registry) Leave(ctx context.Context, connID, room string, at time.Time) error {
	if err := r.validConnAnd(connID, "room", room); err != nil {
		return wrap("leave", err)
	}
	if r.cfg.Cluster {
		return wrap("leave", r.cLeave(ctx, connID, room, at))
	}
	return wrap("leave", r.run(ctx, leaveScript, nil, r.cfg.Prefix, connID, room, ms(at)).Err())
}

// SetState sets the connection's state. ErrNotFound if it is not registered
// (no hash is created).
func (r *Registry) SetState(ctx context.Context, connID, state string) error {
	if err := ValidateName("conn", connID); err != nil {
		return wrap("set state", err)
	}
	if !validState(state) {
		return wrap("set state", fmt.Errorf("invalid connection state %q", state))
	}
	if r.cfg.Cluster {
		return wrap("set state", r.cSetState(ctx, connID, state))
	}
	code, err := r.run(ctx, setStateScript, nil, r.cfg.Prefix, connID, state).Int64()
	if err != nil {
		return wrap("set state", err)
	}
	return statusErr("set state", code)
}

// Unregister removes every trace of the connection: its rooms (emptied rooms
// are cleaned up), its user set (and the users index entry if it was the
// last), P:conns, its node's set, and its hash. Unknown ids are not an error.
func (r *Registry) Unregister(ctx context.Context, connID string) error {
	if err := ValidateName("conn", connID); err != nil {
		return wrap("unregister", err)
	}
	if r.cfg.Cluster {
		return wrap("unregister", r.cUnregister(ctx, connID))
	}
	return wrap("unregister", r.run(ctx, unregisterScript, nil, r.cfg.Prefix, connID).Err())
}

func (r *Registry) validConnAnd(connID, kind, name string) error {
	if err := ValidateName("conn", connID); err != nil {
		return err
	}
	return ValidateName(kind, name)
}

// touchBatch bounds the fields of one HSET: about 0.1 ms of Redis time, so
// that a flush of thousands of active connections never holds Redis (and
// every PUBLISH queued behind it) for a millisecond.
const touchBatch = 250

// Touch writes the activity of this node's connections into P:activity with
// one HSET per touchBatch connections, each its own round trip: Redis
// serves other clients between them (a pipeline's commands would run back
// to back). Values are absolute totals, so a retried Touch is harmless; on
// an error the batches before it are written and the rest are not.
//
// Touch does not check that the connections still exist: only the node that
// holds a connection touches it, and Unregister deletes its entry. A caller
// whose connection was unregistered while a Touch for it was in flight must
// call Unregister again (node does), so no entry outlives its connection;
// reaping a dead node's connections deletes their entries too.
func (r *Registry) Touch(ctx context.Context, conns []Activity) error {
	for _, a := range conns {
		if err := ValidateName("conn", a.ConnID); err != nil {
			return wrap("touch", err)
		}
	}
	if r.cfg.Cluster {
		return wrap("touch", r.cTouch(ctx, conns))
	}
	for batch := range slices.Chunk(conns, touchBatch) {
		args := make([]any, 0, 2*len(batch))
		for _, a := range batch {
			args = append(args, a.ConnID, packActivity(a))
		}
		if err := r.rdb.HSet(ctx, r.keys.Activity(), args...).Err(); err != nil {
			return wrap("touch", err)
		}
	}
	return nil
}

func packActivity(a Activity) string {
	return strconv.FormatInt(ms(a.LastActivity), 10) + ":" + strconv.FormatInt(a.MessagesIn, 10) + ":" + strconv.FormatInt(a.MessagesOut, 10)
}

// mergeActivity applies a packed activity value over a connection record.
func mergeActivity(c *Conn, packed string) {
	parts := strings.Split(packed, ":")
	if len(parts) != 3 {
		return
	}
	if t := fromMS(parts[0]); t.After(c.LastActivity) {
		c.LastActivity = t
	}
	if in, err := strconv.ParseInt(parts[1], 10, 64); err == nil && in > c.MessagesIn {
		c.MessagesIn = in
	}
	if out, err := strconv.ParseInt(parts[2], 10, 64); err == nil && out > c.MessagesOut {
		c.MessagesOut = out
	}
}
