package node

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsnode/wsnode/envelope"
	"github.com/wsnode/wsnode/protocol"
)

// TestServesInline: a connection is served on its reader once hotStreak
// wake-ups in a row came within hotGap of each other, and goes back to the
// workers after a longer pause.
func TestServesInline(t *testing.T) {
	c := &conn{}
	now := time.Now().UnixNano()
	step := func(gap time.Duration) bool {
		now += int64(gap)
		return c.servesInline(now)
	}
	if step(0) {
		t.Fatal("the first wake-up is served inline")
	}
	for i := 1; i < hotStreak; i++ {
		if step(hotGap / 2) {
			t.Fatalf("served inline after %d wake-ups in a row, want %d", i+1, hotStreak+1)
		}
	}
	if !step(hotGap) {
		t.Fatalf("not served inline after %d wake-ups within hotGap", hotStreak+1)
	}
	if !step(time.Millisecond) {
		t.Fatal("a hot connection cooled down within hotGap")
	}
	if step(hotGap + time.Millisecond) {
		t.Fatal("served inline after a pause longer than hotGap")
	}
	if step(hotGap / 2) {
		t.Fatal("the streak did not start again after the pause")
	}
}

// inlineBroker records whether each client message was offered for an
// inline publish (PublishInline) or queued (PublishAsync).
type inlineBroker struct {
	fakeBroker
	mu  sync.Mutex
	how []string // "inline" or "async", in publish order, with the payload's data
}

func (b *inlineBroker) record(how string, e envelope.Envelope, done func(envelope.Result)) {
	var f struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(e.Payload, &f)
	b.mu.Lock()
	b.how = append(b.how, how+" "+string(f.Data))
	b.mu.Unlock()
	b.fakeBroker.PublishAsync(e, done)
}

func (b *inlineBroker) PublishAsync(e envelope.Envelope, done func(envelope.Result)) {
	b.record("async", e, done)
}

func (b *inlineBroker) PublishInline(e envelope.Envelope, done func(envelope.Result)) {
	b.record("inline", e, done)
}

// A message that is the last frame its connection has buffered may wait for
// its publish (PublishInline); one with more frames behind it is queued, so
// that the frames behind it are not held up by its round trip.
func TestPublishInlineOnlyForLastBufferedFrame(t *testing.T) {
	n := fakeNode(t, nil, fakeRegistry{}, fakeStats{})
	b := &inlineBroker{fakeBroker: fakeBroker{n: n}}
	n.broker = b
	ws := dialInRoom(t, n)
	ackSend(t, ws, `{"type":"message","room":"r","data":1}`)
	if f := ackRead(t, ws); f.Type != protocol.TypeMessage {
		t.Fatalf("got %+v, want the message", f)
	}
	// Two frames in one write arrive in one read: the first has the second
	// behind it in the buffer.
	burst := append(textFrame(`{"type":"message","room":"r","data":2}`),
		textFrame(`{"type":"message","room":"r","data":3}`)...)
	if _, err := ws.NetConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if f := ackRead(t, ws); f.Type != protocol.TypeMessage {
			t.Fatalf("got %+v, want the message", f)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	want := []string{"inline 1", "async 2", "inline 3"}
	if !slices.Equal(b.how, want) {
		t.Fatalf("publishes %q, want %q", b.how, want)
	}
}
