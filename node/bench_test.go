package node

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
	"github.com/wsnode/wsnode/socket"
)

// Benchmarks of the per-message hot paths: encoding at the origin, decoding
// a client frame, routing a pub/sub envelope to local room members (without
// sockets), and the full fan-out to 1,000 real WebSocket connections.
//
// They reuse the fakes of fakes_test.go (fakeRegistry, fakeBroker, fakeStats).

const (
	benchRoom     = "bench"
	benchSenderID = "0b7d6f0e-3c1a-4f5e-9a57-6f1f2a9c1d11" // not a member: exercises the Exclude check
	benchUser     = "alice"
)

// benchData is a 128-byte JSON object, the "data" of a typical message.
var benchData = func() json.RawMessage {
	const head, tail = `{"text":"`, `","n":[1,2,3],"ok":true}`
	d := head + strings.Repeat("x", 128-len(head)-len(tail)) + tail
	if len(d) != 128 || !json.Valid([]byte(d)) {
		panic("benchData: bad size or JSON")
	}
	return json.RawMessage(d)
}()

// benchNode builds a Node on the fakes (fakeNode).
func benchNode(tb testing.TB, tweak func(*Config)) *Node {
	tb.Helper()
	return benchNodeWith(tb, tweak, fakeStats{})
}

// benchNodeWith is benchNode with the given Stats.
func benchNodeWith(tb testing.TB, tweak func(*Config), st Stats) *Node {
	tb.Helper()
	return fakeNode(tb, tweak, fakeRegistry{}, st)
}

var benchFrom = protocol.From{User: benchUser, ConnID: benchSenderID, Type: string(TypeUser)}

// benchPayload is the routed frame of one room message with benchData.
func benchPayload(tb testing.TB) []byte {
	p, err := protocol.MessageFrame(protocol.TypeMessage, benchRoom, benchFrom, benchData, uuid.NewString(), time.UnixMilli(1767225600000))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// benchEnvelopeMsg is the pub/sub body a receiving node gets for one room
// message sent with echo:false (so Exclude is set, as in pubsub's benchmarks).
func benchEnvelopeMsg(tb testing.TB) []byte {
	return envelope.Encode(envelope.Envelope{Kind: envelope.KindRoom, Target: benchRoom, Op: envelope.OpDeliver,
		Exclude: benchSenderID, Payload: benchPayload(tb)})
}

// BenchmarkEncodeOnce is what conn.publish does once per message at its
// origin: protocol.MessageFrame of the routed frame, then envelope.Encode of the
// envelope body. "uuid" includes the msg_id generation (uuid.NewString) and
// the clock read that publish does; "fixed-id" isolates the encoding.
func BenchmarkEncodeOnce(b *testing.B) {
	for _, tc := range []struct {
		name string
		uuid bool
	}{{"fixed-id", false}, {"uuid", true}} {
		b.Run(tc.name, func(b *testing.B) {
			msgID := uuid.NewString()
			at := time.UnixMilli(1767225600000)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				if tc.uuid {
					msgID, at = uuid.NewString(), time.Now()
				}
				payload, err := protocol.MessageFrame(protocol.TypeMessage, benchRoom, benchFrom, benchData, msgID, at)
				if err != nil {
					b.Fatal(err)
				}
				body := envelope.Encode(envelope.Envelope{Kind: envelope.KindRoom, Target: benchRoom,
					Op: envelope.OpDeliver, Exclude: benchSenderID, Payload: payload})
				size = len(body)
			}
			b.SetBytes(int64(size))
		})
	}
}

