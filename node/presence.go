package node

import (
	"path"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/internal/settings"
	"github.com/wsnode/wsnode/protocol"
)

// Presence (Config.PresenceRooms): when a connection joins or leaves a
// matching room, by request, by disconnect or because its crashed node was
// reaped, the node publishes one presence frame to the room's channel, so
// every member on every node receives it. It costs one PUBLISH per join or
// leave and nothing per room message. Presence frames are not stored in a
// room's history.

// checkPatterns checks glob patterns of room names (path.Match syntax).
func checkPatterns(field string, patterns []string) *settings.Error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return settings.Range(field, p, "%[1]s: %[2]q is not a valid room pattern")
		}
	}
	return nil
}

// presenceRoom reports whether room's members get presence frames.
func (n *Node) presenceRoom(room string) bool {
	for _, p := range n.cfg.PresenceRooms {
		if ok, _ := path.Match(p, room); ok {
			return true
		}
	}
	return false
}

// presence publishes a presence frame about connection connID of user to
// room, if room has presence. Best effort: a failed PUBLISH is counted by
// the broker.
func (n *Node) presence(room, event, user, connID, connType string) {
	if !n.presenceRoom(room) {
		return
	}
	n.broker.PublishAsync(envelope.Envelope{Kind: envelope.KindRoom, Target: room, Op: envelope.OpDeliver,
		Payload: protocol.PresenceFrame(room, event, user, connID, connType), Ephemeral: true}, nil)
}

// disconnected tells the members of c's presence rooms, and the event
// stream, that c is gone (user is empty for a guest).
func (c *conn) disconnected(user string, rooms []string) {
	n := c.n
	_, ct, _ := c.snapshot()
	for _, room := range rooms {
		n.presence(room, protocol.PresenceLeave, user, c.id, string(ct))
	}
	if user != "" && n.emits(evDisconnect) {
		e := c.event(cluster.EventDisconnect)
		e.User = user
		e.Code, e.Reason = c.closeCode, c.closeReason
		n.emit(evDisconnect, e)
	}
}
