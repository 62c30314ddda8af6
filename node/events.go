package node

import (
	"strconv"
	"time"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/internal/settings"
	"github.com/wsnode/wsnode/protocol"
)

// The client event stream (Config.Events): the node appends one
// cluster.Event per occurrence through the broker, which sends it in the
// same pipeline as its publishes; a message's event travels with the
// message's own PUBLISH (envelope.Envelope.Event). connect and disconnect
// cover authenticated connections; a disconnect implies leaving every room
// (no leave events are appended for it). The disconnects of a crashed
// node's connections are appended by the reaping registry script, once.

// eventSet is a set of event types.
type eventSet uint8

const (
	evConnect eventSet = 1 << iota
	evDisconnect
	evJoin
	evLeave
	evMessage
	evDirect
)

var eventBits = map[string]eventSet{
	cluster.EventConnect: evConnect, cluster.EventDisconnect: evDisconnect, cluster.EventJoin: evJoin,
	cluster.EventLeave: evLeave, cluster.EventMessage: evMessage, cluster.EventDirect: evDirect,
}

func checkEventTypes(types []string) *settings.Error {
	for _, t := range types {
		if eventBits[t] == 0 {
			return settings.Range("Events", t, "%[1]s: %[2]q is not one of connect, disconnect, join, leave, message, direct")
		}
	}
	return nil
}

func newEventSet(types []string) eventSet {
	var s eventSet
	for _, t := range types {
		s |= eventBits[t]
	}
	return s
}

// emits reports whether the node appends events of type e.
func (n *Node) emits(e eventSet) bool { return n.events&e != 0 }

// event is a cluster.Event of c, stamped now.
func (c *conn) event(typ string) cluster.Event {
	user, ct, _ := c.snapshot()
	return cluster.Event{Type: typ, TS: time.Now().UnixMilli(), NodeID: c.n.cfg.NodeID, ConnID: c.id,
		User: user, ConnType: string(ct)}
}

// emit appends e to the event stream if the node appends events of its type.
func (n *Node) emit(bit eventSet, e cluster.Event) {
	if n.emits(bit) {
		n.broker.AppendEvent(appendEvent(nil, e))
	}
}

// appendEvent appends e as JSON: the encoding of encoding/json for
// cluster.Event (same keys, omitempty), without its reflection. Data is
// already valid JSON (the node checked it); every string is escaped
// (protocol.AppendString).
func appendEvent(b []byte, e cluster.Event) []byte {
	b = append(b, `{"type":`...)
	b = protocol.AppendString(b, e.Type)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, e.TS, 10)
	b = appendField(b, "node_id", e.NodeID, false)
	b = appendField(b, "conn_id", e.ConnID, false)
	b = appendField(b, "user", e.User, true)
	b = appendField(b, "conn_type", e.ConnType, false)
	b = appendField(b, "room", e.Room, true)
	b = appendField(b, "to_user", e.ToUser, true)
	b = appendField(b, "to_conn", e.ToConn, true)
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	b = appendField(b, "msg_id", e.MsgID, true)
	if e.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(e.Code), 10)
	}
	b = appendField(b, "reason", e.Reason, true)
	return append(b, '}')
}

func appendField(b []byte, key, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return protocol.AppendString(b, v)
}

// messageEvent is the event of a client's room or direct message; it goes
// to the stream with the message's own PUBLISH.
func (c *conn) messageEvent(req protocol.Request, typ, msgID string) []byte {
	e := c.event(typ)
	e.Room, e.ToUser, e.ToConn, e.Data, e.MsgID = req.Room, req.ToUser, req.ToConn, req.Data, msgID
	return appendEvent(make([]byte, 0, 192+len(req.Data)), e)
}
