package node

import (
	"bufio"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// closeWriteTimeout bounds writing the close frame; closeGrace is how long
// the peer gets to answer it before the socket is torn down.
const (
	closeWriteTimeout = time.Second
	closeGrace        = 2 * time.Second
)

// maxSpare is the largest queue capacity a connection keeps between bursts;
// a larger one is dropped so an idle connection holds no big buffer.
const maxSpare = 32

// outFrame is one queued text frame. data may be shared by every local
// recipient of a message, so it is never modified. ping asks for a WebSocket
// ping before it; pong makes it a WebSocket pong with data as its payload
// instead. size counts against the byte budget.
//
// The writer frames data itself (socket.Conn.WriteFrame): a header and the
// shared bytes, with no per-recipient allocation. A websocket.PreparedMessage
// allocated a throw-away conn and a 4 KiB buffer per message and node (64%
// of all bytes allocated in the direct benchmark), which cost more than it
// saved.
type outFrame struct {
	data []byte
	ping bool
	pong bool
	size int64
}

// opcode is the opcode of the frame that carries data: pong or text.
func (f outFrame) opcode() byte {
	if f.pong {
		return socket.OpPong
	}
	return socket.OpText
}

// wireSize bounds the bytes f's frames take on the wire.
func (f outFrame) wireSize() int {
	n := socket.MaxFrameHeader + len(f.data)
	if f.ping {
		n += socket.MaxFrameHeader
	}
	return n
}

// conn is one client socket held by this node.
type conn struct {
	n           *Node
	id          string
	ws          *websocket.Conn
	ip          string
	connectedAt time.Time

	// The send queue. A writer goroutine runs only while it is not empty.
	qmu     sync.Mutex
	queue   []outFrame
	spare   []outFrame    // the previous batch's storage, reused
	queued  int64         // bytes in queue
	writing bool          // the writer role is taken (writeNow or writeLoop)
	sealed  bool          // closing: no new writer may start
	flushed chan struct{} // closed when the writer running at seal time exits

	done        chan struct{} // closed when the connection starts closing
	readerDone  chan struct{} // closed when the reader has returned
	torn        chan struct{} // closed by finishClose once the socket is closed
	closeOnce   sync.Once
	closeCode   int
	closeReason string

	// opMu serialises membership changes (auth, join, leave, cleanup).
	opMu sync.Mutex
	// mu guards the fields below; readers of them take it briefly.
	mu     sync.Mutex
	user   string
	typ    ConnType
	state  State
	rooms  []string // joined rooms; a slice is smaller than a map at these sizes
	authAt time.Time

	// recovs switch history rooms that the connection is joining from
	// replay to live messages (recovery.go).
	recovs recoveries

	lastActivity atomic.Int64 // unix ms of the last client frame
	lastPing     atomic.Int64 // unix ms of the last ping queued
	expiresAt    atomic.Int64 // unix ms when the token expires; 0 = no token
	msgsIn       atomic.Int64
	msgsOut      atomic.Int64
	writeSince   atomic.Int64 // unix ns when the write in progress began; 0 = none
	dirty        atomic.Bool  // active since the last activity flush
	outDirty     atomic.Bool  // msgs_out changed since it last went to Redis
	slice        uint8        // sweep slice (index.slices); set by index.add under its lock

	// br is the read buffer gorilla reads through (nil only for test
	// connections; see socket.Hijacker). waitBytes: the reader fills it
	// before a worker serves frames (awaitReadable, socket.WaitsForBytes).
	br        *bufio.Reader
	waitBytes bool
	// cork is the socket the writer writes frames to, and gathers a batch
	// of them into one write (package socket). Every connection with a
	// socket has one, from socket.Hijacker; only socket-less test
	// connections have none.
	cork *socket.Conn

	// writer is c.writeLoop, bound once so starting a writer allocates nothing.
	writer func()

	limiter *rate.Limiter // used by whichever goroutine serves the frames (one at a time)
	strikes int           // likewise
	turn    struct {      // likewise, and readPump between wake-ups: the reader's turn (reader.go)
		frames, bytes int
	}
	// readPump's own: when it last woke (unix ns) and how many wake-ups in
	// a row came within hotGap of the one before (inline.go).
	lastWake   int64
	wakeStreak uint8

	// allowed is the token's "rooms" claim (RoomsClaim; nil: no claim),
	// read on joins only: kept after the fields that delivery touches.
	allowed []string // guarded by mu
}

// logger returns the connection's logger with conn_id (and user). It is
// built on demand, so that idle connections hold no logger of their own.
func (c *conn) logger() *slog.Logger {
	l := c.n.log.With("conn_id", c.id)
	if user, _, _ := c.snapshot(); user != "" {
		l = l.With("user", user)
	}
	return l
}

// debug logs at debug level without building a logger when it is off.
func (c *conn) debug(msg string, args ...any) {
	if c.n.log.Enabled(context.Background(), slog.LevelDebug) {
		c.logger().Debug(msg, args...)
	}
}

// ID returns the connection id (a UUID).
func (c *conn) ID() string { return c.id }

func (c *conn) snapshot() (user string, typ ConnType, state State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user, c.typ, c.state
}

func (c *conn) roomCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rooms)
}

