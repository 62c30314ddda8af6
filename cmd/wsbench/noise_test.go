package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestMaskedFrameIsReadByGorilla: the noisy clients' pre-built frames, of
// every length encoding, are well-formed client frames a gorilla server
// reads back as written (so the noise is the malformed content, not a
// broken framing that would end the socket at once).
func TestMaskedFrameIsReadByGorilla(t *testing.T) {
	type msg struct {
		op   int
		data []byte
	}
	got := make(chan msg, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			op, data, err := ws.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			got <- msg{op, data}
		}
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []msg{
		{websocket.TextMessage, []byte(`{"type":"ping"}`)},
		{websocket.BinaryMessage, bytes.Repeat([]byte{7}, 300)},
		{websocket.TextMessage, bytes.Repeat([]byte("x"), 70000)},
	}
	for _, m := range want {
		if _, err := ws.NetConn().Write(maskedFrame(m.op, m.data)); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range want {
		select {
		case g, ok := <-got:
			if !ok {
				t.Fatalf("frame %d: the server's read failed", i)
			}
			if g.op != m.op || !bytes.Equal(g.data, m.data) {
				t.Fatalf("frame %d: got type %d, %d bytes; want type %d, %d bytes", i, g.op, len(g.data), m.op, len(m.data))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("frame %d not read within 5s", i)
		}
	}
	_ = ws.Close()
	for range got {
	}
}
