package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// resultBroker delivers like fakeBroker and completes every publish with a
// chosen Result, standing in for Redis's reply and the loss-window check.
type resultBroker struct {
	fakeBroker
	mu sync.Mutex
	r  envelope.Result
}

func (b *resultBroker) set(r envelope.Result) {
	b.mu.Lock()
	b.r = r
	b.mu.Unlock()
}

func (b *resultBroker) PublishAsync(e envelope.Envelope, done func(envelope.Result)) {
	b.mu.Lock()
	r := b.r
	b.mu.Unlock()
	if r.Err == nil && r.Receivers > 0 {
		b.n.handleEnvelope(e)
	}
	done(r)
}

type ackTestFrame struct {
	Type  string          `json:"type"`
	Code  string          `json:"code"`
	Ref   json.RawMessage `json:"ref"`
	MsgID string          `json:"msg_id"`
}

func ackTestNode(t *testing.T) (*resultBroker, *websocket.Conn) {
	n := fakeNode(t, nil, fakeRegistry{}, fakeStats{})
	b := &resultBroker{fakeBroker: fakeBroker{n: n}, r: envelope.Result{Receivers: 1}}
	n.broker = b
	ws := dialInRoom(t, n)
	return b, ws
}

// dialInRoom serves n, dials it and joins room "r".
func dialInRoom(t *testing.T, n *Node) *websocket.Conn {
	t.Helper()
	ws := mustDial(t, mustServe(t, n))
	ackSend(t, ws, `{"type":"join","room":"r","id":"j"}`)
	if f := ackRead(t, ws); f.Type != protocol.TypeJoined {
		t.Fatalf("join answered %+v", f)
	}
	return ws
}

