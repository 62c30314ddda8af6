package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// Handshake stages, used as failure categories.
const (
	stageDial    = "dial"
	stageWelcome = "welcome"
	stageAuth    = "auth"
	stageJoin    = "join"
)

// stageError is a failed connection attempt and the stage it failed in.
type stageError struct {
	Stage string
	Err   error
}

func (e *stageError) Error() string { return e.Stage + ": " + e.Err.Error() }

// openSession dials slot s and walks it through welcome, auth and join
// (when the slot has a room). On success the read deadline is cleared.
func openSession(ctx context.Context, p *dialPool, cfg *Config, s Slot, auth []byte) (*websocket.Conn, error) {
	ws, err := p.dial(ctx, cfg.URLs[s.Node], s.Index)
	if err != nil {
		return nil, &stageError{stageDial, err}
	}
	if err := handshake(ws, cfg, s, auth); err != nil {
		ws.Close()
		return nil, err
	}
	ws.SetReadDeadline(time.Time{})
	return ws, nil
}

func handshake(ws *websocket.Conn, cfg *Config, s Slot, auth []byte) error {
	if err := expect(ws, cfg.Timeout, "welcome"); err != nil {
		return &stageError{stageWelcome, err}
	}
	if err := send(ws, cfg.Timeout, auth); err != nil {
		return &stageError{stageAuth, err}
	}
	if err := expect(ws, cfg.Timeout, "authenticated"); err != nil {
		return &stageError{stageAuth, err}
	}
	if s.Room == "" {
		return nil
	}
	if err := send(ws, cfg.Timeout, []byte(`{"type":"join","room":"`+s.Room+`"}`)); err != nil {
		return &stageError{stageJoin, err}
	}
	if err := expect(ws, cfg.Timeout, "joined"); err != nil {
		return &stageError{stageJoin, err}
	}
	return nil
}

func send(ws *websocket.Conn, timeout time.Duration, frame []byte) error {
	ws.SetWriteDeadline(time.Now().Add(timeout))
	defer ws.SetWriteDeadline(time.Time{})
	return ws.WriteMessage(websocket.TextMessage, frame)
}

// expect reads frames until one of type want arrives, skipping pings and
// anything else that is not an error frame.
func expect(ws *websocket.Conn, timeout time.Duration, want string) error {
	ws.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		t := FrameType(frame)
		switch {
		case string(t) == want:
			return nil
		case bytes.Equal(t, []byte("error")):
			return fmt.Errorf("server error frame while waiting for %s: %s", want, truncate(frame, 200))
		}
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
