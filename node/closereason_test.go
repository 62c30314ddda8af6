package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsnode/wsnode/envelope"
)

// readClose reads until the socket ends and returns the close error; it
// fails if the client got anything but a well-formed close frame (gorilla
// rejects invalid UTF-8 and over-long control frames, and reports a
// socket torn down without one as 1006).
func readClose(t *testing.T, ws *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code == websocket.CloseAbnormalClosure {
			t.Fatalf("want a valid close frame, got %v", err)
		}
		return ce
	}
}

// A close reason that arrives from another node (an envelope, not checked
// by Disconnect here) still reaches the client as a valid close frame.
func TestCloseFrameReasonIsAlwaysSendable(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	for _, tc := range []struct{ name, reason, want string }{
		{"invalid UTF-8", "\xff\xfe", ""},
		{"invalid UTF-8 inside", "bye\xff!", "bye!"},
		{"over-long", strings.Repeat("é", 100), strings.Repeat("é", 61)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, c := dialConn(t, n, url)
			n.handleEnvelope(envelope.Envelope{Kind: envelope.KindNode, Target: n.cfg.NodeID,
				Op: envelope.OpDisconnect, ConnID: c.id, Code: 4100, Reason: tc.reason})
			ce := readClose(t, ws)
			if ce.Code != 4100 || ce.Text != tc.want {
				t.Fatalf("close %d %q, want 4100 %q", ce.Code, ce.Text, tc.want)
			}
		})
	}
}

// Disconnect refuses a reason no close frame can carry, and the
// connection stays open; a valid one reaches the client unchanged.
func TestDisconnectChecksReason(t *testing.T) {
	n, url, _ := mustReaderNodeN(t)
	ws, c := dialConn(t, n, url)
	ctx := context.Background()
	for _, reason := range []string{"\xff\xfe", "ok\xc3", strings.Repeat("x", MaxCloseReason+1)} {
		if err := n.Disconnect(ctx, c.id, 4100, reason); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("Disconnect(reason %q) = %v, want ErrInvalidInput", reason, err)
		}
	}
	if c.closing() {
		t.Fatal("a refused Disconnect closed the connection")
	}
	reason := strings.Repeat("ü", MaxCloseReason/2)
	if err := n.Disconnect(ctx, c.id, 4100, reason); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, ws); ce.Code != 4100 || ce.Text != reason {
		t.Fatalf("close %d %q, want 4100 %q", ce.Code, ce.Text, reason)
	}
}
