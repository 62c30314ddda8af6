package node

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/counter"
)

// slowRegistry holds every registration until release is closed, like a
// Redis that is slow in a reconnect storm.
type slowRegistry struct {
	fakeRegistry
	entered chan struct{}
	release chan struct{}
}

func (r slowRegistry) Register(ctx context.Context, _ cluster.Conn) error {
	r.entered <- struct{}{}
	select {
	case <-r.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// With MaxPendingConnects in flight, the next upgrade gets 503 with
// Retry-After at once and is counted; once the pending connects are
// registered, connects are admitted again.
func TestAdmissionBoundsPendingConnects(t *testing.T) {
	reg := slowRegistry{entered: make(chan struct{}, 8), release: make(chan struct{})}
	st := &countingStats{}
	n := fakeNode(t, func(c *Config) { c.MaxPendingConnects, c.RedisTimeout = 2, time.Minute }, reg, st)
	url := mustServe(t, n)

	// The 101 response goes out with the welcome, after the registration:
	// these two dials wait in the node until release.
	held := make(chan *websocket.Conn, 2)
	for i := range 2 {
		go func() {
			ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				t.Errorf("connect %d: %v", i, err)
				held <- nil
				return
			}
			_ = resp.Body.Close()
			held <- ws
		}()
		<-reg.entered
	}
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("third connect: %v, %+v; want 503 with Retry-After: 1", err, resp)
	}
	if got := st.count(counter.CtrAdmissionRefused); got != 1 {
		t.Fatalf("admission_refused_total = %d, want 1", got)
	}

	close(reg.release)
	for range 2 {
		ws := <-held
		if ws == nil {
			t.FailNow()
		}
		_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
		var f struct{ Type string }
		if err := ws.ReadJSON(&f); err != nil || f.Type != "welcome" {
			t.Fatalf("held connect: %+v, %v; want its welcome", f, err)
		}
		_ = ws.Close()
	}
	waitUntil(t, func() bool { return n.admission.pending.Load() == 0 })
	ws := mustDial(t, url)
	_ = ws.Close()
}