func (c *conn) inRoom(room string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.rooms, room)
}

func (c *conn) setState(s State) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (c *conn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// record is the registry view of the connection, used by re-assertion.
func (c *conn) record() cluster.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms := slices.Clone(c.rooms)
	return cluster.Conn{
		ID: c.id, NodeID: c.n.cfg.NodeID, User: c.user, Type: string(c.typ), State: string(c.state),
		IP: c.ip, ConnectedAt: c.connectedAt, AuthenticatedAt: c.authAt,
		LastActivity: time.UnixMilli(c.lastActivity.Load()),
		MessagesIn:   c.msgsIn.Load(), MessagesOut: c.msgsOut.Load(), Rooms: rooms,
	}
}

func nowMS() int64 { return time.Now().UnixMilli() }

// touch records client activity.
func (c *conn) touch() {
	c.lastActivity.Store(nowMS())
	c.msgsIn.Add(1)
	c.dirty.Store(true)
}

// enqueue queues a frame without ever waiting for the socket, and starts
// the writer (startWriter) if none is running. When the queue or the byte
// budget is full the connection is closed as a slow consumer.
func (c *conn) enqueue(f outFrame) bool {
	ok, start := c.push(f)
	if start {
		c.startWriter()
	}
	return ok
}

// push queues a frame like enqueue but does not start the writer: start
// reports that the caller took the writer role and must call startWriter.
func (c *conn) push(f outFrame) (ok, start bool) {
	if c.closing() {
		return false, false
	}
	c.qmu.Lock()
	if c.sealed {
		c.qmu.Unlock()
		return false, false
	}
	if len(c.queue) >= c.n.cfg.SendQueueSize || c.queued+f.size > c.n.cfg.MaxQueuedBytes {
		c.qmu.Unlock()
		c.slow()
		return false, false
	}
	c.queue = append(c.queue, f)
	c.queued += f.size
	start = !c.writing
	c.writing = true
	c.qmu.Unlock()
	return true, start
}

// seal stops new writers from starting and returns a channel that is closed
// once the writer running now (if any) has flushed and exited.
func (c *conn) seal() <-chan struct{} {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.sealed = true
	if !c.writing {
		return closedChan
	}
	return c.flushed
}

var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

func (c *conn) slow() {
	if c.closeWith(protocol.CloseSlowConsumer, "slow consumer") {
		c.n.stats.Error(counter.ErrSlowConsumer)
	}
}

// sendBytes queues a frame for this connection only.
func (c *conn) sendBytes(b []byte) bool {
	return c.enqueue(outFrame{data: b, size: int64(len(b))})
}

// closeWith starts closing the connection with a close code. It never
// blocks and reports whether this call started the close.
func (c *conn) closeWith(code int, reason string) bool {
	started := false
	c.closeOnce.Do(func() {
		started = true
		c.closeCode, c.closeReason = code, reason
		close(c.done)
		go c.finishClose()
	})
	return started
}

// finishClose lets the writer flush what was queued before the close (an
// error frame explaining it), sends the close frame, gives the peer
// closeGrace to answer it, then tears the socket down, which also ends the
// reader. After a close for abuse (stopsReading) nothing reads the answer:
// the peer gets the whole closeGrace (less if the node stops) to take the
// frames before the socket is torn down, while its own unread frames fill
// the TCP window.
func (c *conn) finishClose() {
	flushed := time.NewTimer(closeWriteTimeout)
	select {
	case <-c.seal():
	case <-flushed.C:
	}
	flushed.Stop()
	// Disconnect checks the reason, but one from another node arrives
	// unchecked: gorilla would refuse an over-long close frame (the peer
	// would see 1006) and send invalid UTF-8, which the peer must reject.
	msg := websocket.FormatCloseMessage(c.closeCode, protocol.FitCloseReason(c.closeReason))
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWriteTimeout))
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	if stopsReading(c.closeCode) {
		select {
		case <-t.C:
		case <-c.n.baseCtx.Done():
		}
	} else {
		select {
		case <-c.readerDone:
		case <-t.C:
		}
	}
	_ = c.ws.Close()
	close(c.torn)
}
