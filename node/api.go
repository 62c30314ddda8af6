package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// systemFrom marks messages sent through the Go or admin API.
var systemFrom = protocol.From{System: true}

// SendToConn delivers data to one connection, on whichever node holds it
// (the seed's send_personal_message). ErrNotFound if it does not exist.
func (n *Node) SendToConn(ctx context.Context, connID string, data json.RawMessage) error {
	env, err := n.directEnvelope(ctx, "", connID)
	if err != nil {
		return err
	}
	return n.sendSystem(ctx, env, protocol.TypeDirect, "", data)
}

// SendToUser delivers data to every connection of a user, on every node.
func (n *Node) SendToUser(ctx context.Context, user string, data json.RawMessage) error {
	env, err := n.directEnvelope(ctx, user, "")
	if err != nil {
		return err
	}
	return n.sendSystem(ctx, env, protocol.TypeDirect, "", data)
}

// BroadcastRoom delivers data to every member of a room on every node,
// except the connection exclude (may be empty).
func (n *Node) BroadcastRoom(ctx context.Context, room string, data json.RawMessage, exclude string) error {
	if err := cluster.ValidateName("room", room); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	env := envelope.Envelope{Kind: envelope.KindRoom, Target: room, Exclude: exclude}
	return n.sendSystem(ctx, env, protocol.TypeMessage, room, data)
}

// BroadcastAll delivers data to every connection in the cluster except
// exclude (may be empty).
func (n *Node) BroadcastAll(ctx context.Context, data json.RawMessage, exclude string) error {
	return n.sendSystem(ctx, envelope.Envelope{Kind: envelope.KindAll, Exclude: exclude}, protocol.TypeBroadcast, "", data)
}

func (n *Node) sendSystem(ctx context.Context, env envelope.Envelope, typ, room string, data json.RawMessage) error {
	if env.Exclude != "" && !validConnID(env.Exclude) {
		// Checked here: the envelope would carry it, and every receiving node
		// would drop an over-long one as malformed, so nobody would get it.
		return fmt.Errorf("%w: exclude is not a connection id", ErrInvalidInput)
	}
	env, err := newMessage(env, typ, room, systemFrom, data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err) // "node: invalid input: data is not valid JSON"
	}
	return n.route(ctx, env)
}

// MaxCloseReason is the longest reason Disconnect takes, in bytes (a close
// frame has room for 123).
const MaxCloseReason = 120

// Disconnect closes a connection wherever it lives, with the given close
// code (0 means protocol.CloseKicked) and reason: valid UTF-8 of at most
// MaxCloseReason bytes.
func (n *Node) Disconnect(ctx context.Context, connID string, code int, reason string) error {
	if code == 0 {
		code = protocol.CloseKicked
	}
	if !protocol.SendableCloseCode(code) {
		return fmt.Errorf("%w: close code %d cannot be sent", ErrInvalidInput, code)
	}
	if len(reason) > MaxCloseReason {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalidInput, MaxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("%w: reason is not valid UTF-8", ErrInvalidInput)
	}
	nodeID, err := n.connNode(ctx, connID)
	if err != nil {
		return err
	}
	return n.route(ctx, envelope.Envelope{Kind: envelope.KindNode, Target: nodeID, Op: envelope.OpDisconnect,
		ConnID: connID, Code: code, Reason: reason})
}

// validConnID reports whether id can be a connection id: a UUID.
func validConnID(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}

// local returns a connection held by this node.
func (n *Node) local(connID string) (*conn, error) {
	if c := n.idx.get(connID); c != nil {
		return c, nil
	}
	return nil, ErrNotLocal
}

// Authenticate binds a local connection to a user, for applications that
// authenticate clients themselves (the seed's authenticate_user).
func (n *Node) Authenticate(ctx context.Context, connID, user string, typ ConnType) error {
	c, err := n.local(connID)
	if err != nil {
		return err
	}
	if typ != TypeUser && typ != TypeAIAssistant && typ != TypeSystem {
		return fmt.Errorf("%w: connection type %q", ErrInvalidInput, typ)
	}
	return c.authenticate(ctx, auth.Claims{User: user, ConnType: string(typ)})
}

// JoinRoom adds a local connection to a room; the room exists cluster-wide
// from its first member on.
func (n *Node) JoinRoom(ctx context.Context, connID, room string) error {
	c, err := n.local(connID)
	if err != nil {
		return err
	}
	return c.join(ctx, room)
}

// LeaveRoom removes a local connection from a room.
func (n *Node) LeaveRoom(ctx context.Context, connID, room string) error {
	c, err := n.local(connID)
	if err != nil {
		return err
	}
	return c.leave(ctx, room)
}

// Ping sends the application ping frame to every local connection now and
// returns how many were pinged (the node's sweep also pings every PingInterval).
func (n *Node) Ping() int {
	count := 0
	frame := protocol.PingFrame(time.Now())
	n.idx.eachConn(func(c *conn) {
		if c.sendBytes(frame) {
			count++
		}
	})
	return count
}

// ConnInfo returns the cluster-wide record of a connection.
func (n *Node) ConnInfo(ctx context.Context, connID string) (cluster.Conn, error) {
	c, err := n.dir.Conn(ctx, connID)
	if errors.Is(err, cluster.ErrNotFound) {
		return c, ErrNotFound
	}
	return c, err
}