func ackSend(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func ackRead(t *testing.T, ws *websocket.Conn) ackTestFrame {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f ackTestFrame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// A message with an id is acked with the msg_id of the delivered frame.
func TestAckCarriesMsgID(t *testing.T) {
	_, ws := ackTestNode(t)
	ackSend(t, ws, `{"type":"message","room":"r","id":"m1","data":1}`)
	msg, a := ackRead(t, ws), ackRead(t, ws)
	if msg.Type != protocol.TypeMessage || a.Type != protocol.TypeAck || string(a.Ref) != `"m1"` || a.MsgID == "" || a.MsgID != msg.MsgID {
		t.Fatalf("got %+v then %+v, want the message then an ack with ref m1 and its msg_id", msg, a)
	}
	// Without an id there is no ack: the pong is the next frame.
	ackSend(t, ws, `{"type":"message","room":"r","data":2}`)
	ackSend(t, ws, `{"type":"ping","id":7}`)
	if f := ackRead(t, ws); f.Type != protocol.TypeMessage {
		t.Fatalf("got %+v, want the message", f)
	}
	if f := ackRead(t, ws); f.Type != protocol.TypePong {
		t.Fatalf("got %+v, want the pong (no ack without an id)", f)
	}
}

// Every outcome that may have missed someone is an error frame with the
// request's ref and the message's msg_id instead of an ack.
func TestAckErrors(t *testing.T) {
	cases := []struct {
		name, frame, code string
		r                 envelope.Result
	}{
		{"publish failed", `{"type":"message","room":"r","id":"x","data":1}`, "unavailable",
			envelope.Result{Err: errors.New("i/o timeout")}},
		{"loss window", `{"type":"message","room":"r","id":"x","data":1}`, "unavailable",
			envelope.Result{Receivers: 2, Err: fmt.Errorf("publish: %w", envelope.ErrLossWindow)}},
		{"own subscription missing", `{"type":"message","room":"r","id":"x","data":1}`, "unavailable",
			envelope.Result{}},
		{"user offline", `{"type":"direct","to_user":"bob","id":"x","data":1}`, "offline",
			envelope.Result{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, ws := ackTestNode(t)
			b.set(tc.r)
			ackSend(t, ws, tc.frame)
			f := ackRead(t, ws)
			if f.Type != protocol.TypeError || f.Code != tc.code || string(f.Ref) != `"x"` || f.MsgID == "" {
				t.Fatalf("got %+v, want error %s with ref x and a msg_id", f, tc.code)
			}
		})
	}
}

// A direct to a user that some node holds is acked.
func TestAckDirectToUser(t *testing.T) {
	_, ws := ackTestNode(t)
	ackSend(t, ws, `{"type":"direct","to_user":"bob","id":3,"data":1}`)
	if f := ackRead(t, ws); f.Type != protocol.TypeAck || string(f.Ref) != `3` {
		t.Fatalf("got %+v, want an ack with ref 3", f)
	}
}

// heldBroker delivers like fakeBroker but holds every completion until
// release, as Redis's reply arrives after the reader has gone on.
type heldBroker struct {
	fakeBroker
	mu   sync.Mutex
	held []func(envelope.Result)
}

func (b *heldBroker) PublishAsync(e envelope.Envelope, done func(envelope.Result)) {
	b.n.handleEnvelope(e)
	b.mu.Lock()
	b.held = append(b.held, done)
	b.mu.Unlock()
}

func (b *heldBroker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

func (b *heldBroker) release() {
	b.mu.Lock()
	held := b.held
	b.held = nil
	b.mu.Unlock()
	for _, done := range held {
		done(envelope.Result{Receivers: 1})
	}
}

// An ack sent after later frames were read (their buffer is reused,
// readPayload) still carries its own request's id.
func TestAckRefOutlivesFrameBuffer(t *testing.T) {
	n := fakeNode(t, nil, fakeRegistry{}, fakeStats{})
	b := &heldBroker{fakeBroker: fakeBroker{n: n}}
	n.broker = b
	ws := dialInRoom(t, n)
	refs := []string{`"first-aaaa"`, `"second-bb"`, `"third-cccc"`} // same length: same buffer size
	for _, ref := range refs {
		ackSend(t, ws, `{"type":"message","room":"r","id":`+ref+`,"data":1}`)
		if f := ackRead(t, ws); f.Type != protocol.TypeMessage {
			t.Fatalf("got %+v, want the message", f)
		}
	}
	if b.count() != len(refs) {
		t.Fatalf("%d completions held, want %d", b.count(), len(refs))
	}
	b.release()
	for _, ref := range refs {
		if f := ackRead(t, ws); f.Type != protocol.TypeAck || string(f.Ref) != ref {
			t.Fatalf("got %+v, want an ack with ref %s", f, ref)
		}
	}
}

// copyingBroker is a broker that copies each payload before PublishAsync
// returns (as pubsub.Broker does), so the node reuses its buffers.
type copyingBroker struct {
	fakeBroker
	mu       sync.Mutex
	payloads [][]byte // copies, in publish order
}

func (b *copyingBroker) CopiesPayload() bool { return true }

func (b *copyingBroker) PublishAsync(e envelope.Envelope, done func(envelope.Result)) {
	b.mu.Lock()
	b.payloads = append(b.payloads, bytes.Clone(e.Payload))
	b.mu.Unlock()
	done(envelope.Result{Receivers: 1})
}

// Messages encoded into reused buffers are each published whole.
func TestPublishReusesPayloadBuffer(t *testing.T) {
	n := fakeNode(t, nil, fakeRegistry{}, fakeStats{})
	b := &copyingBroker{fakeBroker: fakeBroker{n: n}}
	n.broker = b
	ws := dialInRoom(t, n)
	datas := []string{`"a longer first message"`, `2`, `{"k":"third"}`}
	for i, d := range datas {
		ackSend(t, ws, `{"type":"message","room":"r","id":`+fmt.Sprint(i)+`,"data":`+d+`}`)
		if f := ackRead(t, ws); f.Type != protocol.TypeAck {
			t.Fatalf("got %+v, want an ack", f)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.payloads) != len(datas) {
		t.Fatalf("%d messages published, want %d", len(b.payloads), len(datas))
	}
	for i, p := range b.payloads {
		var f struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(p, &f); err != nil || f.Type != protocol.TypeMessage || string(f.Data) != datas[i] {
			t.Fatalf("message %d published as %s (%v), want data %s", i, p, err, datas[i])
		}
	}
}
