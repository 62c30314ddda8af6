package node

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/counter"
	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// ServeHTTP accepts a WebSocket connection (GET /ws). Every refusal happens
// before the upgrade and before any Redis write: 503 while draining or at the
// node's socket limit, 429 at the per-IP limit, 403 for a disallowed Origin,
// 401 for a bad "Authorization: Bearer" token.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !n.admit() {
		n.refuse(w, http.StatusServiceUnavailable, "node is draining")
		return
	}
	if !n.beaten() {
		// Before its first heartbeat a node's registrations could be reaped
		// as a dead node's by the others.
		n.conns.Done()
		n.refuse(w, http.StatusServiceUnavailable, "node is starting")
		return
	}
	if !n.admission.enter() {
		n.conns.Done()
		n.busy(w)
		return
	}
	if n.setup.enter(r.Context()) != nil { // the screening and the upgrade: CPU work
		n.admission.leave()
		n.conns.Done()
		return // the client is gone
	}
	claims, hasToken, ip, ok := n.screen(w, r)
	if !ok {
		n.setup.leave()
		n.admission.leave()
		n.conns.Done()
		return
	}
	hj := &socket.Hijacker{ResponseWriter: w}
	ws, err := n.upgrader.Upgrade(hj, r, nil)
	n.setup.leave()
	if err != nil {
		n.admission.leave()
		n.idx.release(ip)
		n.conns.Done()
		return // the upgrader has answered with an HTTP error
	}
	c := n.newConn(ws, ip)
	c.br, c.waitBytes, c.cork = hj.Reader, socket.WaitsForBytes(ws.NetConn()), hj.Conn
	// The rest runs on a pooled worker and this handler returns, so net/http's
	// per-request state is freed, and the Redis calls of start run on a stack
	// that has already grown for them (workers.go) instead of growing this
	// fresh goroutine's.
	n.workers.goF(func() { n.open(c, claims, hasToken) })
}

// open registers and welcomes c, then gives it a reader goroutine of its
// own; idle sockets cost only that shallow reader stack (reader.go).
func (n *Node) open(c *conn, claims auth.Claims, hasToken bool) {
	started := n.start(c, claims, hasToken)
	n.admission.leave() // registered (and authenticated, with a header token) or refused
	c.uncork(c.cork)    // the 101 response and the welcome frame, in one write
	if !started {
		n.idx.release(c.ip)
		n.conns.Done()
		return
	}
	c.prepareRead()
	go n.read(c)
}

// read runs c's reader until the socket closes, then hands the cleanup's
// Redis calls to a worker: they would grow the reader's small stack.
func (n *Node) read(c *conn) {
	c.readPump()
	// Before cleanup's Redis calls: finishClose may tear the socket down as
	// soon as the reader is done, not after the registry is.
	close(c.readerDone)
	n.workers.goF(func() {
		n.cleanup(c)
		n.idx.release(c.ip)
		n.conns.Done()
	})
}

// screen runs the checks before the upgrade: Origin, an optional bearer
// token, and the per-node and per-IP limits (reserving a slot for ip). It
// answers the refusals itself.
func (n *Node) screen(w http.ResponseWriter, r *http.Request) (cl auth.Claims, hasToken bool, ip string, ok bool) {
	if !n.checkOrigin(r) {
		n.refuse(w, http.StatusForbidden, "origin not allowed")
		return cl, false, "", false
	}
	if cl, hasToken, ok = n.headerAuth(w, r); !ok {
		return cl, false, "", false
	}
	ip = n.clientIP(r)
	if admitted, perIP := n.idx.reserve(ip, n.cfg.MaxConns, n.cfg.MaxConnsPerIP); !admitted {
		if perIP {
			n.refuse(w, http.StatusTooManyRequests, "too many connections from this address")
		} else {
			n.refuse(w, http.StatusServiceUnavailable, "node is at its connection limit")
		}
		return cl, false, "", false
	}
	return cl, hasToken, ip, true
}

// beaten reports whether a heartbeat has reached Redis since start.
func (n *Node) beaten() bool {
	n.healthMu.Lock()
	defer n.healthMu.Unlock()
	return !n.lastHeartbeat.IsZero()
}

// admit counts a handler in unless the node is draining. The mutex orders
// every conns.Add before the drain's conns.Wait.
func (n *Node) admit() bool {
	n.admitMu.Lock()
	defer n.admitMu.Unlock()
	if n.draining.Load() {
		return false
	}
	n.conns.Add(1)
	return true
}

func (n *Node) refuse(w http.ResponseWriter, status int, msg string) {
	n.stats.Add(counter.CtrRejected, 1)
	http.Error(w, msg, status)
}

func (n *Node) handshakeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	n.refuse(w, status, reason.Error())
}

// headerAuth takes the identity the embedding application attached to the
// upgrade request, or verifies an optional bearer token on it.
func (n *Node) headerAuth(w http.ResponseWriter, r *http.Request) (auth.Claims, bool, bool) {
	if cl, ok := auth.FromContext(r.Context()); ok {
		return cl, true, true // the embedding application authenticated r
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Claims{}, false, true
	}
	tok, found := auth.BearerToken(h)
	if !found {
		n.refuse(w, http.StatusUnauthorized, "Authorization must be a Bearer token")
		return auth.Claims{}, false, false
	}
	cl, err := n.verifier.Verify(tok)
	if err != nil {
		n.stats.Error(counter.ErrAuthFailed)
		n.refuse(w, http.StatusUnauthorized, "invalid token")
		return auth.Claims{}, false, false
	}
	return cl, true, true
}

