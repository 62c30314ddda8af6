package client

import (
	"fmt"
	"time"
)

// State is the connection state of a Client.
type State int

const (
	// StateIdle: created, Start (or Dial) not called yet.
	StateIdle State = iota
	// StateConnecting: dialling, or waiting for welcome and authenticated.
	StateConnecting
	// StateConnected: authenticated (or welcomed, as a guest); the wanted
	// rooms have been asked to rejoin.
	StateConnected
	// StateDisconnected: the socket ended; a reconnect follows after Delay.
	StateDisconnected
	// StateStopped: for good, after Close or a close code that means "do
	// not reconnect" (Err says which).
	StateStopped
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateEvent is one state change, passed to Config.OnState.
type StateEvent struct {
	State State
	// Code and Reason of the close that ended the socket (Disconnected,
	// Stopped); 1006 when it ended without a close frame, when it was
	// found dead, or when the dial failed (Err then says why).
	Code   int
	Reason string
	Err    error
	// Delay before the next attempt (Disconnected).
	Delay time.Duration
	// Session describes the connection (Connected).
	Session Session
}

// Session describes one authenticated connection, from its welcome and
// authenticated frames.
type Session struct {
	ConnID   string
	NodeID   string
	User     string // empty for a guest
	ConnType string
	// PingInterval is the node's application ping interval.
	PingInterval time.Duration
}
