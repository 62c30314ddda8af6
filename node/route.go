package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
)

// route sends an envelope to wherever its recipients are. A connection
// held by this node is served without a Redis round trip.
func (n *Node) route(ctx context.Context, env envelope.Envelope) error {
	if n.toSelf(env) {
		n.handleEnvelope(env)
		return nil
	}
	if err := n.broker.Publish(ctx, env); err != nil {
		n.stats.Error(counter.ErrPublishFailed)
		return fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
	}
	return nil
}

// routeAsync is route for client messages: the reader goes on with the next
// frame while the publish is pipelined with others. done is called exactly
// once, from the publishing goroutine (or this one), with the outcome; a
// connection held by this node is served at once and reported as one
// receiver. done counts failures and loss windows (r.Err != nil) as
// publish_failed: it is handed to the broker as it is, so that a message
// allocates one closure for its outcome, not two (conn.confirm).
//
// mayWait says the caller may wait for the publish's round trip: then, when
// the broker can (inlinePublisher) and has nothing else queued or in
// flight, the publish is sent on the caller's goroutine and done runs
// before routeAsync returns.
func (n *Node) routeAsync(env envelope.Envelope, mayWait bool, done func(envelope.Result)) {
	if n.toSelf(env) {
		n.handleEnvelope(env)
		if env.Event != nil {
			n.broker.AppendEvent(env.Event)
		}
		done(envelope.Result{Receivers: 1})
		return
	}
	if ip, ok := n.broker.(inlinePublisher); ok && mayWait {
		ip.PublishInline(env, done)
		return
	}
	n.broker.PublishAsync(env, done)
}

// inlinePublisher is a Broker that can send a publish on the caller's
// goroutine when it has nothing else to send (pubsub.Broker's
// PublishInline): a lightly loaded node then skips the hand-off to the
// publishing goroutine, a goroutine wake-up per message.
type inlinePublisher interface {
	PublishInline(e envelope.Envelope, done func(envelope.Result))
}

// toSelf reports whether env is addressed to a connection of this node,
// which route and routeAsync serve without the broker.
func (n *Node) toSelf(env envelope.Envelope) bool {
	return env.Kind == envelope.KindNode && env.Target == n.cfg.NodeID
}

// payloadCopier is a Broker whose PublishAsync keeps no reference to the
// envelope's Payload once it returns (pubsub.Broker's CopiesPayload).
type payloadCopier interface{ CopiesPayload() bool }

// payloadBufs holds the buffers conn.publish encodes a client message into
// when the broker copies it (payloadCopier).
var payloadBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledPayload is the largest payload buffer kept for reuse.
const maxPooledPayload = 16 << 10

// directEnvelope addresses a direct message to a user or to one connection,
// looking up which node holds the connection.
func (n *Node) directEnvelope(ctx context.Context, toUser, toConn string) (envelope.Envelope, error) {
	if toUser != "" {
		if err := cluster.ValidateName("user", toUser); err != nil {
			return envelope.Envelope{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		return envelope.Envelope{Kind: envelope.KindUser, Target: toUser}, nil
	}
	nodeID, err := n.connNode(ctx, toConn)
	if err != nil {
		return envelope.Envelope{}, err
	}
	return envelope.Envelope{Kind: envelope.KindNode, Target: nodeID, ConnID: toConn}, nil
}

// connNode finds the node holding a connection.
func (n *Node) connNode(ctx context.Context, connID string) (string, error) {
	if !validConnID(connID) {
		return "", fmt.Errorf("%w: connection id must be a UUID", ErrNotFound)
	}
	if n.idx.get(connID) != nil {
		return n.cfg.NodeID, nil
	}
	nodeID, err := n.dir.ConnNode(ctx, connID)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return "", ErrNotFound
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nodeID, nil
}

// mayReceive reports whether a connection that is not addressed through a
// room or user it joined may receive: authenticated ones, and guests when
// the guest policy lets them in at all.
func (n *Node) mayReceive(c *conn) bool {
	_, _, st := c.snapshot()
	return st == StateAuthenticated || n.cfg.Guests != GuestsOff
}

// Receiver returns the handler to pass to the broker's Run: it delivers
// every envelope the broker receives to this node's sockets, and makes the
// node re-assert its state in Redis after the broker reconnected.
func (n *Node) Receiver() Receiver { return receiver{n} }

// Receiver is what the broker hands received envelopes to (the broker's
// Handler interface, declared here so that node does not import it).
type Receiver interface {
	// HandleEnvelope delivers one envelope; it never blocks.
	HandleEnvelope(env envelope.Envelope)
	// Reconnected is called after the broker replaced its connection.
	Reconnected()
}

// receiver is the node as a Receiver.
type receiver struct{ n *Node }

func (r receiver) HandleEnvelope(env envelope.Envelope) { r.n.handleEnvelope(env) }
func (r receiver) Reconnected()                         { r.n.resyncAfterReconnect() }

// handleEnvelope delivers a routed envelope to the local recipients. It is
// the pub/sub handler and never blocks: it queues the frame for each
// recipient and hands the sockets whose writer must start to workers, in
// chunks of fanoutChunk, after releasing the index lock.
func (n *Node) handleEnvelope(env envelope.Envelope) {
	switch env.Op {
	case envelope.OpDisconnect:
		if c := n.idx.get(env.ConnID); c != nil {
			c.closeWith(env.Code, env.Reason)
		}
		return
	case envelope.OpDeliver:
	default:
		return
	}
	if env.Kind == envelope.KindRoom && n.history != nil {
		if pos, ok := payloadPosition(env.Payload); ok {
			n.seq.accept(env, pos) // history room: in offset order, gaps repaired
			return
		}
	}
	n.deliverLocal(env, position{})
}

// deliverLocal queues a message for its local recipients; pos is its place
// in the room's history (zero for other messages).
func (n *Node) deliverLocal(env envelope.Envelope, pos position) {
	// Every local recipient shares the payload bytes; writers only read them.
	f := outFrame{data: env.Payload, size: int64(len(env.Payload))}
	delivered := int64(0)
	starts := writerStartsPool.Get().(*writerStarts)
	deliver := func(c *conn) {
		if c.id == env.Exclude {
			return
		}
		if pos.offset != 0 && c.recovs.intercept(env.Target, f, pos) {
			return // held until the replay is queued, or covered by it
		}
		ok, start := c.push(f)
		if ok {
			delivered++
		}
		if start {
			starts.conns = append(starts.conns, c)
			if len(starts.conns) == fanoutChunk {
				n.workers.goF(starts.fn)
				starts = writerStartsPool.Get().(*writerStarts)
			}
		}
	}
	switch env.Kind {
	case envelope.KindRoom:
		n.idx.eachRoom(env.Target, deliver)
	case envelope.KindUser:
		n.idx.eachUser(env.Target, deliver)
	case envelope.KindAll:
		n.idx.eachConn(func(c *conn) {
			if n.mayReceive(c) {
				deliver(c)
			}
		})
	case envelope.KindNode:
		if c := n.idx.get(env.ConnID); c != nil && n.mayReceive(c) {
			deliver(c)
		}
	}
	switch {
	case len(starts.conns) == 0:
		writerStartsPool.Put(starts)
	case len(starts.conns) <= inlineFanout:
		starts.fn() // a small fan-out, or a large one's last few: tried here, see inlineFanout
	default:
		n.workers.goF(starts.fn)
	}
	n.stats.Add(counter.CtrDelivered, delivered)
}