func (n *Node) newConn(ws *websocket.Conn, ip string) *conn {
	id := uuid.NewString()
	c := &conn{
		n: n, id: id, ws: ws, ip: ip, connectedAt: time.Now(),
		done: make(chan struct{}), readerDone: make(chan struct{}), torn: make(chan struct{}),
		flushed: make(chan struct{}), typ: TypeGuest, state: StateConnected,
	}
	c.writer = c.writeLoop
	if n.cfg.MessageRate > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(n.cfg.MessageRate), n.cfg.MessageBurst)
	}
	now := nowMS()
	c.lastActivity.Store(now)
	c.lastPing.Store(pingPhase(now, n.cfg.PingInterval))
	return c
}

// start registers a new socket, indexes it, sends the welcome frame and
// either binds the upgrade request's token or arms the auth timeout. It
// reports false (the socket is closed with protocol.CloseNodeUnavailable)
// when Redis could not record the connection.
func (n *Node) start(c *conn, claims auth.Claims, hasToken bool) bool {
	ctx := n.opCtx()
	err := n.setup.do(ctx, func() error { return n.reg.Register(ctx, c.record()) })
	if err != nil {
		n.stats.Error(counter.ErrRegistryFailed)
		c.logger().Warn("register failed; closing", "err", err)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(protocol.CloseNodeUnavailable, "node unavailable"), time.Now().Add(closeWriteTimeout))
		_ = c.cork.Uncork() // the 101 response and the close frame
		_ = c.ws.Close()
		n.retryUnregister(c.id, "")
		return false
	}
	// The welcome goes first, before the index makes the connection
	// reachable: no room or broadcast frame can be written ahead of it.
	c.welcome()
	n.idx.add(c)
	n.stats.Add(counter.CtrConnections, 1)
	if n.draining.Load() {
		c.closeWith(protocol.CloseGoingAway, "node shutting down") // drain may have missed it
	}
	c.debug("connected", "ip", c.ip)
	if hasToken {
		c.finishAuth(protocol.Request{Type: protocol.TypeAuth}, claims)
	}
	return true // the auth timeout is enforced by the node's sweep
}

// welcome writes the welcome frame. Nothing else can write to c yet (start
// calls it before indexing c), so it is written here rather than queued:
// on a connection still corked from the upgrade it is gathered behind the
// 101 response, which saves the writer's wake-up and a system call.
func (c *conn) welcome() {
	n := c.n
	c.writeFrame(outFrame{data: protocol.Welcome{
		ConnID: c.id, NodeID: n.cfg.NodeID,
		PingIntervalMS: n.cfg.PingInterval.Milliseconds(), AuthTimeoutMS: n.cfg.AuthTimeout.Milliseconds(),
		Guests: string(n.cfg.Guests),
	}.Frame()})
}

func (c *conn) authExpired() {
	if _, _, st := c.snapshot(); st != StateAuthenticated {
		c.n.stats.Error(counter.ErrAuthTimeout)
		c.sendError(nil, protocol.CodeAuthTimeout, "no auth frame within the auth timeout")
		c.closeWith(protocol.CloseAuthTimeout, "auth timeout")
	}
}

// cleanup removes every trace of a closed socket: local index,
// pub/sub interest and the Redis registry (retried later if Redis fails).
func (n *Node) cleanup(c *conn) {
	c.closeWith(protocol.CloseNormal, "")
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	if c.state != StateInactive {
		c.state = StateDisconnected
	}
	user, rooms := c.user, c.rooms
	c.rooms = nil
	c.mu.Unlock()
	n.idx.remove(c, user, rooms)
	n.forgetEmptyRooms(rooms...)
	if err := n.reg.Unregister(n.cleanupCtx(), c.id); err != nil {
		n.retryUnregister(c.id, "")
	}
	for _, r := range rooms {
		n.unsubscribe(envelope.KindRoom, r)
	}
	if user != "" {
		n.unsubscribe(envelope.KindUser, user)
	}
	c.disconnected(user, rooms)
	n.stats.Add(counter.CtrDisconnections, 1)
	c.debug("disconnected", "code", c.closeCode, "duration", time.Since(c.connectedAt).Round(time.Millisecond),
		"msgs_in", c.msgsIn.Load(), "msgs_out", c.msgsOut.Load())
}

// checkOrigin allows requests without Origin (non-browser clients), origins
// on the allow-list (exact match), and, when the list is empty, same-origin.
func (n *Node) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(n.cfg.AllowedOrigins) > 0 {
		for _, o := range n.cfg.AllowedOrigins {
			if o == origin {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// clientIP is the TCP peer, or the right-most untrusted X-Forwarded-For
// entry when the peer is a trusted proxy.
func (n *Node) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !n.trusted(peer) {
		return host
	}
	// Every header line counts, in order: a proxy may append its own line.
	parts := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		if !n.trusted(a) {
			return a.String()
		}
		host = a.String()
	}
	return host
}

func (n *Node) trusted(a netip.Addr) bool {
	for _, p := range n.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
