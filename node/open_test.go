package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/protocol"
)

// downRegistry fails every registration, like a Redis that is unreachable.
type downRegistry struct{ fakeRegistry }

func (downRegistry) Register(context.Context, cluster.Conn) error {
	return errors.New("redis: connection refused")
}

// A socket whose registration fails is closed with 4003 and leaves nothing
// behind: its per-IP slot is free again, Shutdown does not wait for it, and
// an unregister is queued in case Redis ran the script and only the reply
// was lost.
func TestRegisterFailureClosesAndReleases(t *testing.T) {
	n := fakeNode(t, func(c *Config) { c.MaxConnsPerIP = 1 }, downRegistry{}, fakeStats{})
	url := mustServe(t, n)

	// With one socket allowed per IP, a slot that is not given back makes the
	// next upgrade fail with 429.
	const attempts = 3
	for i := range attempts {
		ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("attempt %d: dial: %v (HTTP %d)", i, err, status)
		}
		_ = resp.Body.Close()
		_ = ws.SetReadDeadline(time.Now().Add(readerTestTimeout))
		_, _, err = ws.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != protocol.CloseNodeUnavailable {
			t.Fatalf("attempt %d: read %v, want close %d", i, err, protocol.CloseNodeUnavailable)
		}
		_ = ws.Close()
		waitUntil(t, func() bool {
			n.idx.mu.Lock()
			defer n.idx.mu.Unlock()
			return n.idx.perIP["127.0.0.1"] == 0
		})
	}
	if conns, _, _, _ := n.idx.counts(); conns != 0 {
		t.Fatalf("%d sockets indexed after failed registrations", conns)
	}
	n.repairMu.Lock()
	queued := len(n.repairs)
	n.repairMu.Unlock()
	if queued != attempts {
		t.Fatalf("%d unregisters queued, want %d", queued, attempts)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown after failed registrations: %v", err)
	}
}