// BenchmarkDecodeRequest parses a typical client message frame (~200 bytes,
// 128 of them the data object).
func BenchmarkDecodeRequest(b *testing.B) {
	frame := []byte(`{"type":"message","room":"` + benchRoom + `","id":"r-000042","echo":false,"data":` + string(benchData) + `}`)
	if r, err := protocol.Decode(frame); err != nil || r.Type != protocol.TypeMessage || r.Room != benchRoom || string(r.Data) != string(benchData) {
		b.Fatalf("protocol.Decode: %+v, %v", r, err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouteEnvelope is what a receiving node does per incoming pub/sub
// message for a room with N local members, without socket writes:
// envelope.Decode, then handleEnvelope, which enqueues the shared payload on
// every member. The members have no socket; writing is set so enqueue never
// starts a writer, and the benchmark empties each queue after every message
// (under qmu, as the writer would), which is included in the time.
func BenchmarkRouteEnvelope(b *testing.B) {
	for _, members := range []int{1, 100, 1000} {
		b.Run("N="+strconv.Itoa(members), func(b *testing.B) {
			n := benchNode(b, nil)
			conns := make([]*conn, members)
			for i := range conns {
				c := n.newConn(nil, "192.0.2.1") // no socket: no writer ever runs
				c.writing = true
				c.rooms = append(c.rooms, benchRoom)
				n.idx.add(c)
				n.idx.addRoom(c, benchRoom)
				conns[i] = c
			}
			msg := benchEnvelopeMsg(b)
			route := func() {
				env, err := envelope.Decode(envelope.KindRoom, benchRoom, msg)
				if err != nil {
					b.Fatal(err)
				}
				n.handleEnvelope(env)
				for _, c := range conns {
					c.qmu.Lock()
					c.queue = c.queue[:0]
					c.queued = 0
					c.qmu.Unlock()
				}
			}
			// Sanity check: every member gets the frame queued.
			env, err := envelope.Decode(envelope.KindRoom, benchRoom, msg)
			if err != nil {
				b.Fatal(err)
			}
			n.handleEnvelope(env)
			for _, c := range conns {
				if c.closing() || len(c.queue) != 1 || string(c.queue[0].data) != string(env.Payload) {
					b.Fatalf("member %s: closing=%v, %d frames queued", c.id, c.closing(), len(c.queue))
				}
				c.queue, c.queued = c.queue[:0], 0
			}
			b.ReportAllocs()
			m0 := mallocs()
			for b.Loop() {
				route()
			}
			reportPerDelivery(b, members, mallocs()-m0)
		})
	}
}

// mallocs is the process-wide count of heap allocations, the same counter
// the testing package uses for allocs/op (all goroutines included).
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// reportPerDelivery adds ns/delivery and allocs/delivery, where one delivery
// is one message reaching one member; allocs is the mallocs delta over the
// timed loop.
func reportPerDelivery(b *testing.B, members int, allocs uint64) {
	deliveries := float64(b.N) * float64(members)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(allocs)/deliveries, "allocs/delivery")
}

// BenchmarkFanout1000 is the full receive path with real sockets: one
// in-process Node holds 1,000 WebSocket connections (over loopback TCP,
// upgraded with the node's own upgrader) in one room, and each iteration
// hands it one room message (envelope.Decode + handleEnvelope); writer
// goroutines write it to every socket. The clients only count the bytes they
// read. The timer stops once every client has received every frame of every
// iteration, so the socket writes are included.
//
// All b.N messages are handed over back to back, faster than the sockets
// drain, so the send queue limit is raised to b.N frames: with the default
// (256 frames) a burst of more than 256 messages closes the connections as
// slow consumers, as intended in production. BenchmarkFanout1000Paced is the
// same path with the default limits and one message in flight at a time.
func BenchmarkFanout1000(b *testing.B) {
	benchFanout(b, false)
}

// BenchmarkFanout1000Paced waits after each message until all 1,000 clients
// have received it: every message wakes a writer per connection, and the
// queues never grow past one frame. This is the latency of one room
// message, and the steady state of a room whose rate the sockets keep up with.
func BenchmarkFanout1000Paced(b *testing.B) {
	benchFanout(b, true)
}

func benchFanout(b *testing.B, paced bool) {
	const members = 1000
	n := benchNode(b, func(cfg *Config) {
		if !paced {
			cfg.SendQueueSize = max(256, b.N+1)
			cfg.MaxQueuedBytes = 1 << 40
		}
		cfg.MaxConns, cfg.MaxConnsPerIP = -1, -1
	})
	payload := benchPayload(b)
	frameLen := int64(len(payload)) + wsServerHeaderLen(len(payload))
	msg := envelope.Encode(envelope.Envelope{Kind: envelope.KindRoom, Target: benchRoom, Op: envelope.OpDeliver,
		Exclude: benchSenderID, Payload: payload})
	f := newFanoutFixture(b, n, members)
	perMsg := members * frameLen

	b.ReportAllocs()
	b.ResetTimer()
	m0 := mallocs()
	for i := range b.N {
		env, err := envelope.Decode(envelope.KindRoom, benchRoom, msg)
		if err != nil {
			b.Fatal(err)
		}
		n.handleEnvelope(env)
		if paced {
			f.waitFor(b, int64(i+1)*perMsg)
		}
	}
	f.waitFor(b, int64(b.N)*perMsg)
	b.StopTimer()
	reportPerDelivery(b, members, mallocs()-m0)
	// Every byte has arrived, but a writer counts a frame only after
	// its write returns, which may be after the client has read it.
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range f.conns {
		for c.msgsOut.Load() != int64(b.N) && !c.closing() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if c.closing() || c.msgsOut.Load() != int64(b.N) {
			b.Fatalf("conn %s: closing=%v, wrote %d of %d frames", c.id, c.closing(), c.msgsOut.Load(), b.N)
		}
	}
}

// wsServerHeaderLen is the length of an unmasked (server to client) frame header.
func wsServerHeaderLen(payload int) int64 {
	switch {
	case payload <= 125:
		return 2
	case payload <= 65535:
		return 4
	}
	return 10
}

// fanoutFixture is members real sockets held by n, all in benchRoom, and
// their client ends, each read by a goroutine that counts and discards bytes.
type fanoutFixture struct {
	conns   []*conn
	clients []*websocket.Conn
	readers sync.WaitGroup // one per client reader goroutine

	total   atomic.Int64  // bytes read by all clients
	target  atomic.Int64  // what waitFor is waiting for
	reached chan struct{} // poked when total reaches target
	timer   *time.Timer   // waitFor's watchdog, reused
}

func newFanoutFixture(b *testing.B, n *Node, members int) *fanoutFixture {
	b.Helper()
	f := &fanoutFixture{reached: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	f.target.Store(1 << 62)
	accepted := make(chan *conn, members)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &socket.Hijacker{ResponseWriter: w} // as ServeHTTP does
		ws, err := n.upgrader.Upgrade(hj, r, nil)
		if err != nil {
			return
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		c := n.newConn(ws, host)
		c.br, c.waitBytes, c.cork = hj.Reader, socket.WaitsForBytes(ws.NetConn()), hj.Conn
		// Hijack corked the 101 response for a welcome frame; there is none here.
		if !c.uncork(c.cork) {
			return
		}
		c.mu.Lock()
		c.rooms = append(c.rooms, benchRoom)
		c.mu.Unlock()
		n.idx.add(c)
		n.idx.addRoom(c, benchRoom)
		accepted <- c
	}))
	// Cleanups run last-in first-out: sockets first, then the server.
	b.Cleanup(srv.Close)
	b.Cleanup(f.close)

	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for range members {
		ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatalf("dial %d: %v", len(f.clients), err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		f.clients = append(f.clients, ws)
		f.conns = append(f.conns, <-accepted)
		f.readers.Add(1)
		go f.drain(ws.NetConn())
	}
	return f
}

// drain reads raw bytes until the socket closes. The server sends nothing
// after the handshake response, so no frame bytes sit in the client's bufio
// reader.
func (f *fanoutFixture) drain(nc net.Conn) {
	defer f.readers.Done()
	buf := make([]byte, 4096)
	for {
		k, err := nc.Read(buf)
		// total and target are sequentially consistent: either this reader
		// sees the new target, or waitFor sees this addition.
		if k > 0 && f.total.Add(int64(k)) >= f.target.Load() {
			select {
			case f.reached <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// waitFor blocks until the clients have read want bytes in all, or fails
// after two minutes.
func (f *fanoutFixture) waitFor(b *testing.B, want int64) {
	f.target.Store(want)
	if f.total.Load() >= want {
		return
	}
	f.timer.Reset(2 * time.Minute)
	defer f.timer.Stop()
	for f.total.Load() < want {
		select {
		case <-f.reached:
		case <-f.timer.C:
			b.Fatalf("clients read %d of %d bytes within 2 minutes", f.total.Load(), want)
		}
	}
}

// close retires every server-side conn (waiting for its writer to exit),
// closes both ends of every socket and waits for the client readers.
func (f *fanoutFixture) close() {
	f.timer.Stop()
	for _, c := range f.conns {
		c.closeOnce.Do(func() { close(c.done) })
		<-c.seal()
		_ = c.ws.Close()
		c.n.idx.remove(c, "", []string{benchRoom})
	}
	for _, ws := range f.clients {
		_ = ws.Close()
	}
	f.readers.Wait()
}
